import { describe, expect, it } from 'vitest';
import type { Notification } from '../../src/bus/rpc-client.js';
import type { JobView, PointView } from '../../test/support/backup-api.js';
import { HAND_MERGE, handMergePlan, handRebaseArgv, type ChainPoint } from '../../bench/hand-merge.js';
import { PRUNE_SECTION, pruneReport, type PruneRun } from '../../bench/prune-report.js';
import { endsPruneOf, pruneSample, type PruneJobView, type PruneResultView } from '../../bench/prune-samples.js';
import { MiB } from '../../bench/stats.js';

const DOMAIN = '5e1f0c3a-7b2d-4e6f-9a8b-0c1d2e3f4a5b';
const point = (id: string, parent: string | null): ChainPoint => ({ backup_id: id, parent, disks: [{ target: 'vda', file: 'vda.qcow2' }] });

const mergeOf = (prunedId: string, durationMs: number, bytes = 40 * MiB) => ({
  action: 'prune',
  backup_ids: [prunedId],
  from_tier: 'fast',
  reason: 'over max_count 2',
  bytes,
  duration_ms: durationMs,
});
const pruneJob = (verified: string, result: Partial<PruneResultView> = {}): PruneJobView => ({
  job_id: 'j-prune',
  domain_uuid: DOMAIN,
  created_at: '2026-11-29T10:00:10.000Z',
  started_at: '2026-11-29T10:00:10.500Z',
  finished_at: '2026-11-29T10:00:14.500Z',
  result: { verified, actions: [mergeOf('p1', 3000)], skipped: [], warnings: [], duration_ms: 4000, ...result },
});
const backupOf = (id: string): JobView => ({
  job_id: 'j-backup',
  state: 'succeeded',
  result: { backup_id: id } as PointView,
  error: null,
  started_at: '2026-11-29T10:00:08.000Z',
  finished_at: '2026-11-29T10:00:10.000Z',
});
const notification = (eventType: string, payload: Record<string, unknown>): Notification => ({
  event_type: eventType,
  priority: eventType.endsWith('.error') ? 'ERROR' : 'INFO',
  payload,
  publisher_id: 'virt-dr.test-bench',
  timestamp: '2026-11-29 10:00:14.500000',
});

describe('pairing a prune job with the backup it followed', () => {
  it("is the domain's virt_dr.prune.end whose result verified that point", () => {
    const end = notification('virt_dr.prune.end', { ...pruneJob('p3') });
    expect(endsPruneOf(end, DOMAIN, 'p3')).toBe(true);
    expect(endsPruneOf(end, DOMAIN, 'p2')).toBe(false);
    expect(endsPruneOf(end, '00000000-0000-4000-8000-000000000000', 'p3')).toBe(false);
    expect(endsPruneOf(notification('virt_dr.prune.start', { ...pruneJob('p3'), result: null }), DOMAIN, 'p3')).toBe(false);
    expect(endsPruneOf(notification('virt_dr.backup.end', { domain_uuid: DOMAIN, result: { verified: 'p3' } }), DOMAIN, 'p3')).toBe(false);
  });

  it("throws on a prune error of the domain, with its error, and ignores another domain's", () => {
    const error = notification('virt_dr.prune.error', { domain_uuid: DOMAIN, state: 'failed', result: null, error: { class: 'VerificationFailed', message: 'backup p3 is corrupt' } });
    expect(() => endsPruneOf(error, DOMAIN, 'p3')).toThrow('the prune after backup p3 ended failed: VerificationFailed: backup p3 is corrupt');
    expect(endsPruneOf({ ...error, payload: { ...error.payload, domain_uuid: 'other' } }, DOMAIN, 'p3')).toBe(false);
  });

  it('measures the jobs, the wait between them, the merge and the rest of the prune', () => {
    expect(pruneSample(backupOf('p3'), pruneJob('p3'), 'p1')).toEqual({
      backupId: 'p3',
      prunedId: 'p1',
      backupS: 2,
      pruneS: 4,
      waitS: 0.5,
      mergeS: 3,
      verifyS: 1,
      mergedBytes: 40 * MiB,
    });
  });

  it('refuses a prune that did anything but merge the expected point, or verified another', () => {
    expect(() => pruneSample(backupOf('p3'), pruneJob('p2'), 'p1')).toThrow('verified p2, not p3');
    expect(() => pruneSample(backupOf('p3'), pruneJob('p3'), 'p2')).toThrow('did prune p1; expected one prune of p2');
    expect(() => pruneSample(backupOf('p3'), pruneJob('p3', { actions: [] }), 'p1')).toThrow('did nothing; expected one prune of p1');
    expect(() => pruneSample(backupOf('p3'), pruneJob('p3', { actions: [mergeOf('p1', 1), { ...mergeOf('p2', 1), action: 'drop' }] }), 'p1')).toThrow(
      'did prune p1, drop p2; expected one prune of p1',
    );
  });
});

describe('the hand-run merge of a pruned point into its child', () => {
  it('rebases the child of a full onto nothing, reading the two points copied aside', () => {
    expect(handMergePlan([point('p1', null), point('p2', 'p1')], 'p1')).toEqual({
      aside: ['p2/vda.qcow2', 'p1/vda.qcow2'],
      disks: [{ child: 'p2/vda.qcow2', copy: 'p2/vda.qcow2.hand-merge', backing: '' }],
    });
  });

  it("rebases the child of an incremental onto the pruned point's parent, as a point names it, reading the chain below", () => {
    const points = [point('p1', null), point('p2', 'p1'), point('p3', 'p2'), point('p4', 'p3')];
    expect(handMergePlan(points, 'p2')).toEqual({
      aside: ['p3/vda.qcow2', 'p2/vda.qcow2', 'p1/vda.qcow2'],
      disks: [{ child: 'p3/vda.qcow2', copy: 'p3/vda.qcow2.hand-merge', backing: '../p1/vda.qcow2' }],
    });
  });

  it('refuses what a single merge cannot do', () => {
    expect(() => handMergePlan([point('p1', null)], 'p0')).toThrow('no point p0');
    expect(() => handMergePlan([point('p1', null)], 'p1')).toThrow('p1 has 0 children');
    expect(() => handMergePlan([point('p1', null), point('p2', 'p1'), point('p3', 'p1')], 'p1')).toThrow('p1 has 2 children');
    expect(() => handMergePlan([point('p2', 'p1'), point('p3', 'p2')], 'p2')).toThrow('the chain below p2 misses p1');
    expect(() => handMergePlan([point('p0', 'p1'), point('p1', 'p0'), point('p2', 'p1'), point('p3', 'p2')], 'p2')).toThrow('loops at p1');
    const noDisk = { ...point('p1', null), disks: [{ target: 'vdb', file: 'vdb.qcow2' }] };
    expect(() => handMergePlan([noDisk, point('p2', 'p1'), point('p3', 'p2')], 'p2')).toThrow('p1 has no disk vda');
  });

  it('runs qemu-img rebase in safe mode with both formats named', () => {
    expect(handRebaseArgv('/x/p2/vda.qcow2.hand-merge', '')).toEqual(['qemu-img', 'rebase', '-f', 'qcow2', '-F', 'qcow2', '-b', '', '/x/p2/vda.qcow2.hand-merge']);
  });
});

describe("the prune suite's figures", () => {
  const run = (pruneS: number, backupS: number, mergeS: number, handMergeS: number): PruneRun => ({
    sample: { backupId: 'b', prunedId: 'p', backupS, pruneS, waitS: 0.01, mergeS, verifyS: pruneS - mergeS, mergedBytes: 1024 * MiB },
    handMergeS,
    sha256sumS: 0.5,
    opensslS: 0.25,
    newPointBytes: 21 * MiB,
  });
  const result = pruneReport({ size: '2 GiB', writePercent: 1, maxCount: 2 }, [run(12, 3, 10, 4), run(10, 4, 8, 5), run(14, 2, 12, 4)]);

  it('holds the prune against the backup it followed, the merge against the hand-run merge, the verification against sha256sum and openssl', () => {
    expect(result.figures.map((f) => [f.section, f.value, f.baseline.value, f.unit, f.better])).toEqual([
      [PRUNE_SECTION, 12, 3, 's', 'lower'],
      [PRUNE_SECTION, 10, 4, 's', 'lower'],
      [PRUNE_SECTION, 2, 0.5, 's', 'lower'],
      [PRUNE_SECTION, 2, 0.25, 's', 'lower'],
    ]);
    expect(result.figures[1]!.baseline.name).toBe(HAND_MERGE);
    expect(result.figures[0]!.name).toBe('2 GiB disk, the guest writing 1 % before each incremental: the prune job after a scheduled backup, median of 3');
  });

  it("names each pair's ratio and their median, and the absolute seconds", () => {
    expect(result.figures[0]!.note).toContain('prune ÷ backup per pair: 4, 2.5, 7 (median 4)');
    expect(result.figures[0]!.note).toContain('prune seconds: 12, 10, 14; backup seconds: 3, 4, 2');
  });

  it('draws the merge rates of the merged bytes as throughput bars', () => {
    expect(result.throughput).toEqual([
      { workload: '2 GiB prune merge', tool: 'virt-dr prune (merge step)', mibPerSecond: 102.4 },
      { workload: '2 GiB prune merge', tool: 'cp + qemu-img rebase + sync', mibPerSecond: 256 },
    ]);
  });

  it('refuses a run without a sample', () => {
    expect(() => pruneReport({ size: '64 MiB', writePercent: 1, maxCount: 2 }, [])).toThrow('measured no prune');
  });
});
