/**
 * A repair that cannot reach libvirt is run again (src/backup/engine.ts), on a fake clock;
 * any other failure, or the deadline, ends the retries with RepairPending.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FIRST_REPAIR_RETRY_MS,
  LONGEST_REPAIR_RETRY_MS,
  repairWhileUnreachable,
  takeAndPublish,
} from '../../src/backup/engine.js';
import { HypervisorError, RepairPending, TargetUnreachable, ToolFailed } from '../../src/errors.js';
import type { RepositoryTarget } from '../../src/repo/target.js';
import type { Manifest } from '../../src/repo/point.js';
import { silentLog } from '../support/job-runner-fakes.js';

const unreachable = () => new HypervisorError('get XML of vm: Failed to connect socket', true, null);

/** A repair that fails with `errors` in turn, then succeeds; records when it ran. */
function repairFailing(...errors: Error[]) {
  const times: number[] = [];
  const repair = async () => {
    times.push(Date.now());
    const err = errors[times.length - 1];
    if (err) throw err;
    return 'repaired';
  };
  return { repair, times };
}

describe('repairWhileUnreachable', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('runs the repair again while libvirt cannot be reached, pausing longer each time, capped', async () => {
    const { repair, times } = repairFailing(...Array.from({ length: 8 }, unreachable));
    const done = repairWhileUnreachable(repair, silentLog);
    await vi.runAllTimersAsync();
    await expect(done).resolves.toBe('repaired');
    const pauses = times.slice(1).map((t, i) => t - times[i]!);
    expect(pauses).toEqual([FIRST_REPAIR_RETRY_MS, 2000, 4000, 8000, 16_000, 32_000, LONGEST_REPAIR_RETRY_MS, LONGEST_REPAIR_RETRY_MS]);
  });

  it('runs it again while the repository target does not answer (whether the point landed is unknown)', async () => {
    const { repair, times } = repairFailing(new TargetUnreachable('uploading on s3://b: no answer'), new TargetUnreachable('again'));
    const done = repairWhileUnreachable(repair, silentLog);
    await vi.runAllTimersAsync();
    await expect(done).resolves.toBe('repaired');
    expect(times).toEqual([0, FIRST_REPAIR_RETRY_MS, FIRST_REPAIR_RETRY_MS + 2000]);
  });

  it('does not repeat a repair that failed for another reason', async () => {
    const failure = new ToolFailed('qemu-img exited 1');
    const { repair, times } = repairFailing(failure);
    await expect(repairWhileUnreachable(repair, silentLog)).rejects.toBe(failure);
    expect(times).toHaveLength(1);
  });

  it('gives up with the last error at the deadline', async () => {
    const { repair, times } = repairFailing(...Array.from({ length: 100 }, unreachable));
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(), 10_000);
    const done = repairWhileUnreachable(repair, silentLog, deadline.signal);
    const settled = expect(done).rejects.toThrow(/Failed to connect socket/);
    await vi.runAllTimersAsync();
    await settled;
    expect(times).toEqual([0, 1000, 3000, 7000]);
  });
});

describe('the engines\' frame (takeAndPublish)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const record = { engine: 'snapshot' as const, domain_uuid: 'u', backup_id: 'b', stopped_by: null, freeze_requested: false, phase: 'copying' };
  const manifest = { backup_id: 'b' } as unknown as Manifest;
  const frame = (settle: () => Promise<unknown>, take: () => Promise<Manifest> = async () => manifest) =>
    takeAndPublish(take, {
      repo: { stagingFolder: () => '/staging', publishPoint: async () => undefined } as unknown as RepositoryTarget,
      record: { ...record },
      ctx: { log: silentLog, signal: new AbortController().signal, progress: { setTotal() {}, add() {}, phase() {} }, checkpoint: async () => {} },
      publishedPhase: 'committing',
      settle,
    });

  it('carries on after a libvirtd restart: the merge runs again and nothing is left pending', async () => {
    const { repair, times } = repairFailing(unreachable());
    const done = frame(repair);
    await vi.runAllTimersAsync();
    await expect(done).resolves.toBe(manifest);
    expect(times).toHaveLength(2);
  });

  it('leaves a repair pending, with the backup\'s own error, when the undo fails otherwise', async () => {
    const jobError = new ToolFailed('copy failed');
    const { repair } = repairFailing(new ToolFailed('commit failed'));
    const err = await frame(repair, async () => {
      throw jobError;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepairPending);
    expect((err as RepairPending).failure).toBe(jobError);
  });
});
