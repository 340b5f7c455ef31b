import type { JobOperation } from '../jobs/job-runner.js';
import type { OperationContext } from '../backup/operation-context.js';
import { BackupInUse } from '../errors.js';
import type { PendingInstantStore } from '../restore/pending-instant.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { KeyedLock } from '../util/keyed-lock.js';

/** What a delete needs of a repository target. */
export type PointPlace = Pick<RepositoryTarget, 'name' | 'deletePoint' | 'finishDelete'>;

/** What a delete journals: the places it has finished, so a restart goes on with the rest. */
export interface DeleteRecord {
  action: 'delete';
  backup_id: string;
  /** Names of the places (repository targets) the point is gone from. */
  done: string[];
}

export interface DeleteResult {
  backup_id: string;
  /** Per place: the points the deleted one was merged into there, and the bytes written. */
  places: { place: string; merged_into: string[]; bytes_written: number }[];
  duration_ms: number;
}

/**
 * The delete_backup action: the point goes from every place that holds it, one place at
 * a time, each place's delete crash-safe on its own (a child is merged first, the point's
 * folder goes last). Refused again at run time when an instant restore has begun reading
 * the point since the request was accepted.
 */
export function deleteOperation(deps: { places: PointPlace[]; pending: PendingInstantStore; locks: KeyedLock }): JobOperation {
  return {
    async run(job, ctx: OperationContext<DeleteRecord>) {
      const started = Date.now();
      const backupId = (job.request.args as { backupId: string }).backupId;
      const user = await deps.pending.userOf(job.domain_uuid, backupId);
      if (user) throw new BackupInUse(`backup ${backupId} is read by the unfinished instant restore of ${user.domain_name}`);
      const record: DeleteRecord = { action: 'delete', backup_id: backupId, done: [] };
      // The replicator copies none of the domain's points meanwhile, so none comes back.
      const places = await deps.locks.run(job.domain_uuid, () => deleteEverywhere(deps.places, job.domain_uuid, record, ctx));
      return { backup_id: backupId, places, duration_ms: Date.now() - started } satisfies DeleteResult;
    },

    async recover(job) {
      const record = job.checkpoint as DeleteRecord | null;
      if (!record) return 'it had not changed anything yet';
      return finishDeleteEverywhere(deps.places, job.domain_uuid, record);
    },
  };
}

/**
 * Deletes the record's point from every place that still holds it, one place at a time,
 * journaling (`ctx.checkpoint`) each place it has finished, so a restart goes on with the rest.
 */
export async function deleteEverywhere(
  places: readonly PointPlace[],
  domainUuid: string,
  record: DeleteRecord,
  ctx: OperationContext<DeleteRecord>,
): Promise<DeleteResult['places']> {
  const reports: DeleteResult['places'] = [];
  for (const place of places.filter((p) => !record.done.includes(p.name))) {
    await ctx.checkpoint(record);
    const report = await place.deletePoint(domainUuid, record.backup_id, {
      signal: ctx.signal,
      onTotal: (bytes) => ctx.progress.setTotal(bytes),
      onBytes: (bytes) => ctx.progress.add(bytes),
    });
    if (report) reports.push({ place: place.name, merged_into: report.merged_into, bytes_written: report.bytes_written });
    record.done.push(place.name);
  }
  return reports;
}

/** Settles a delete a crash interrupted, in each place it had not finished; says what became of it. */
export async function finishDeleteEverywhere(places: readonly PointPlace[], domainUuid: string, record: DeleteRecord): Promise<string> {
  const outcomes: string[] = [];
  for (const place of places.filter((p) => !record.done.includes(p.name))) {
    const outcome = await place.finishDelete(domainUuid, record.backup_id);
    outcomes.push(`${outcome === 'deleted' ? 'deleted from' : 'kept in'} ${place.name}`);
  }
  return `backup ${record.backup_id}: ${outcomes.join(', ') || 'already deleted everywhere'}`;
}
