import type { ScheduleState } from '../policy/schedule/due.js';
import { isUuid } from '../util/ids.js';

/**
 * What the scheduler keeps per domain in host state (`<state>/schedule/<uuid>.json`), so
 * a restart neither runs a slot twice nor loses one. A run is claimed before its job is
 * submitted (`pending_slot`, with `last_slot` already moved on); a restart that finds a
 * claim submits again with the same unique id, and the job runner hands back the job if
 * the first submission had made one.
 */
export interface ScheduleRecord extends ScheduleState {
  domain_uuid: string;
  /** A claimed slot whose job may not exist yet. */
  pending_slot: string | null;
  last_job_id: string | null;
  /** Why the last claimed slot made no job (the domain was shut off, ...), for get_policy and the log. */
  last_error: string | null;
}

export function emptyScheduleRecord(domainUuid: string): ScheduleRecord {
  return { domain_uuid: domainUuid, last_slot: null, next_slot: null, pending_slot: null, last_job_id: null, last_error: null };
}

export class InvalidScheduleRecord extends Error {}

export function parseScheduleRecord(text: string): ScheduleRecord {
  const raw = JSON.parse(text) as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidScheduleRecord('not a schedule record');
  const record = raw as Record<string, unknown>;
  if (typeof record.domain_uuid !== 'string' || !isUuid(record.domain_uuid)) throw new InvalidScheduleRecord('bad domain_uuid');
  const instant = (key: string): string | null => {
    const value = record[key];
    if (value === null || value === undefined) return null;
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw new InvalidScheduleRecord(`${key} is not an instant`);
    return value;
  };
  const text_ = (key: string): string | null => (typeof record[key] === 'string' ? (record[key] as string) : null);
  return {
    domain_uuid: record.domain_uuid.toLowerCase(),
    last_slot: instant('last_slot'),
    next_slot: instant('next_slot'),
    pending_slot: instant('pending_slot'),
    last_job_id: text_('last_job_id'),
    last_error: text_('last_error'),
  };
}
