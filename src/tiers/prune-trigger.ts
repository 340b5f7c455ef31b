import type { Logger } from 'pino';
import type { JobEvents, JobSubmission } from '../jobs/job-runner.js';
import type { Policy } from '../policy/policy.js';
import type { PlacedPoint } from '../repo/point.js';
import type { PruneRequest } from './prune-operation.js';

export interface PruneTriggerDeps {
  policyOf: (domainUuid: string) => Promise<Policy>;
  submit: (submission: JobSubmission) => Promise<unknown>;
  log: Logger;
}

/** Whether a policy can ever remove or move a point: without retention or a slow tier, a prune has nothing to do. */
export function policyPrunes(policy: Pick<Policy, 'retention' | 'tiers'>): boolean {
  return policy.retention !== null || policy.tiers.slow !== null;
}

/**
 * Submits a prune job after each scheduled backup that succeeded, naming the new point
 * (verified before anything goes). A manual point changes nothing a prune decides. A
 * domain whose policy never prunes gets no job, so a policy-less agent does no extra work.
 */
export function pruneAfterBackup(deps: PruneTriggerDeps): Partial<JobEvents> {
  return {
    finished: (job) => {
      if (job.action !== 'backup' || job.state !== 'succeeded') return;
      const point = job.result as PlacedPoint | null;
      if (point?.kind !== 'scheduled') return;
      void submitPrune(deps, { uuid: job.domain_uuid, name: job.domain_name }, point.backup_id);
    },
  };
}

/** Submits the domain's prune (once per triggering point); a failure is logged: the next backup or sweep tries again. */
export async function submitPrune(deps: PruneTriggerDeps, domain: { uuid: string; name: string }, afterBackup: string | null): Promise<void> {
  try {
    if (!policyPrunes(await deps.policyOf(domain.uuid))) return;
    const request: PruneRequest = { afterBackup };
    await deps.submit({
      action: 'prune',
      domain: { requested: domain.uuid, uuid: domain.uuid, name: domain.name },
      args: { ...request },
      context: {},
      requestId: null,
      uniqueId: afterBackup === null ? null : `prune:${domain.uuid}:${afterBackup}`,
    });
  } catch (err) {
    deps.log.warn({ domain: domain.name, domain_uuid: domain.uuid, after_backup: afterBackup, err: (err as Error).message }, 'prune not started; it is tried again after the next backup');
  }
}
