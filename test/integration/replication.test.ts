/**
 * Replication between REAL repository targets: a primary folder, a secondary on a small
 * tmpfs and one on the machine's disk (so their free space differs for real), chains of
 * real qcow2 files made with qemu-img and qemu-io. No libvirt, no bus: the Replicator
 * itself, with its records in a real state folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRepository } from '../../src/repo/file-repository.js';
import type { Manifest } from '../../src/repo/point.js';
import { parseReplicaRecord } from '../../src/replication/replica-record.js';
import { Replicator, type ReplicationEvent, type Secondary } from '../../src/replication/replicator.js';
import { DomainRecordStore } from '../../src/util/domain-records.js';
import { KeyedLock } from '../../src/util/keyed-lock.js';
import { buildRepoChain, flattenedSha256 } from '../support/repo-chain.js';

const WORK = '/var/lib/virt-dr-test/replication';
const SMALL = join(WORK, 'small-fs');
const HOST = 'replication-test';

interface Heard {
  stage: 'start' | 'end' | 'error';
  event: ReplicationEvent;
}

let domainCount = 0;
const nextDomain = () => `4e910000-0000-4000-8000-${String(++domainCount).padStart(12, '0')}`;

function replicatorFor(primary: FileRepository, secondaries: Secondary[], state: string) {
  const heard: Heard[] = [];
  const replicator = new Replicator({
    targets: [primary, ...secondaries.map((s) => s.target)],
    // Every secondary receives every point: the plan's copies cover them all.
    copyPlanOf: async () => ({
      sources: [primary],
      plan: { primary: primary.name, secondaries: secondaries.map((s) => ({ target: s.target.name, delay_s: s.delayMs / 1000 })), copies: 1 + secondaries.length },
    }),
    records: new DomainRecordStore(join(state, 'replication'), parseReplicaRecord),
    locks: new KeyedLock(),
    concurrency: 2,
    report: (stage, event) => heard.push({ stage, event }),
    log: pino({ level: 'silent' }),
  });
  return { replicator, heard };
}

/** Resolves once `predicate` holds of what was heard; fails after `ms`. */
async function until(heard: Heard[], predicate: (heard: Heard[]) => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate(heard)) {
    if (Date.now() > deadline) throw new Error(`not heard in time; heard: ${JSON.stringify(heard.map((h) => [h.stage, h.event.target, h.event.backup_ids]))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('replication to secondary targets', () => {
  let primary: FileRepository;
  let small: FileRepository;
  let large: FileRepository;

  beforeAll(async () => {
    // An earlier run killed before its cleanup may have left the mount.
    try {
      execFileSync('umount', [SMALL], { stdio: 'ignore' });
    } catch {
      // Not mounted.
    }
    await rm(WORK, { recursive: true, force: true });
    await mkdir(SMALL, { recursive: true });
    // A real file system with little free space: the other secondary has far more.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0700', 'tmpfs', SMALL]);
    primary = new FileRepository(join(WORK, 'primary'), HOST, { name: 'local' });
    small = new FileRepository(join(SMALL, 'repo'), HOST, { name: 'small' });
    large = new FileRepository(join(WORK, 'large'), HOST, { name: 'large' });
  });

  afterAll(async () => {
    execFileSync('umount', [SMALL]);
    await rm(WORK, { recursive: true, force: true });
  });

  it('copies each point to both secondaries, the one with more free space first, sending incrementals as increments', async () => {
    const domainUuid = nextDomain();
    const chain = await buildRepoChain(primary, { domainUuid, points: 3, virtualSize: 64 << 20 });
    const { replicator, heard } = replicatorFor(primary, [{ target: small, delayMs: 0 }, { target: large, delayMs: 0 }], join(WORK, 'state-1'));
    replicator.notePublished(domainUuid);
    await until(heard, (h) => h.filter((e) => e.stage === 'end').length === 2);
    await replicator.stop();

    const starts = heard.filter((h) => h.stage === 'start').map((h) => h.event.target);
    expect(starts).toEqual(['large', 'small']);
    const ends = heard.filter((h) => h.stage === 'end');
    for (const { event } of ends) {
      expect(event.backup_ids).toEqual(chain.map((m) => m.backup_id));
      // Each point's own files only: the increments, not three fulls.
      expect(event.bytes).toBe(chain.reduce((sum, m) => sum + m.bytes, 0));
      expect(event.rpo_s).toBeGreaterThanOrEqual(0);
    }
    for (const target of [small, large]) {
      expect(await target.listPoints(domainUuid)).toEqual(chain);
      expect(await flattenedSha256(target, domainUuid, chain[2]!.backup_id)).toEqual(await flattenedSha256(primary, domainUuid, chain[2]!.backup_id));
    }
    const copies = await replicator.copiesOf(domainUuid, chain.map((m) => m.backup_id));
    expect(copies.get(chain[0]!.backup_id)).toEqual(['small', 'large']);
  });

  it('sends a new point only, onto the parent already on the secondary', async () => {
    const domainUuid = nextDomain();
    // Built elsewhere, published on the primary one by one as backups would.
    const scratch = new FileRepository(join(WORK, 'scratch'), HOST);
    const chain = await buildRepoChain(scratch, { domainUuid, points: 3 });
    const publish = (point: Manifest) => primary.publishPoint(point, scratch.pointDir(domainUuid, point.backup_id));
    await publish(chain[0]!);
    await publish(chain[1]!);
    const { replicator, heard } = replicatorFor(primary, [{ target: large, delayMs: 0 }], join(WORK, 'state-2'));
    await replicator.start();
    await until(heard, (h) => h.some((e) => e.stage === 'end' && e.event.domain_uuid === domainUuid));
    const next = chain[2]!;
    await publish(next);
    replicator.notePublished(domainUuid);
    await until(heard, (h) => h.filter((e) => e.stage === 'end' && e.event.domain_uuid === domainUuid).length === 2);
    await replicator.stop();
    const second = heard.filter((e) => e.stage === 'end' && e.event.domain_uuid === domainUuid)[1]!.event;
    expect(second.backup_ids).toEqual([next.backup_id]);
    expect(second.bytes).toBe(next.bytes);
    expect(await flattenedSha256(large, domainUuid, next.backup_id)).toEqual(await flattenedSha256(primary, domainUuid, next.backup_id));
  });

  it('retries a secondary that fails, with a growing pause, without holding up the other', async () => {
    const domainUuid = nextDomain();
    await buildRepoChain(primary, { domainUuid, points: 1 });
    // A target whose root is under a regular file: every write fails with ENOTDIR.
    await writeFile(join(WORK, 'not-a-folder'), 'x');
    const broken = new FileRepository(join(WORK, 'not-a-folder', 'repo'), HOST, { name: 'broken' });
    const { replicator, heard } = replicatorFor(primary, [{ target: broken, delayMs: 0 }, { target: large, delayMs: 0 }], join(WORK, 'state-3'));
    replicator.notePublished(domainUuid);
    await until(heard, (h) => h.some((e) => e.stage === 'end' && e.event.target === 'large' && e.event.domain_uuid === domainUuid));
    await until(heard, (h) => h.some((e) => e.stage === 'error'));
    await replicator.stop();
    const error = heard.find((e) => e.stage === 'error')!.event;
    expect(error).toMatchObject({ target: 'broken', failures: 1, retry_in_s: 10 });
    expect(error.error?.message).toMatch(/ENOTDIR|not a directory/);
    expect(await large.hasPoint(domainUuid, (await primary.latestPoint(domainUuid))!.backup_id)).toBe(true);
  });

  it('waits for a secondary\'s delay, and measures the RPO on what the secondary holds', async () => {
    const domainUuid = nextDomain();
    const [point] = await buildRepoChain(primary, { domainUuid, points: 1 });
    const { replicator, heard } = replicatorFor(primary, [{ target: large, delayMs: 1500 }], join(WORK, 'state-4'));
    expect(await replicator.rpoSeconds(domainUuid)).toBeNull();
    const published = Date.now();
    replicator.notePublished(domainUuid);
    await until(heard, (h) => h.some((e) => e.stage === 'end'));
    expect(Date.now() - published).toBeGreaterThanOrEqual(1500);
    await replicator.stop();
    const rpo = await replicator.rpoSeconds(domainUuid, Date.parse(point!.created_at) + 42_000);
    expect(rpo).toBe(42);
  });
});
