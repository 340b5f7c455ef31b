import { describe, expect, it, vi } from 'vitest';
import { DomainBusy, HypervisorError, JobCancelled, RepairPending, ToolFailed } from '../../src/errors.js';
import type { JobRecord } from '../../src/jobs/job.js';
import type { JobOperation } from '../../src/jobs/job-runner.js';
import { JobJournal } from '../../src/jobs/journal.js';
import { controllableOperation, journaled, runner, submission, tempState, uuidA, uuidB } from '../support/job-runner-fakes.js';

const CHECKPOINT = { phase: 'committing', backup_id: '20261124T000000000Z-abcdef' };
const vmA = { uuid: uuidA, name: 'vm-a' };

/** An operation that checkpoints, fails, and fails its repair: what run-backup does then. */
function failingRepair(jobError?: Error): JobOperation {
  return {
    run: async (_job, ctx) => {
      await ctx.checkpoint(CHECKPOINT);
      if (jobError) ctx.signal.throwIfAborted();
      throw new RepairPending(new HypervisorError('commit failed: Failed to connect socket', true, null), jobError);
    },
    recover: async () => {
      throw new Error('still failing');
    },
  };
}

/** A recover that fails `failures` times, then repairs; records each call. */
function recoverAfter(failures: number) {
  const calls: JobRecord[] = [];
  const operation: JobOperation = {
    run: async () => ({}),
    recover: async (job) => {
      calls.push(structuredClone(job));
      if (calls.length <= failures) throw new HypervisorError('libvirtd is not answering', true, null);
      return 'the disk chain was merged';
    },
  };
  return { operation, calls };
}

describe('a repair that failed is kept and retried', () => {
  it('keeps the checkpoint with repair_pending, reports the job error, and holds the domain', async () => {
    const state = tempState();
    const jobs = runner(state, failingRepair(new ToolFailed('qemu-img convert exited 1')));
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    const done = await jobs.waitFor(job.job_id);

    expect(done.state).toBe('failed');
    expect(done.error?.class).toBe('ToolFailed');
    expect(done.error?.message).toBe(
      'qemu-img convert exited 1; the repair failed (commit failed: Failed to connect socket); the agent retries it',
    );
    const record = journaled(state, job.job_id);
    expect(record.repair_pending).toBe(true);
    expect(record.checkpoint).toEqual(CHECKPOINT);
    // Stacking a new job on a chain that still needs its repair would deepen it.
    expect(() => jobs.assertCanAccept(vmA, null)).toThrow(DomainBusy);
    expect(() => jobs.assertCanAccept(vmA, null)).toThrow('repair pending');
    await expect(jobs.submit(submission(uuidB))).resolves.toBeTruthy();
  });

  it('reports a failed merge after a published point with the repair error itself', async () => {
    const state = tempState();
    const jobs = runner(state, failingRepair());
    await jobs.start();
    const done = await jobs.waitFor((await jobs.submit(submission(uuidA))).job_id);
    expect(done.error?.class).toBe('HypervisorError');
    expect(journaled(state, done.job_id).repair_pending).toBe(true);
  });

  it('keeps a cancelled job cancelled when its repair is pending', async () => {
    const state = tempState();
    const jobs = runner(state, failingRepair(new JobCancelled('request')));
    await jobs.start();
    const done = await jobs.waitFor((await jobs.submit(submission(uuidA))).job_id);
    expect(done.state).toBe('cancelled');
    expect(done.error?.message).toMatch(/^cancelled by request; the repair failed/);
  });

  it('retries at every start until the repair succeeds, then clears the marker and frees the domain', async () => {
    const state = tempState();
    const first = runner(state, failingRepair(new ToolFailed('copy failed')), [], 1, 0);
    await first.start();
    const job = await first.submit(submission(uuidA));
    await first.waitFor(job.job_id);

    const repair = recoverAfter(1);
    const second = runner(state, repair.operation, [], 1, 0);
    await second.start();
    expect(repair.calls.map((j) => j.checkpoint)).toEqual([CHECKPOINT]);
    // Failed again: still pending, still on record (even with keepFinished 0), domain held.
    expect(journaled(state, job.job_id)).toMatchObject({ repair_pending: true, checkpoint: CHECKPOINT });
    expect(() => second.assertCanAccept(vmA, null)).toThrow(DomainBusy);

    const third = runner(state, repair.operation, [], 1, 10);
    await third.start();
    expect(repair.calls).toHaveLength(2);
    const repaired = journaled(state, job.job_id);
    expect(repaired.repair_pending).toBe(false);
    expect(repaired.checkpoint).toBeNull();
    expect(repaired.state).toBe('failed');
    expect(repaired.error?.message).toContain('repaired later: the disk chain was merged');
    expect(() => third.assertCanAccept(vmA, null)).not.toThrow();

    const fourth = runner(state, repair.operation, [], 1, 10);
    await fourth.start();
    expect(repair.calls).toHaveLength(2);
  });

  it('retries a pending repair while the agent runs, without waiting for a start', async () => {
    const state = tempState();
    const repair = recoverAfter(1);
    const operation: JobOperation = { run: failingRepair(new ToolFailed('copy failed')).run, recover: repair.operation.recover };
    const jobs = runner(state, operation, [], 1, 10, 50);
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    await jobs.waitFor(job.job_id);
    expect(journaled(state, job.job_id).repair_pending).toBe(true);

    // The first retry fails (still pending, domain held), the second repairs.
    await vi.waitFor(() => expect(journaled(state, job.job_id).repair_pending).toBe(false), { timeout: 5_000 });
    expect(repair.calls.map((j) => j.checkpoint)).toEqual([CHECKPOINT, CHECKPOINT]);
    expect(journaled(state, job.job_id).error?.message).toContain('repaired later: the disk chain was merged');
    expect(() => jobs.assertCanAccept(vmA, null)).not.toThrow();
  });

  it('keeps the checkpoint of a job a crash interrupted when its recovery fails', async () => {
    const state = tempState();
    const { operation, started } = controllableOperation();
    const crashed = runner(state, operation);
    await crashed.start();
    const job = await crashed.submit(submission(uuidA));
    await vi.waitFor(() => expect(started).toEqual([job.job_id]));
    // The job checkpoints as the backup does before it changes the host; then the "crash".
    const record = { ...journaled(state, job.job_id), checkpoint: CHECKPOINT };
    await new JobJournal(state).save(record);

    const repair = recoverAfter(1);
    const restarted = runner(state, repair.operation);
    await restarted.start();
    const failed = journaled(state, job.job_id);
    expect(failed.state).toBe('failed');
    expect(failed.error?.class).toBe('AgentRestarted');
    expect(failed.error?.message).toContain('its repair failed (libvirtd is not answering); the agent retries it');
    expect(failed).toMatchObject({ repair_pending: true, checkpoint: CHECKPOINT });

    await runner(state, repair.operation).start();
    expect(repair.calls).toHaveLength(2);
    expect(journaled(state, job.job_id)).toMatchObject({ repair_pending: false, checkpoint: null });
  });
});
