import type { JobOperation } from '../jobs/job-runner.js';
import type { RepositoryTarget } from '../repo/target.js';
import { verifyPoints } from '../repo/verify-points.js';

/**
 * The verify action: re-reads a point (and the points it builds on) or every point of a
 * domain. Finding a corrupt point is the job's result, not its failure: the job fails
 * only when it cannot read the repository at all.
 */
export function verifyOperation(deps: { repo: RepositoryTarget }): JobOperation {
  return {
    run: (job, ctx) =>
      verifyPoints(deps.repo, job.domain_uuid, (job.request.args as { backupId: string | null }).backupId, {
        signal: ctx.signal,
        onTotal: (bytes) => ctx.progress.setTotal(bytes),
        onBytes: (bytes) => ctx.progress.add(bytes),
      }),
    // Verify only reads: there is nothing to repair.
    recover: async () => 'verify changes nothing; run it again',
  };
}
