import { describe, expect, it } from 'vitest';
import { checkpointNameOf, planCheckpointBackup } from '../../src/backup/checkpoint/plan.js';
import { backupXml, checkpointXml, redefinableXml } from '../../src/backup/checkpoint/xml.js';
import type { BackupDisk } from '../../src/backup/select-disks.js';
import { ChainMismatch } from '../../src/errors.js';
import type { Manifest } from '../../src/repo/point.js';

const PARENT = '20261129T010000000Z-aaaaaa';
const NEW = '20261129T020000000Z-bbbbbb';
const vda: BackupDisk = { target: 'vda', file: '/nova/instances/u/disk', format: 'qcow2', backing: [] };
const vdb: BackupDisk = { target: 'vdb', file: '/nova/instances/u/disk.config', format: 'raw', backing: [] };

function pointWith(overrides: Partial<Manifest> = {}): Manifest {
  return {
    manifest_version: 1,
    backup_id: PARENT,
    domain: 'vm',
    domain_uuid: '0b5c3f5e-0000-4000-8000-000000000001',
    mode: 'full',
    kind: 'manual',
    tier: 'manual',
    engine: 'checkpoint',
    reason: 'the domain has no backup yet',
    parent: null,
    created_at: '2026-11-29T01:00:00.000Z',
    host: 'h',
    quiesce: 'agent',
    freeze_ms: 50,
    bytes: 1,
    disks: [
      { target: 'vda', file: 'vda.qcow2', format: 'qcow2', virtual_size: 1, size: 1, sha256: 'x' },
      { target: 'vdb', file: 'vdb.qcow2', format: 'qcow2', virtual_size: 1, size: 1, sha256: 'y' },
    ],
    domain_xml: '<domain/>',
    checkpoint: { name: checkpointNameOf(PARENT), xml: '<domaincheckpoint/>' },
    host_disks: [
      { target: 'vda', file: vda.file, format: 'qcow2', bitmap: checkpointNameOf(PARENT) },
      { target: 'vdb', file: vdb.file, format: 'raw', bitmap: null },
    ],
    ...overrides,
  };
}

const plan = (latest: Manifest | null, extra: Partial<Parameters<typeof planCheckpointBackup>[0]> = {}) =>
  planCheckpointBackup({ backupId: NEW, requested: 'auto', disks: [vda, vdb], latest, ...extra });

describe('planCheckpointBackup', () => {
  it('builds on the newest point: qcow2 disks incremental, raw disks always full', () => {
    const p = plan(pointWith());
    expect(p).toMatchObject({ mode: 'incremental', reason: null, checkpointName: `virtdr-${NEW}` });
    expect(p.parent).toMatchObject({ backupId: PARENT, checkpointName: `virtdr-${PARENT}` });
    expect(p.disks.map((d) => [d.target, d.tracked, d.incremental, d.pointFile])).toEqual([
      ['vda', true, true, 'vda.qcow2'],
      ['vdb', false, false, 'vdb.qcow2'],
    ]);
  });

  it('takes a full, saying why, when the chain cannot go on', () => {
    expect(plan(null).reason).toBe('the domain has no backup yet');
    expect(plan(pointWith({ engine: 'snapshot', checkpoint: null })).reason).toMatch(/has no checkpoint \(taken by the snapshot engine\)/);
    const moved = pointWith({ host_disks: [{ target: 'vda', file: '/elsewhere/disk', format: 'qcow2', bitmap: `virtdr-${PARENT}` }] });
    expect(plan(moved).reason).toMatch(/vda is now \/nova\/instances\/u\/disk \(qcow2\), the newest point's was \/elsewhere\/disk/);
    expect(plan(pointWith(), { disks: [vda] }).reason).toMatch(/differ from the newest point's/);
    expect(plan(pointWith(), { parentUnusable: 'bitmap inconsistent' }).reason).toMatch(/did not validate: bitmap inconsistent/);
    expect(plan(pointWith(), { requested: 'full' }).reason).toBe('full backup requested');
    for (const p of [plan(null), plan(pointWith(), { requested: 'full' })]) {
      expect(p.mode).toBe('full');
      expect(p.parent).toBeNull();
      expect(p.disks.every((d) => !d.incremental)).toBe(true);
    }
  });

  it('a manual point is a standalone full: no checkpoint of its own, no bitmap on any disk', () => {
    const p = plan(pointWith(), { standalone: true });
    expect(p).toMatchObject({ mode: 'full', parent: null, checkpointName: null, reason: 'a manual backup is a self-contained full' });
    expect(p.disks.every((d) => !d.tracked && !d.incremental)).toBe(true);
  });

  it('starts the chain anew when told why (its length), unless an incremental is asked for explicitly', () => {
    expect(plan(pointWith(), { fullBecause: 'chain_length 3 reached' })).toMatchObject({ mode: 'full', parent: null, reason: 'chain_length 3 reached', checkpointName: `virtdr-${NEW}` });
    expect(plan(pointWith(), { fullBecause: 'chain_length 3 reached', requested: 'incremental' })).toMatchObject({ mode: 'incremental', reason: null });
  });

  it('a domain of raw disks only gets a checkpoint-less full', () => {
    const p = planCheckpointBackup({ backupId: NEW, requested: 'auto', disks: [vdb], latest: null });
    expect(p).toMatchObject({ mode: 'full', checkpointName: null, reason: 'no disk can carry a dirty bitmap (none is qcow2)' });
  });

  it('refuses mode=incremental when the chain cannot go on', () => {
    expect(() => plan(null, { requested: 'incremental' })).toThrow(ChainMismatch);
  });
});

describe('backup and checkpoint XML', () => {
  it('names every disk: incremental from the parent, full, or left out', () => {
    const xml = backupXml(plan(pointWith()), '/repo/u/.partial-h-x', ['hdc']);
    expect(xml).toContain(`<disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='virtdr-${PARENT}'>`);
    expect(xml).toContain(`<disk name='vdb' backup='yes' type='file' backupmode='full'>`);
    expect(xml).toContain(`<target file='/repo/u/.partial-h-x/vda.qcow2'/>`);
    expect(xml).toContain(`<disk name='hdc' backup='no'/>`);
  });

  it('gives a bitmap to each qcow2 disk and none to the others', () => {
    const p = plan(pointWith());
    const xml = checkpointXml(p.checkpointName!, NEW, p.disks, ['hdc']);
    expect(xml).toContain(`<disk name='vda' checkpoint='bitmap' bitmap='virtdr-${NEW}'/>`);
    expect(xml).toContain(`<disk name='vdb' checkpoint='no'/>`);
    expect(xml).toContain(`<disk name='hdc' checkpoint='no'/>`);
  });

  it('keeps a checkpoint redefinable without its parent', () => {
    const dumped = `<domaincheckpoint>\n  <name>virtdr-b</name>\n  <parent>\n    <name>virtdr-a</name>\n  </parent>\n  <creationTime>1</creationTime>\n</domaincheckpoint>`;
    expect(redefinableXml(dumped)).toBe(`<domaincheckpoint>\n  <name>virtdr-b</name>\n  <creationTime>1</creationTime>\n</domaincheckpoint>`);
  });
});
