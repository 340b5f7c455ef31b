import type { JobOperation } from '../jobs/job-runner.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { RestoreRequest } from '../restore/request.js';
import { ownerDisksOf } from '../restore/owner-disks.js';
import type { DomainRecordStore } from '../util/domain-records.js';
import type { FailoverRecord } from './failover-record.js';
import { refuseSplitBrain, type AskHome } from './home-check.js';
import { mapPath, type HostMapping } from './host-mapping.js';

/** A failover job's args: an instant restore of the domain as itself, and whether to skip the home check. */
export interface FailoverRequest extends RestoreRequest {
  force: boolean;
}

/** The restore a failover is: the domain keeps its name and UUID, runs at once, copies in the background. */
export function failoverRestore(backupId: string, force: boolean): FailoverRequest {
  return { backupId, target: 'replace', newName: null, instant: true, resume: false, definitionFrom: null, force };
}

/**
 * The failover action: the DR node defines and starts the domain from a point in its own
 * repository, on a new overlay over that point (the point stays as it is), fitted to this
 * host by `failover.*_map`, then copies the point into the overlay while the guest runs.
 * That is the instant restore, so its journal, recovery and resume are the restore's.
 * The home host is asked again when the job runs: it may have come back since the request.
 */
export function failoverOperation(deps: {
  restore: JobOperation;
  repo: RepositoryTarget;
  askHome: AskHome;
  mapping: HostMapping;
  records: DomainRecordStore<FailoverRecord>;
}): JobOperation {
  return {
    async run(job, ctx) {
      const request = job.request.args as unknown as FailoverRequest;
      const point = await deps.repo.getPoint(job.domain_uuid, request.backupId);
      const verdict = await refuseSplitBrain(point, request.force, deps.askHome);
      ctx.log.info({ backup_id: point.backup_id, home: point.host, verdict }, 'failing over');
      // Before the domain first runs here: failback needs to know where it goes back to.
      await deps.records.save(job.domain_uuid, {
        domain_uuid: job.domain_uuid,
        domain_name: point.domain,
        home_host: point.host,
        home_backup_id: point.backup_id,
        disks: (await ownerDisksOf(point.domain_xml)).map((d) => mapPath(deps.mapping, d.file)),
        failed_over_at: new Date().toISOString(),
      });
      // Kept if the restore fails: a domain may run here on its overlay all the same, and
      // failback looks the domain up before it trusts the record.
      return deps.restore.run(job, ctx);
    },
    recover: (job, log) => deps.restore.recover(job, log),
  };
}
