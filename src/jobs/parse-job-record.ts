import { isUuid } from '../util/ids.js';
import { JOB_ACTIONS, JOB_PHASES, JOB_STATES, type JobRecord } from './job.js';

/** A journal file read back: a record the runner may trust, or why it may not. */
export type ParsedJobRecord = { ok: true; job: JobRecord } | { ok: false; problem: string };

class RecordProblem extends Error {}

type Fields = Record<string, unknown>;

/**
 * Checks a journal file's JSON against JobRecord, field by field. The journal is the
 * agent's own, but a power cut, a full disk or a hand edit can leave anything in it
 * (`null`, a record without its request), and one bad record must cost that job only,
 * never the agent's start or a concurrency slot.
 *
 * `checkpoint` and `result` stay opaque here: they belong to the operation, which reads
 * them in its own terms. Fields added later are optional with a default, so an older
 * journal still loads.
 */
export function parseJobRecord(value: unknown, expectedJobId: string): ParsedJobRecord {
  try {
    const record = object(value, 'the record');
    const jobId = string(record, 'job_id');
    if (!isUuid(jobId) || jobId !== expectedJobId) {
      throw new RecordProblem(`job_id ${JSON.stringify(jobId)} does not match its file name ${expectedJobId}.json`);
    }
    const request = object(record.request, 'request');
    const progress = object(record.progress, 'progress');
    const job: JobRecord = {
      job_id: jobId,
      action: oneOf(record, 'action', JOB_ACTIONS),
      domain: string(record, 'domain'),
      domain_uuid: uuid(record, 'domain_uuid'),
      domain_name: string(record, 'domain_name'),
      state: oneOf(record, 'state', JOB_STATES),
      created_at: instant(record, 'created_at'),
      started_at: nullable(record, 'started_at', instant),
      finished_at: nullable(record, 'finished_at', instant),
      progress: {
        bytes_done: count(progress, 'bytes_done'),
        bytes_total: count(progress, 'bytes_total'),
        // Records from before phases were reported have none.
        phase: progress.phase === undefined ? null : nullable(progress, 'phase', (r, k) => oneOf(r, k, JOB_PHASES)),
      },
      result: record.result ?? null,
      error: nullable(record, 'error', (r, k) => {
        const error = object(r[k], k);
        return { class: string(error, 'class'), message: string(error, 'message', true) };
      }),
      request: {
        args: object(request.args, 'request.args'),
        context: object(request.context, 'request.context'),
        request_id: nullable(request, 'request_id', string),
        unique_id: nullable(request, 'unique_id', string),
      },
      checkpoint: record.checkpoint ?? null,
      repair_pending: record.repair_pending === undefined ? false : boolean(record, 'repair_pending'),
    };
    if (job.repair_pending && job.checkpoint === null) {
      throw new RecordProblem('repair_pending is set but there is no checkpoint to repair from');
    }
    return { ok: true, job };
  } catch (err) {
    if (err instanceof RecordProblem) return { ok: false, problem: err.message };
    throw err;
  }
}

function object(value: unknown, name: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecordProblem(`${name} is ${describe(value)}, not an object`);
  }
  return value as Fields;
}

function string(record: Fields, key: string, mayBeEmpty = false): string {
  const value = record[key];
  if (typeof value !== 'string' || (!mayBeEmpty && value.length === 0)) {
    throw new RecordProblem(`${key} is ${describe(value)}, not a${mayBeEmpty ? '' : ' non-empty'} string`);
  }
  return value;
}

function uuid(record: Fields, key: string): string {
  const value = string(record, key);
  if (!isUuid(value)) throw new RecordProblem(`${key} ${JSON.stringify(value.slice(0, 80))} is not a UUID`);
  return value;
}

function instant(record: Fields, key: string): string {
  const value = string(record, key);
  if (Number.isNaN(Date.parse(value))) throw new RecordProblem(`${key} ${JSON.stringify(value.slice(0, 80))} is not a time`);
  return value;
}

function count(record: Fields, key: string): number {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RecordProblem(`${key} is ${describe(value)}, not a byte count`);
  }
  return value;
}

function boolean(record: Fields, key: string): boolean {
  const value = record[key];
  if (typeof value !== 'boolean') throw new RecordProblem(`${key} is ${describe(value)}, not true or false`);
  return value;
}

function oneOf<T extends string>(record: Fields, key: string, allowed: readonly T[]): T {
  const value = record[key];
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new RecordProblem(`${key} is ${describe(value)}, not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function nullable<T>(record: Fields, key: string, read: (record: Fields, key: string) => T): T | null {
  return record[key] === null ? null : read(record, key);
}

/** A short description of a bad value for the log: its type, and a bounded glimpse. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
