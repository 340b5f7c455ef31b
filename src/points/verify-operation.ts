import type { JobOperation } from '../jobs/job-runner.js';
import type { RepositoryTarget } from '../repo/target.js';
import { verifyPoints, type VerifyReport } from '../repo/verify-points.js';
import type { PointHolder } from '../tiers/point-holder.js';
import { targetsOfTiers, type TierTargets } from '../tiers/tier-view.js';

export interface VerifyDeps {
  holderOf: PointHolder;
  tierTargets: (domainUuid: string) => Promise<TierTargets>;
}

/** A verify's result: each verdict names the target it was read on. */
export type TieredVerifyReport = Omit<VerifyReport, 'points'> & { points: (VerifyReport['points'][number] & { target: string })[] };

/**
 * The verify action: re-reads a point (and the points it builds on) where its tier keeps
 * it, or every point of a domain in each of its tiers. Finding a corrupt point is the
 * job's result, not its failure: the job fails only when it cannot read a target at all.
 */
export function verifyOperation(deps: VerifyDeps): JobOperation {
  return {
    async run(job, ctx) {
      const backupId = (job.request.args as { backupId: string | null }).backupId;
      const targets: RepositoryTarget[] =
        backupId === null ? targetsOfTiers(await deps.tierTargets(job.domain_uuid)) : [await deps.holderOf(job.domain_uuid, backupId, { signal: ctx.signal })];
      let total = 0;
      const reports: TieredVerifyReport[] = [];
      for (const target of targets) {
        const report = await verifyPoints(target, job.domain_uuid, backupId, {
          signal: ctx.signal,
          onTotal: (bytes) => ctx.progress.setTotal((total += bytes)),
          onBytes: (bytes) => ctx.progress.add(bytes),
        });
        reports.push({ ...report, points: report.points.map((p) => ({ ...p, target: target.name })) });
      }
      return merged(reports);
    },
    // Verify only reads: there is nothing to repair.
    recover: async () => 'verify changes nothing; run it again',
  };
}

function merged(reports: TieredVerifyReport[]): TieredVerifyReport {
  const sum = (key: 'ok' | 'corrupt' | 'missing' | 'bytes_read') => reports.reduce((total, r) => total + r[key], 0);
  return { points: reports.flatMap((r) => r.points), ok: sum('ok'), corrupt: sum('corrupt'), missing: sum('missing'), bytes_read: sum('bytes_read') };
}
