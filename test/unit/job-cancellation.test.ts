import { describe, expect, it, vi } from 'vitest';
import { JobCancelled, JobNotCancellable, JobNotFound, ToolFailed } from '../../src/errors.js';
import { controllableOperation, journaled, runner, submission, tempState, tick, uuidA, uuidB } from '../support/job-runner-fakes.js';

const byRequest = { class: 'JobCancelled', message: 'cancelled by request' };

describe('JobRunner.cancel', () => {
  it('takes a queued job out of the queue: cancelled by request, never run, its domain free again', async () => {
    const state = tempState();
    const events: string[] = [];
    const { operation, started, finish } = controllableOperation();
    const jobs = runner(state, operation, events, 1);
    await jobs.start();
    const running = await jobs.submit(submission(uuidA));
    const queued = await jobs.submit(submission(uuidB));
    const waiting = jobs.waitFor(queued.job_id);

    const answer = await jobs.cancel(queued.job_id);

    expect(answer.state).toBe('cancelled');
    expect(answer.error).toEqual(byRequest);
    expect((await waiting).state).toBe('cancelled');
    expect(journaled(state, queued.job_id).state).toBe('cancelled');
    expect(events).toContain(`cancelled ${queued.job_id}`);
    await vi.waitFor(() => expect(started).toEqual([running.job_id]));
    finish(running.job_id);
    await jobs.waitFor(running.job_id);
    await tick();
    expect(started).toEqual([running.job_id]);
    await expect(jobs.submit(submission(uuidB))).resolves.toBeTruthy();
  });

  it('aborts a running job with a JobCancelled whose reason is request', async () => {
    const state = tempState();
    const { operation, started } = controllableOperation();
    let reason: unknown = null;
    const jobs = runner(state, {
      ...operation,
      run: (job, ctx) => {
        ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
        return operation.run(job, ctx);
      },
    });
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    await vi.waitFor(() => expect(started).toEqual([job.job_id]));

    await jobs.cancel(job.job_id);

    expect(reason).toBeInstanceOf(JobCancelled);
    expect((reason as JobCancelled).reason).toBe('request');
    const done = await jobs.waitFor(job.job_id);
    expect(done.state).toBe('cancelled');
    expect(done.error).toEqual(byRequest);
  });

  it('reports a cancelled job as cancelled, whatever error its operation surfaced on the way out', async () => {
    const state = tempState();
    const jobs = runner(state, {
      run: (_job, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => reject(new ToolFailed('qemu-img convert exited 1: killed'))),
        ),
      recover: async () => '',
    });
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    await vi.waitFor(() => expect(jobs.get(job.job_id).state).toBe('running'));
    await jobs.cancel(job.job_id);
    expect((await jobs.waitFor(job.job_id)).error).toEqual(byRequest);
  });

  it('keeps the first reason: a job cancelled by request stays so when the agent then stops', async () => {
    const state = tempState();
    const { operation } = controllableOperation();
    const jobs = runner(state, operation);
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    await vi.waitFor(() => expect(jobs.get(job.job_id).state).toBe('running'));
    await jobs.cancel(job.job_id);
    await jobs.stop(1_000);
    expect(jobs.get(job.job_id).error).toEqual(byRequest);
  });

  it('refuses a finished job with JobNotCancellable and an unknown one with JobNotFound', async () => {
    const state = tempState();
    const { operation, started, finish } = controllableOperation();
    const jobs = runner(state, operation);
    await jobs.start();
    const job = await jobs.submit(submission(uuidA));
    await vi.waitFor(() => expect(started).toEqual([job.job_id]));
    finish(job.job_id);
    await jobs.waitFor(job.job_id);
    await expect(jobs.cancel(job.job_id)).rejects.toThrow(JobNotCancellable);
    await expect(jobs.cancel(job.job_id)).rejects.toThrow('has already finished (succeeded)');
    await expect(jobs.cancel('99999999-9999-4999-8999-999999999999')).rejects.toThrow(JobNotFound);
    expect(jobs.get(job.job_id).state).toBe('succeeded');
  });
});
