import type { Policy } from '../policy/policy.js';
import { calendarZoneOf } from '../policy/schedule/calendar-zone.js';
import { planTiers, type TierPlan } from '../policy/tier-plan.js';
import { scanTiers, type TierTargets, type TieredScan } from './tier-view.js';

/** What a domain's policy would do to its points now: its points as the tiers hold them, and the plan. */
export async function planDomain(policy: Policy, tiers: TierTargets, domainUuid: string, now: Date): Promise<{ scan: TieredScan; plan: TierPlan }> {
  const scan = await scanTiers(tiers, domainUuid);
  const plan = planTiers({
    points: scan.points.map((p) => p.manifest),
    retention: policy.retention,
    tiers: policy.tiers,
    // GFS counts days, weeks and months in the schedule's zone.
    tz: calendarZoneOf(policy.schedule),
    now,
  });
  return { scan, plan };
}
