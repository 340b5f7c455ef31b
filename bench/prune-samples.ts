import type { Notification } from '../src/bus/rpc-client.js';
import type { JobView } from '../test/support/backup-api.js';
import { jobSeconds } from './measure.js';

/**
 * The prune suite's arithmetic, kept pure: which notification ends the prune job a backup
 * triggered, and what one backup-and-prune pair measured.
 */

/** One step of a prune job's result (src/tiers/prune-operation.ts, PruneResult). */
export interface PruneActionView {
  action: string;
  backup_ids: string[];
  from_tier: string;
  to_tier?: string;
  reason: string;
  bytes: number;
  duration_ms: number;
}

/** A prune job's result: the point it verified first, then the steps it ran. */
export interface PruneResultView {
  verified: string | null;
  actions: PruneActionView[];
  skipped: unknown[];
  warnings: string[];
  duration_ms: number;
}

/** A finished prune job, as its `virt_dr.prune.end` notification carries it. */
export interface PruneJobView {
  job_id: string;
  domain_uuid: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  result: PruneResultView;
}

/**
 * Whether the notification ends the prune job that verified the backup (its result names
 * the point). A `virt_dr.prune.error` of the domain throws, with its error: a failed job
 * carries no result that could name the point it followed, and the suite waits for each
 * prune before the next backup, so any error of the domain is this prune's.
 */
export function endsPruneOf(event: Notification, domainUuid: string, backupId: string): boolean {
  if (event.payload['domain_uuid'] !== domainUuid) return false;
  if (event.event_type === 'virt_dr.prune.error') {
    const error = event.payload['error'] as { class?: string; message?: string } | null;
    throw new Error(`the prune after backup ${backupId} ended ${String(event.payload['state'])}: ${error?.class}: ${error?.message}`);
  }
  return event.event_type === 'virt_dr.prune.end' && (event.payload as unknown as PruneJobView).result?.verified === backupId;
}

/** What one backup and the prune it triggered measured, in seconds and bytes. */
export interface PruneSample {
  backupId: string;
  /** The point the prune merged into its child. */
  prunedId: string;
  /** The backup job's own duration (leaving the queue to its end). */
  backupS: number;
  /** The prune job's own duration, likewise. */
  pruneS: number;
  /** From the backup job's end to the prune job leaving the queue. */
  waitS: number;
  /** The merge: the prune action's own duration_ms. */
  mergeS: number;
  /** The rest of the prune's duration_ms: verifying the new point, reading the policy, scanning, planning. */
  verifyS: number;
  /** The merged disk files' bytes, as the action reports them. */
  mergedBytes: number;
}

/**
 * Pairs a backup with its prune and checks that the prune did what the suite relies on:
 * verified that point, then merged exactly `expectedPruned` into its child, nothing else.
 */
export function pruneSample(backup: JobView, prune: PruneJobView, expectedPruned: string): PruneSample {
  const backupId = backup.result?.backup_id;
  if (!backupId) throw new Error(`backup job ${backup.job_id} has no point`);
  const { result } = prune;
  if (result.verified !== backupId) throw new Error(`prune job ${prune.job_id} verified ${result.verified}, not ${backupId}`);
  const [action, ...more] = result.actions;
  if (!action || more.length > 0 || action.action !== 'prune' || action.backup_ids.join() !== expectedPruned) {
    const did = result.actions.map((a) => `${a.action} ${a.backup_ids.join('+')}`).join(', ') || 'nothing';
    throw new Error(`prune job ${prune.job_id} after ${backupId} did ${did}; expected one prune of ${expectedPruned}`);
  }
  if (!backup.finished_at || !prune.started_at) throw new Error(`backup job ${backup.job_id} or prune job ${prune.job_id} has no times`);
  return {
    backupId,
    prunedId: expectedPruned,
    backupS: jobSeconds(backup),
    pruneS: jobSeconds(prune),
    waitS: (Date.parse(prune.started_at) - Date.parse(backup.finished_at)) / 1000,
    mergeS: action.duration_ms / 1000,
    verifyS: (result.duration_ms - action.duration_ms) / 1000,
    mergedBytes: action.bytes,
  };
}
