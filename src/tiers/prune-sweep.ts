import { tierTargetsOf } from '../backup/placement.js';
import type { DomainRef } from '../libvirt/hypervisor.js';
import type { Policy } from '../policy/policy.js';
import type { RepositoryTarget } from '../repo/target.js';
import { every, type Periodic } from '../util/periodic.js';
import { policyPrunes, submitPrune, type PruneTriggerDeps } from './prune-trigger.js';
import { planDomain } from './plan-domain.js';

export interface PruneSweepDeps extends PruneTriggerDeps {
  listDomains: () => Promise<DomainRef[]>;
  byName: (name: string) => RepositoryTarget;
  intervalMs: number;
  now: () => Date;
}

/**
 * Between backups, time alone can make a policy act: a chain's newest point grows older
 * than T2 when backups stop. Every `intervalMs` each domain's points are planned against
 * its policy, and a prune job is started only for a domain whose plan has actions, so a
 * quiet host runs no jobs.
 */
export function sweepPolicies(deps: PruneSweepDeps): Periodic {
  return every(deps.intervalMs, async () => {
    for (const domain of await deps.listDomains()) {
      try {
        const policy = await deps.policyOf(domain.uuid);
        if (policyPrunes(policy) && (await hasWork(deps, policy, domain.uuid))) await submitPrune(deps, domain, null);
      } catch (err) {
        deps.log.warn({ domain: domain.name, err: (err as Error).message }, 'policy sweep could not plan the domain');
      }
    }
  });
}

async function hasWork(deps: PruneSweepDeps, policy: Policy, domainUuid: string): Promise<boolean> {
  const { plan } = await planDomain(policy, tierTargetsOf(policy.tiers, deps.byName), domainUuid, deps.now());
  return plan.actions.length > 0;
}
