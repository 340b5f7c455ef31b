import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { onTestFinished } from 'vitest';
import type { JobRecord } from '../../src/jobs/job.js';
import { JobRunner, type JobOperation, type JobSubmission } from '../../src/jobs/job-runner.js';
import { JobJournal } from '../../src/jobs/journal.js';

/**
 * Fakes for unit tests of the job runner: submissions, an operation the test finishes
 * by hand, and a runner on a real journal folder whose events land in a list.
 */
export const silentLog = pino({ level: 'silent' });

export const uuidA = '0b5c3f5e-0000-4000-8000-00000000000a';
export const uuidB = '0b5c3f5e-0000-4000-8000-00000000000b';
export const uuidC = '0b5c3f5e-0000-4000-8000-00000000000c';

export function submission(uuid: string, uniqueId: string | null = null): JobSubmission {
  return {
    action: 'backup',
    domain: { requested: `vm-${uuid.slice(0, 4)}`, uuid, name: `vm-${uuid.slice(0, 4)}` },
    args: {},
    context: { request_id: 'req-1' },
    requestId: 'req-1',
    uniqueId,
  };
}

/**
 * An operation the test finishes by hand (`finish`, which also works before the run has
 * begun). A run that sees its signal abort rejects with the abort's reason, as the real
 * operations' steps do.
 */
export function controllableOperation() {
  const started: string[] = [];
  const recovered: string[] = [];
  const finishers = new Map<string, (result: unknown) => void>();
  const finishedEarly = new Set<string>();
  const operation: JobOperation = {
    run: (job, ctx) =>
      new Promise((resolve, reject) => {
        started.push(job.job_id);
        ctx.progress.setTotal(100);
        ctx.progress.add(100);
        if (finishedEarly.has(job.job_id)) resolve({ ok: true });
        finishers.set(job.job_id, resolve);
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      }),
    recover: async (job) => {
      recovered.push(job.job_id);
      return 'nothing to repair';
    },
  };
  const finish = (id: string) => {
    finishedEarly.add(id);
    finishers.get(id)?.({ ok: true });
  };
  return { operation, started, recovered, finish };
}

/** A runner on a real journal folder; stopped when the test ends, before its folder goes. */
export function runner(
  statePath: string,
  operation: JobOperation,
  events: string[] = [],
  concurrency = 1,
  keepFinished = 10,
  repairRetryMs?: number,
) {
  const jobs = new JobRunner({
    journal: new JobJournal(statePath),
    operations: { backup: operation, restore: operation, verify: operation, delete: operation, failover: operation, failback: operation, prune: operation },
    events: {
      started: (j: JobRecord) => events.push(`start ${j.job_id}`),
      progressed: (j: JobRecord) => events.push(`progress ${j.job_id}`),
      finished: (j: JobRecord) => events.push(`${j.state} ${j.job_id}`),
    },
    log: silentLog,
    concurrency,
    keepFinished,
    progressIntervalMs: 2000,
    ...(repairRetryMs === undefined ? {} : { repairRetryMs }),
  });
  // Finished hooks run last-registered first: this stop runs before tempState's removal.
  onTestFinished(() => jobs.stop(1_000));
  return jobs;
}

/** A fresh state folder, removed when the test ends. */
export function tempState(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vdr-jobs-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}

/** A job's record as the journal holds it on disk. */
export function journaled(statePath: string, jobId: string): JobRecord {
  return JSON.parse(readFileSync(join(statePath, 'jobs', `${jobId}.json`), 'utf8')) as JobRecord;
}

export const tick = () => new Promise((r) => setTimeout(r, 20));
