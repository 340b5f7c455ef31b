import type { Plan, SecondarySpec } from './policy.js';

/**
 * Which of a plan's secondaries receive a domain's copies, and in which order to fill them.
 * Pure: the caller asks each target for its free bytes and lists which ones hold the
 * domain's points already.
 *
 * - `copies - 1` secondaries: the primary holds one copy.
 * - Those already holding the domain's points are chosen first: an incremental is only
 *   useful next to its parent, and moving a domain's history to another target costs a
 *   new full there.
 * - Then the most free space first (issue 11: "in order of their free space"); a target
 *   whose free space is unknown (unreachable, or it cannot tell) comes last, since it
 *   cannot be shown to have room. Ties keep the plan's order, the operator's preference.
 * - The chosen ones are returned most free first: the order the copies are made in.
 * A secondary naming the primary is skipped: it would count one copy twice.
 */
export function chooseSecondaries(plan: Plan, freeBytes: ReadonlyMap<string, number | null>, holding: ReadonlySet<string>): SecondarySpec[] {
  const candidates = plan.secondaries.filter((s) => s.target !== plan.primary);
  const byFree = (a: SecondarySpec, b: SecondarySpec) => {
    const [fa, fb] = [freeBytes.get(a.target) ?? null, freeBytes.get(b.target) ?? null];
    if (fa === fb) return candidates.indexOf(a) - candidates.indexOf(b);
    if (fa === null) return 1;
    if (fb === null) return -1;
    return fb - fa;
  };
  const holdingFirst = (a: SecondarySpec, b: SecondarySpec) => Number(holding.has(b.target)) - Number(holding.has(a.target)) || byFree(a, b);
  return [...candidates].sort(holdingFirst).slice(0, Math.max(0, plan.copies - 1)).sort(byFree);
}
