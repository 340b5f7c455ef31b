import { describe, expect, it, vi } from 'vitest';
import { controllableOperation, journaled, runner, submission, tempState, tick, uuidA, uuidB, uuidC } from '../support/job-runner-fakes.js';

describe('JobRunner.stop (SIGTERM)', () => {
  it('cancels running jobs by shutdown and starts no queued job; those run after the next start', async () => {
    const state = tempState();
    const { operation, started } = controllableOperation();
    const jobs = runner(state, operation, [], 1);
    await jobs.start();
    const running = await jobs.submit(submission(uuidA));
    const queued = [await jobs.submit(submission(uuidB)), await jobs.submit(submission(uuidC))];
    await vi.waitFor(() => expect(started).toEqual([running.job_id]));

    await jobs.stop(5_000);
    await tick(); // a queued job would take the freed slot by now

    expect(started).toEqual([running.job_id]);
    const cancelled = jobs.get(running.job_id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.error).toEqual({ class: 'JobCancelled', message: 'cancelled by shutdown' });
    for (const job of queued) {
      expect(jobs.get(job.job_id).state).toBe('queued');
      expect(journaled(state, job.job_id).state).toBe('queued');
    }

    // The next start runs them, oldest first.
    const next = controllableOperation();
    const restarted = runner(state, next.operation, [], 1);
    await restarted.start();
    await vi.waitFor(() => expect(next.started).toEqual([queued[0]!.job_id]));
    next.finish(queued[0]!.job_id);
    await vi.waitFor(() => expect(next.started).toEqual(queued.map((j) => j.job_id)));
    next.finish(queued[1]!.job_id);
    expect((await restarted.waitFor(queued[1]!.job_id)).state).toBe('succeeded');
    expect(next.recovered).toEqual([]);
  });

  it('accepts no work into a slot after stop, even a job submitted then', async () => {
    const state = tempState();
    const { operation, started } = controllableOperation();
    const jobs = runner(state, operation, [], 2);
    await jobs.start();
    await jobs.stop(1_000);
    const late = await jobs.submit(submission(uuidA));
    await tick();
    expect(started).toEqual([]);
    expect(journaled(state, late.job_id).state).toBe('queued');
  });
});
