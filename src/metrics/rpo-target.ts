import type { Plan, Policy } from '../policy/policy.js';
import { compileSchedule, type CompiledSchedule } from '../policy/schedule/compile.js';
import { nextSlotMs } from '../policy/schedule/next-slot.js';
import { DAY_MS } from '../policy/schedule/zoned-time.js';

/**
 * The RPO a domain's policy promises, to set beside `virt_dr_rpo_seconds` (the age of the
 * newest point off the host). Right before a scheduled backup lands, that age is at most
 * the gap since the previous slot, plus the secondary's delay before the copy starts:
 *
 *   target = longest gap between two consecutive slots + largest secondary delay_s
 *
 * Jitter adds nothing: a domain's start is its slot plus the same jitter every slot, so the
 * gap between two starts is the gap between two slots. The time a backup and its copy take
 * is not in the target: it is the slack an alert on `rpo / target` allows (say 1.5).
 */

/**
 * Calendar gaps are measured over the slots of the 35 days from the start of today (UTC):
 * five weeks hold every gap of an hour/weekday pattern and of a monthly one, and the next
 * week's DST change if there is one.
 */
const CALENDAR_SPAN_MS = 35 * DAY_MS;
/** Past the first week, a schedule this dense stops early: its weekly pattern has been seen. */
const DENSE_SLOTS = 2_016;
const WEEK_MS = 7 * DAY_MS;

/** The target in seconds; null when the policy has no schedule (backups only by request). */
export function rpoTargetSeconds(policy: Pick<Policy, 'schedule' | 'plan'>, nowMs: number): number | null {
  if (policy.schedule === null) return null;
  return longestGapMs(compileSchedule(policy.schedule), startOfUtcDay(nowMs)) / 1000 + largestDelayS(policy.plan);
}

/** The longest gap between consecutive slots after `fromMs`: the interval, or the widest calendar gap in the span. */
export function longestGapMs(schedule: CompiledSchedule, fromMs: number): number {
  if (schedule.kind === 'interval') return schedule.intervalMs;
  const first = nextSlotMs(schedule, fromMs);
  let longest = 0;
  let slots = 1;
  for (let slot = first; slot - first < CALENDAR_SPAN_MS; slots++) {
    const following = nextSlotMs(schedule, slot);
    longest = Math.max(longest, following - slot);
    slot = following;
    if (slots >= DENSE_SLOTS && slot - first >= WEEK_MS) break;
  }
  return longest;
}

/** The RPO counts a point once a secondary holds it (the primary only when the plan has none). */
export function largestDelayS(plan: Pick<Plan, 'secondaries'>): number {
  return plan.secondaries.reduce((largest, { delay_s: delay }) => Math.max(largest, delay), 0);
}

/**
 * `rpoTargetSeconds`, remembered per schedule and plan for the UTC day: a scrape reads every
 * domain's policy, and most domains share a handful of them.
 */
export function rpoTargetMemo(): (policy: Pick<Policy, 'schedule' | 'plan'>, nowMs: number) => number | null {
  let day = -1;
  const targets = new Map<string, number | null>();
  return (policy, nowMs) => {
    if (startOfUtcDay(nowMs) !== day) {
      day = startOfUtcDay(nowMs);
      targets.clear();
    }
    const key = JSON.stringify([policy.schedule, largestDelayS(policy.plan)]);
    let target = targets.get(key);
    if (target === undefined) targets.set(key, (target = rpoTargetSeconds(policy, nowMs)));
    return target;
  };
}

function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}
