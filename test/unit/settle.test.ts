import { mkdtempSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ChainRecordStore } from '../../src/backup/snapshot/chain-record.js';
import type { SnapshotRecord } from '../../src/backup/snapshot/journal-record.js';
import { settleBackup } from '../../src/backup/snapshot/settle.js';
import type { HypervisorDomain } from '../../src/libvirt/hypervisor.js';
import { FileRepository } from '../../src/repo/file-repository.js';

const UUID = '0b5c3f5e-0000-4000-8000-000000000003';
const PREV = '20261124T000000000Z-aaaaaa';
const NEW = '20261124T010000000Z-bbbbbb';
const log = pino({ level: 'silent' });

/** A domain whose one disk is a chain of files, changed by commits as libvirt would. */
function chainDomain(layers: string[]) {
  const calls: string[] = [];
  const domain = {
    name: 'vm',
    uuid: UUID,
    async xml() {
      const [top, ...rest] = layers;
      const backing = rest.reduceRight((inner, file) => `<backingStore type='file'><format type='qcow2'/><source file='${file}'/>${inner}</backingStore>`, '<backingStore/>');
      return `<domain><devices><disk type='file' device='disk'><driver type='qcow2'/><source file='${top}'/>${backing}<target dev='vda'/></disk></devices></domain>`;
    },
    async runState() {
      return 'running';
    },
    async thawFilesystems() {
      calls.push('thaw');
      return 0;
    },
    async blockJob() {
      return null;
    },
    async commitActive() {
      calls.push(`commitActive ${layers[0]}`);
      layers.shift();
    },
    async commitIntermediate(_disk: string, base: string, top: string) {
      calls.push(`commit ${top} into ${base}`);
      layers.splice(layers.indexOf(top), 1);
    },
  } as unknown as HypervisorDomain;
  return { domain, calls, layers };
}

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'vdr-settle-'));
  const images = join(root, 'images');
  mkdirSync(images);
  const base = join(images, 'vm.qcow2');
  const older = join(images, `vm.virtdr-${PREV}.qcow2`);
  const newer = join(images, `vm.virtdr-${NEW}.qcow2`);
  for (const f of [base, older, newer]) writeFileSync(f, 'x');
  const repo = new FileRepository(join(root, 'repo'), 'test-host');
  const chains = new ChainRecordStore(join(root, 'chains'));
  const checkpoint: SnapshotRecord = {
    engine: 'snapshot',
    phase: 'copying',
    domain_uuid: UUID,
    backup_id: NEW,
    stopped_by: 'agent',
    freeze_requested: true,
    disks: [{ target: 'vda', frozen: older, overlay: newer, commit: { top: older, base } }],
  };
  return { repo, chains, checkpoint, base, older, newer };
}

/** A valid manifest for point NEW, so the repository counts it as published. */
function publishedManifest() {
  return {
    manifest_version: 1,
    backup_id: NEW,
    domain: 'vm',
    domain_uuid: UUID,
    mode: 'incremental',
    kind: 'manual',
    tier: 'manual',
    parent: PREV,
    created_at: '2026-11-24T01:00:00.000Z',
    quiesce: 'agent',
    freeze_ms: 1,
    bytes: 1,
    disks: [{ target: 'vda', file: 'vda.qcow2', format: 'qcow2', virtual_size: 1, size: 1, sha256: 'x' }],
    domain_xml: '<domain/>',
  };
}

/** Point NEW as a backup publishes it: its disk file, and its manifest. */
function publishPoint(repo: FileRepository): void {
  mkdirSync(repo.pointDir(UUID, NEW), { recursive: true });
  writeFileSync(join(repo.pointDir(UUID, NEW), 'vda.qcow2'), 'x');
  writeFileSync(join(repo.pointDir(UUID, NEW), 'manifest.json'), JSON.stringify(publishedManifest()));
}

describe('settleBackup', () => {
  it('undoes the snapshot when the point was never published: the chain is what the last backup left', async () => {
    const { repo, chains, checkpoint, base, older, newer } = setup();
    await repo.beginPoint(UUID, NEW);
    const { domain, calls, layers } = chainDomain([newer, older, base]);
    const { pointPublished } = await settleBackup(checkpoint, { domain, repo, chains, log, signal: AbortSignal.timeout(5000) });
    expect(pointPublished).toBe(false);
    expect(calls).toEqual(['thaw', `commitActive ${newer}`]);
    expect(layers).toEqual([older, base]);
    expect(existsSync(newer)).toBe(false);
    expect(existsSync(older)).toBe(true);
    expect(existsSync(repo.partialDir(UUID, NEW))).toBe(false);
    expect(await chains.load(UUID)).toBeNull();
  });

  it('finishes a published point: merges the frozen overlay, deletes it and records the new chain', async () => {
    const { repo, chains, checkpoint, base, older, newer } = setup();
    publishPoint(repo);
    const { domain, calls, layers } = chainDomain([newer, older, base]);
    const { pointPublished } = await settleBackup(checkpoint, { domain, repo, chains, log, signal: AbortSignal.timeout(5000) });
    expect(pointPublished).toBe(true);
    expect(calls).toEqual(['thaw', `commit ${older} into ${base}`]);
    expect(layers).toEqual([newer, base]);
    expect(existsSync(older)).toBe(false);
    expect(await chains.load(UUID)).toEqual({ domain_uuid: UUID, last_backup_id: NEW, disks: { vda: { overlay: newer, base } } });
  });

  it("keeps the record of a disk this backup left out, so its overlay is still known as the agent's", async () => {
    const { repo, chains, checkpoint, base, older, newer } = setup();
    const vdb = { overlay: '/images/data.virtdr-20261123T000000000Z-cccccc.qcow2', base: '/images/data.qcow2' };
    await chains.save({ domain_uuid: UUID, last_backup_id: PREV, disks: { vda: { overlay: older, base }, vdb } });
    publishPoint(repo);
    const { domain } = chainDomain([newer, older, base]);
    await settleBackup(checkpoint, { domain, repo, chains, log, signal: AbortSignal.timeout(5000) });
    expect((await chains.load(UUID))?.disks).toEqual({ vda: { overlay: newer, base }, vdb });
  });

  it('is idempotent: settling again after a finished settle changes nothing', async () => {
    const { repo, chains, checkpoint, older, base } = setup();
    await repo.beginPoint(UUID, NEW);
    const { domain, calls } = chainDomain([older, base]);
    await settleBackup(checkpoint, { domain, repo, chains, log, signal: AbortSignal.timeout(5000) });
    expect(calls).toEqual(['thaw']);
    expect(existsSync(older)).toBe(true);
  });

  it('never deletes a file the agent did not name, nor one still in the chain', async () => {
    const { repo, chains, checkpoint, base, newer, older } = setup();
    const foreign = join(base, '..', 'operator-snapshot.qcow2');
    writeFileSync(foreign, 'x');
    const cp = { ...checkpoint, disks: [{ target: 'vda', frozen: base, overlay: foreign, commit: null }] };
    const { domain } = chainDomain([base]);
    await settleBackup(cp, { domain, repo, chains, log, signal: AbortSignal.timeout(5000) });
    expect(existsSync(foreign)).toBe(true);

    // An operator snapshotted on top of the new overlay before the repair: it stays.
    const operatorTop = join(base, '..', 'operator-top.qcow2');
    const busy = chainDomain([operatorTop, newer, older, base]);
    await settleBackup(checkpoint, { domain: busy.domain, repo, chains, log, signal: AbortSignal.timeout(5000) });
    expect(busy.calls).toEqual(['thaw']);
    expect(existsSync(newer)).toBe(true);
  });
});
