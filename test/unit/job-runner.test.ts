import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { DomainBusy, InvalidArgument } from '../../src/errors.js';
import { publicJob, type JobPhase } from '../../src/jobs/job.js';
import { JobRunner, type JobOperation } from '../../src/jobs/job-runner.js';
import { JobJournal } from '../../src/jobs/journal.js';
import type { ProgressReport } from '../../src/jobs/progress.js';
import { controllableOperation, journaled, runner, silentLog, submission, tempState, tick, uuidA, uuidB, uuidC } from '../support/job-runner-fakes.js';

describe('JobRunner', () => {
  it('journals a job before accepting it, and one job per domain', async () => {
    const state = tempState();
    const { operation, started, finish } = controllableOperation();
    const jobs = runner(state, operation);
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    expect(journaled(state, job.job_id).job_id).toBe(job.job_id);
    await expect(jobs.submit(submission(uuidA))).rejects.toThrow(DomainBusy);
    await vi.waitFor(() => expect(started).toContain(job.job_id));
    finish(job.job_id);
    expect((await jobs.waitFor(job.job_id)).state).toBe('succeeded');
    // Finished: the domain is free again.
    await expect(jobs.submit(submission(uuidA))).resolves.toBeTruthy();
  });

  it('refuses a busy domain up front, but not a redelivery of the request that holds it', async () => {
    const state = tempState();
    const { operation, started, finish } = controllableOperation();
    const jobs = runner(state, operation);
    await jobs.start();
    const vmA = { uuid: uuidA, name: 'vm-a' };
    expect(() => jobs.assertCanAccept(vmA, null)).not.toThrow();
    const job = await jobs.submit(submission(uuidA, 'unique-1'));
    expect(() => jobs.assertCanAccept(vmA, 'unique-2')).toThrow(DomainBusy);
    expect(() => jobs.assertCanAccept(vmA, 'unique-1')).not.toThrow();
    expect(() => jobs.assertCanAccept({ uuid: uuidB, name: 'vm-b' }, null)).not.toThrow();
    await vi.waitFor(() => expect(started).toContain(job.job_id));
    finish(job.job_id);
    await jobs.waitFor(job.job_id);
    expect(() => jobs.assertCanAccept(vmA, null)).not.toThrow();
  });

  it('runs at most `concurrency` jobs at once', async () => {
    const state = tempState();
    const { operation, started, finish } = controllableOperation();
    const jobs = runner(state, operation, [], 2);
    await jobs.start();
    const a = await jobs.submit(submission(uuidA));
    const b = await jobs.submit(submission(uuidB));
    const c = await jobs.submit(submission(uuidC));
    await vi.waitFor(() => expect(started).toHaveLength(2));
    await tick(); // a third would start now if the limit did not hold
    expect(started).toEqual([a.job_id, b.job_id]);
    finish(a.job_id);
    await vi.waitFor(() => expect(started).toEqual([a.job_id, b.job_id, c.job_id]));
    expect(jobs.list('running').map((j) => j.job_id).sort()).toEqual([b.job_id, c.job_id].sort());
  });

  it('treats a redelivered request (same _unique_id) as the job it already is', async () => {
    const state = tempState();
    const jobs = runner(state, controllableOperation().operation);
    await jobs.start();
    const first = await jobs.submit(submission(uuidA, 'u-1'));
    const again = await jobs.submit(submission(uuidA, 'u-1'));
    expect(again.job_id).toBe(first.job_id);
  });

  it('reports a failure with its class, and saves progress before emitting it', async () => {
    const state = tempState();
    const events: string[] = [];
    const jobs = runner(state, {
      run: async (_job, ctx) => {
        ctx.progress.setTotal(10);
        throw new InvalidArgument('no such disk');
      },
      recover: async () => '',
    }, events);
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    const done = await jobs.waitFor(job.job_id);
    expect(done.state).toBe('failed');
    expect(done.error).toEqual({ class: 'InvalidArgument', message: 'no such disk' });
    await vi.waitFor(() => expect(events).toHaveLength(3));
    expect(events).toEqual([`start ${job.job_id}`, `progress ${job.job_id}`, `failed ${job.job_id}`]);
  });

  it('after a crash: recovers and fails running jobs, runs queued ones again', async () => {
    const state = tempState();
    const { operation, started } = controllableOperation();
    const first = runner(state, operation, [], 1);
    await first.start();
    const running = await first.submit(submission(uuidA));
    const queued = await first.submit(submission(uuidB));
    // A job is journaled as running before its operation starts.
    await vi.waitFor(() => expect(started).toContain(running.job_id));
    // "Crash": a second runner on the same state, as after a restart.
    const recovered: string[] = [];
    const events: string[] = [];
    const second = runner(state, {
      run: async () => ({ ran: true }),
      recover: async (job) => {
        recovered.push(job.job_id);
        return 'the partial backup was discarded';
      },
    }, events);
    await second.start();
    expect(recovered).toEqual([running.job_id]);
    const failed = second.get(running.job_id);
    expect(failed.state).toBe('failed');
    expect(failed.error?.class).toBe('AgentRestarted');
    expect(failed.error?.message).toContain('the partial backup was discarded');
    expect((await second.waitFor(queued.job_id)).state).toBe('succeeded');
    expect(events).toContain(`failed ${running.job_id}`);
    expect(readdirSync(join(state, 'jobs')).every((f) => f.endsWith('.json'))).toBe(true);
  });

  it('keeps the newest finished jobs and forgets the rest, in memory and on disk', async () => {
    const state = tempState();
    const jobs = runner(state, { run: async () => ({}), recover: async () => '' }, [], 1, 0);
    await jobs.start();
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const job = await jobs.submit(submission(uuidA));
      await jobs.waitFor(job.job_id);
      ids.push(job.job_id);
    }
    await vi.waitFor(() => expect(jobs.list(null).length).toBeLessThan(60));
    expect(readdirSync(join(state, 'jobs')).length).toBe(jobs.list(null).length);
    expect(jobs.get(ids.at(-1)!).state).toBe('succeeded');
  });

  it('reports a phase change at once, shows it in the job view, and journals it', async () => {
    const state = tempState();
    const reports: (JobPhase | null)[] = [];
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const operation: JobOperation = {
      run: async (_job, ctx) => {
        ctx.progress.setTotal(1000);
        ctx.progress.phase('copying');
        ctx.progress.add(1);
        ctx.progress.phase('starting');
        await held;
        return { ok: true };
      },
      recover: async () => '',
    };
    const jobs = new JobRunner({
      journal: new JobJournal(state),
      operations: { backup: operation, restore: operation, verify: operation, delete: operation, failover: operation, failback: operation, prune: operation },
      events: { started: () => {}, progressed: (_job, report: ProgressReport) => reports.push(report.phase), finished: () => {} },
      log: silentLog,
      concurrency: 1,
      keepFinished: 10,
      // Far longer than the test: only the phase changes can make reports.
      progressIntervalMs: 60_000,
    });
    onTestFinished(() => jobs.stop(1_000));
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    expect(publicJob(job).progress).toEqual({ bytes_done: 0, bytes_total: 0, phase: null });

    await vi.waitFor(() => expect(reports).toEqual([null, 'copying', 'starting']));
    expect(publicJob(jobs.get(job.job_id)).progress).toEqual({ bytes_done: 1, bytes_total: 1000, phase: 'starting' });
    expect(journaled(state, job.job_id).progress.phase).toBe('starting');
    release();
    const done = await jobs.waitFor(job.job_id);
    expect(done.progress.phase).toBe('starting');
  });
});
