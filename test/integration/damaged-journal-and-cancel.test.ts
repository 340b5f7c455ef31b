/**
 * The job core's edges against the REAL agent (built dist/, child process) on a real
 * RabbitMQ, with no guest: a damaged journal in a real state folder, and cancel_job on
 * the bus and through the `virt-dr` CLI.
 *
 * Cancelling a queued or running job needs a domain the preflight accepts, so those cases
 * are unit tests (job-cancellation, api-cancel-job); here is what needs no guest.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteError, type RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess } from '../support/agent-process.js';
import { ensureRabbit } from '../support/rabbit.js';

const agent = new AgentProcess('h8-journal-cancel', '/var/lib/virt-dr-test/h8-journal-cancel');
const jobsDir = path.join(agent.statePath, 'jobs');

const NULL_RECORD = '11111111-1111-4111-8111-111111111111';
const NO_REQUEST = '22222222-2222-4222-8222-222222222222';
const FINISHED = '33333333-3333-4333-8333-333333333333';
const UNKNOWN = '44444444-4444-4444-8444-444444444444';

/** A finished job as the runner journals it, for a domain this host does not have. */
function finishedRecord(jobId: string): Record<string, unknown> {
  return {
    job_id: jobId,
    action: 'backup',
    domain: 'vdr-gone',
    domain_uuid: '0b5c3f5e-0000-4000-8000-0000000000f1',
    domain_name: 'vdr-gone',
    state: 'succeeded',
    created_at: '2026-11-24T01:00:00.000Z',
    started_at: '2026-11-24T01:00:01.000Z',
    finished_at: '2026-11-24T01:00:09.000Z',
    progress: { bytes_done: 10, bytes_total: 10 },
    result: null,
    error: null,
    request: { args: {}, context: {}, request_id: 'req-old', unique_id: null },
    checkpoint: null,
  };
}

let client: RpcClient;

async function remoteClass(call: Promise<unknown>): Promise<string> {
  const error = await call.then(
    (result) => new Error(`accepted: ${JSON.stringify(result)}`),
    (err: unknown) => err,
  );
  if (!(error instanceof RemoteError)) throw error;
  return error.remoteClass;
}

describe('the job core at its edges, on a real agent without a guest', () => {
  beforeAll(async () => {
    await ensureRabbit();
    await agent.reset();
    await mkdir(jobsDir, { recursive: true });
    await writeFile(path.join(jobsDir, `${NULL_RECORD}.json`), 'null');
    const withoutRequest: Record<string, unknown> = { ...finishedRecord(NO_REQUEST), state: 'queued', finished_at: null };
    delete withoutRequest.request;
    await writeFile(path.join(jobsDir, `${NO_REQUEST}.json`), JSON.stringify(withoutRequest));
    await writeFile(path.join(jobsDir, `${FINISHED}.json`), JSON.stringify(finishedRecord(FINISHED)));
    // Before the journal was parsed, `null` made this start exit ("agent failed to start").
    await agent.start();
    client = await agent.client();
  });

  afterAll(async () => {
    await client?.close();
    await agent.stop();
    await agent.discard();
  });

  it('starts over a journal holding null and a record without request, and moves both aside', async () => {
    const { jobs } = await client.call<{ jobs: { job_id: string }[] }>('list_jobs', {}, { server: agent.host });
    expect(jobs.map((j) => j.job_id)).toEqual([FINISHED]);
    const quarantined = await readdir(path.join(jobsDir, 'quarantine'));
    expect(quarantined.map((f) => f.slice(0, 36)).sort()).toEqual([NULL_RECORD, NO_REQUEST]);
    const kept = quarantined.find((f) => f.startsWith(NULL_RECORD))!;
    expect(await readFile(path.join(jobsDir, 'quarantine', kept), 'utf8')).toBe('null');
    const log = await readFile(agent.logPath, 'utf8');
    expect(log.split('\n').filter((l) => l.includes('journal entry quarantined'))).toHaveLength(2);
  });

  it('answers cancel_job with JobNotFound, JobNotCancellable and InvalidArgument', async () => {
    const cancel = (jobId: string) => client.call('cancel_job', { job_id: jobId }, { server: agent.host, timeoutMs: 20_000 });
    expect(await remoteClass(cancel(UNKNOWN))).toBe('JobNotFound');
    expect(await remoteClass(cancel(NO_REQUEST))).toBe('JobNotFound');
    expect(await remoteClass(cancel(FINISHED))).toBe('JobNotCancellable');
    expect(await remoteClass(cancel('not-a-job'))).toBe('InvalidArgument');
  });

  it('virt-dr cancel reports the agent refusal and exits 1', async () => {
    const failure = await agent.cli(['--host', agent.host, 'cancel', UNKNOWN], 60_000).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain(`JobNotFound: no job ${UNKNOWN}`);
  });
});
