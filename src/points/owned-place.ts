import type { CallAgent } from '../bus/agent-call.js';
import { CallTimeout, RemoteError } from '../bus/rpc-client.js';
import { TargetOperationFailed, TargetUnreachable } from '../errors.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { DeleteResult, PointPlace } from './delete-operation.js';

/** How long a delete the owning agent does may take: a merge rewrites a child's disks. */
const OWNER_DELETE_TIMEOUT_MS = 60 * 60_000;

/**
 * A target whose repository another agent owns (a DR node's, reached over SSH): deleting a
 * point that has children means merging it into them with qemu-img, next to the files,
 * so that agent does the delete in its own repository (`delete_backup` on its queue,
 * waiting for the job), crash-safe there as here. This agent still checks the point is
 * on the target first, and says whether it is gone after a crash.
 */
export function placeOwnedBy(target: RepositoryTarget, owner: string, callAgent: CallAgent): PointPlace {
  return {
    name: target.name,
    async deletePoint(domainUuid, backupId) {
      if (!(await target.hasPoint(domainUuid, backupId))) return null;
      let job: { state: string; result: DeleteResult | null; error: { class: string; message: string } | null };
      try {
        job = await callAgent(owner, 'delete_backup', { domain: domainUuid, backup_id: backupId, wait: true }, OWNER_DELETE_TIMEOUT_MS);
      } catch (err) {
        if (err instanceof CallTimeout) throw new TargetUnreachable(`agent ${owner}, which owns ${target.location}, did not finish the delete of ${backupId} in time`);
        if (err instanceof RemoteError) throw new TargetOperationFailed(`agent ${owner}, which owns ${target.location}, refused the delete of ${backupId}: ${err.message}`);
        throw err;
      }
      if (job.state !== 'succeeded' || !job.result) {
        throw new TargetOperationFailed(`agent ${owner}, which owns ${target.location}, failed the delete of ${backupId}: ${job.error?.class}: ${job.error?.message}`);
      }
      const places = job.result.places;
      return {
        backup_id: backupId,
        merged_into: [...new Set(places.flatMap((p) => p.merged_into))],
        bytes_written: places.reduce((sum, p) => sum + p.bytes_written, 0),
      };
    },
    // The owner settles its own interrupted delete; here it only matters whether the point is gone.
    finishDelete: async (domainUuid, backupId) => ((await target.hasPoint(domainUuid, backupId)) ? 'kept' : 'deleted'),
  };
}
