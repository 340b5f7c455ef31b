import { JOB_ACTIONS, type JobAction, type JobRecord, type JobState } from '../jobs/job.js';
import type { QuiesceMethod } from '../repo/point.js';

/**
 * What the metrics read from job records: pure functions of the records, so the
 * exposition is tested with plain objects. A job's `result` is the operation's own shape
 * (journaled, so possibly written by an older agent): each field is checked, never assumed.
 */

/** The states a job is counted under while it lasts, and when it has ended. */
export const UNFINISHED_STATES = ['queued', 'running'] as const satisfies readonly JobState[];
export const FINISHED_STATES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly JobState[];

/** Bytes a finished job wrote: a backup's point, a restore's disks, a delete's merges. */
export function bytesWrittenBy(job: JobRecord): number {
  if (job.state !== 'succeeded' || !isObject(job.result)) return 0;
  const result = job.result;
  switch (job.action) {
    case 'verify':
      return 0;
    case 'delete':
      return Array.isArray(result.places) ? result.places.reduce((sum: number, place: unknown) => sum + (isObject(place) ? count(place.bytes_written) : 0), 0) : 0;
    default:
      // A backup's point, a restore's disks; an action built on restore reports its result.
      return count(result.bytes);
  }
}

/** How long a successful backup held its guest frozen or paused; null when nothing was stopped. */
export function freezeOf(job: JobRecord): { quiesce: Exclude<QuiesceMethod, 'none'>; seconds: number } | null {
  if (job.action !== 'backup' || job.state !== 'succeeded' || !isObject(job.result)) return null;
  const { quiesce, freeze_ms: freezeMs } = job.result;
  if ((quiesce !== 'agent' && quiesce !== 'suspend') || typeof freezeMs !== 'number' || !(freezeMs >= 0)) return null;
  return { quiesce, seconds: freezeMs / 1000 };
}

/** The labels a finished backup job is counted under per domain; null for any other job. */
export function backupOutcome(job: JobRecord): { domain: string; domain_uuid: string; state: (typeof FINISHED_STATES)[number] } | null {
  const state = FINISHED_STATES.find((finished) => finished === job.state);
  return job.action === 'backup' && state ? { domain: job.domain_name, domain_uuid: job.domain_uuid, state } : null;
}

/** Queued and running jobs now, per action and state; every pair is present, 0 when none. */
export function unfinishedCounts(jobs: readonly JobRecord[]): { action: JobAction; state: (typeof UNFINISHED_STATES)[number]; count: number }[] {
  return JOB_ACTIONS.flatMap((action) =>
    UNFINISHED_STATES.map((state) => ({ action, state, count: jobs.filter((j) => j.action === action && j.state === state).length })),
  );
}

export interface LastSuccess {
  domain: string;
  domain_uuid: string;
  action: JobAction;
  /** Seconds since the epoch. */
  at_s: number;
}

/** Per domain and action, the newest successful job's end; the domain's name is that job's. */
export function lastSuccesses(jobs: readonly JobRecord[], actions: readonly JobAction[]): LastSuccess[] {
  const newest = new Map<string, LastSuccess>();
  for (const job of jobs) {
    if (job.state !== 'succeeded' || job.finished_at === null || !actions.includes(job.action)) continue;
    const at = Date.parse(job.finished_at);
    const key = `${job.domain_uuid} ${job.action}`;
    if (Number.isNaN(at) || (newest.get(key)?.at_s ?? -Infinity) >= at / 1000) continue;
    newest.set(key, { domain: job.domain_name, domain_uuid: job.domain_uuid, action: job.action, at_s: at / 1000 });
  }
  return [...newest.values()];
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
