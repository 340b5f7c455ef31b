import { describe, expect, it, vi } from 'vitest';
import { createApi, type ApiCall, type ApiDeps } from '../../src/api/methods.js';
import { InvalidArgument, JobNotCancellable, JobNotFound } from '../../src/errors.js';
import type { Hypervisor } from '../../src/libvirt/hypervisor.js';
import type { RepositoryTarget } from '../../src/repo/target.js';
import type { PendingInstantStore } from '../../src/restore/pending-instant.js';
import { controllableOperation, runner, submission, tempState, uuidA, uuidB } from '../support/job-runner-fakes.js';

async function setup() {
  const fake = controllableOperation();
  const jobs = runner(tempState(), fake.operation, [], 1);
  await jobs.start();
  // cancel_job needs neither libvirt nor the repository.
  const api = createApi({
    host: 'h',
    version: '0',
    hypervisor: {} as Hypervisor,
    repo: {} as RepositoryTarget,
    jobs,
    defaultEngine: 'auto',
    pending: {} as PendingInstantStore,
    roles: ['compute'],
    replicas: {} as ApiDeps['replicas'],
    askHome: async () => 'unreachable',
    failovers: {} as ApiDeps['failovers'],
    policies: {} as ApiDeps['policies'],
    places: {} as ApiDeps['places'],
    onPolicyChange: () => undefined,
    scheduleOf: {} as ApiDeps['scheduleOf'],
  });
  const call = async (args: Record<string, unknown>) => {
    const request: ApiCall = { method: 'cancel_job', args, context: {}, requestId: null, uniqueId: null };
    return (await api.dispatch(request)).result;
  };
  return { ...fake, jobs, api, call };
}

describe('cancel_job on the bus', () => {
  it('is a method of the API', async () => {
    expect((await setup()).api.methods).toContain('cancel_job');
  });

  it('answers a queued job as cancelled by request, and a running one as it is now', async () => {
    const { jobs, call, started } = await setup();
    const running = await jobs.submit(submission(uuidA));
    const queued = await jobs.submit(submission(uuidB));
    await vi.waitFor(() => expect(started).toEqual([running.job_id]));

    expect(await call({ job_id: queued.job_id })).toMatchObject({
      job_id: queued.job_id,
      state: 'cancelled',
      error: { class: 'JobCancelled', message: 'cancelled by request' },
    });
    const answer = (await call({ job_id: running.job_id })) as Record<string, unknown>;
    // Still running, or already cancelled when the fake's abort handler ran first.
    expect(answer.job_id).toBe(running.job_id);
    expect(['running', 'cancelled']).toContain(answer.state);
    // The protocol's job object only: no request, checkpoint or repair marker.
    expect(Object.keys(answer)).not.toContain('request');
    expect(Object.keys(answer)).not.toContain('repair_pending');
    expect((await jobs.waitFor(running.job_id)).error).toEqual({ class: 'JobCancelled', message: 'cancelled by request' });
    expect(started).toEqual([running.job_id]);
  });

  it('refuses a finished job, an unknown one, a non-id and stray arguments, each with its class', async () => {
    const { jobs, call, started, finish } = await setup();
    const job = await jobs.submit(submission(uuidA));
    await vi.waitFor(() => expect(started).toEqual([job.job_id]));
    finish(job.job_id);
    await jobs.waitFor(job.job_id);

    await expect(call({ job_id: job.job_id })).rejects.toThrow(JobNotCancellable);
    await expect(call({ job_id: '99999999-9999-4999-8999-999999999999' })).rejects.toThrow(JobNotFound);
    await expect(call({ job_id: '../etc/passwd' })).rejects.toThrow(InvalidArgument);
    await expect(call({})).rejects.toThrow(InvalidArgument);
    await expect(call({ job_id: job.job_id, reason: 'because' })).rejects.toThrow('unexpected argument(s): "reason"');
  });
});
