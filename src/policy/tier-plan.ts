import type { Capacity, Retention, SlowTierSpec, TierName, Tiers } from './policy.js';
import { afterMerges, newestOf, openChainAmong, tierChains, timeOf, type PolicyPoint } from './chains.js';
import { describeUsage, isOver, usageOf, type Usage } from './capacity.js';
import { selectRetention } from './retention.js';

/**
 * What a domain's policy does to its points after a backup: retention's prunes, then the
 * tier rules (moves fast -> slow, drops from slow). Pure: the lead turns each action into
 * a job step and a `virt_dr.prune.*` notification; the field names are the payload's.
 *
 * The actions are in the order they must run, each assuming the ones before it
 * succeeded (on a failure, stop; the next round plans again from what the repository then
 * lists):
 * 1. prunes, oldest first: retention is decided first, so the tier rules judge only what
 *    remains (a pruned point is merged into its child, and chains are recomputed);
 * 2. moves, oldest chain first: a chain is copied, verified, switched and removed as one;
 * 3. drops, oldest chain first: a drop deletes for good, so it runs only after the moves
 *    that made it necessary arrived; a move that fails has then deleted nothing for it.
 */
export type PolicyAction =
  | { action: 'prune' | 'drop'; backup_ids: string[]; from_tier: TierName; reason: string }
  | { action: 'move'; backup_ids: string[]; from_tier: 'fast'; to_tier: 'slow'; reason: string };

export interface TierPlan {
  actions: PolicyAction[];
  /** A capacity the plan cannot meet (for the caller to log): nothing is deleted for it. */
  warnings: string[];
}

export interface TierPlanInput<P extends PolicyPoint> {
  /** The domain's points on this side, every tier and kind. */
  points: readonly P[];
  retention: Retention | null;
  tiers: Tiers;
  /** The IANA zone of GFS retention's calendar: the schedule's, or 'UTC'. */
  tz: string;
  now: Date;
}

type Move = Extract<PolicyAction, { action: 'move' }>;
const idsOf = (chain: readonly PolicyPoint[]) => chain.map((p) => p.backup_id);

export function planTiers<P extends PolicyPoint>({ points, retention, tiers, tz, now }: TierPlanInput<P>): TierPlan {
  const { prune } = selectRetention(points, retention, tz);
  const actions: PolicyAction[] = [...prune].reverse().map(({ point, reason }) => ({
    action: 'prune',
    backup_ids: [point.backup_id],
    from_tier: point.tier,
    reason,
  }));
  const remaining = afterMerges(points, new Set(prune.map(({ point }) => point.backup_id)));
  const warnings: string[] = [];
  const fastChains = tierChains(remaining, 'fast');
  if (tiers.slow === null) {
    // Nowhere to move to: retention alone decides what leaves the fast tier. Deleting for
    // capacity here would be a second, hidden retention; the caller logs it instead.
    const usage = usageOf(fastChains.flat(), tiers.fast.capacity);
    if (isOver(usage)) warnings.push(`fast tier of target ${tiers.fast.target} is over capacity: ${describeUsage(usage)}, and there is no slow tier`);
    return { actions, warnings };
  }
  const slow = tiers.slow;
  const move = (chain: P[], reason: string): Move => ({ action: 'move', backup_ids: idsOf(chain), from_tier: 'fast', to_tier: 'slow', reason });

  // T2: a chain moves once its newest point is older than after_s. The open chain too:
  // its age means backups stopped, and the next backup starts a new chain in fast.
  const moves = new Map<P[], Move>();
  for (const chain of fastChains) {
    const ageS = Math.floor((now.getTime() - timeOf(chain.at(-1)!)) / 1000);
    if (ageS > slow.after_s) moves.set(chain, move(chain, `its newest point is ${ageS} s old, older than after_s ${slow.after_s}`));
  }
  // Fast over capacity: the oldest chains leave early, never the open one, which the next
  // incremental extends (moving it would force a full on every backup).
  const open = openChainAmong(fastChains);
  const early = shedOldest(fastChains.filter((c) => !moves.has(c)), tiers.fast.capacity, (c) => c === open);
  for (const { chain, usage } of early.shed) moves.set(chain, move(chain, `fast tier of target ${tiers.fast.target} is over capacity: ${describeUsage(usage)}`));
  if (early.over) warnings.push(`fast tier of target ${tiers.fast.target} is over capacity: ${describeUsage(early.over)}, and only its open chain is left`);

  const drops = slowDrops(tierChains(remaining, 'slow'), moves, remaining, slow, warnings);
  const byAgeOfFull = ([a]: [P[], Move], [b]: [P[], Move]) => timeOf(a[0]!) - timeOf(b[0]!);
  return { actions: [...actions, ...[...moves].sort(byAgeOfFull).map(([, m]) => m), ...drops], warnings };
}

/**
 * The oldest of `chains` (oldest first) to take out until the rest fit `capacity`, each
 * with the usage that made it go; `spare` marks a chain that never goes. `over`: the
 * usage still over capacity once only spared chains are left, or null.
 */
function shedOldest<P extends PolicyPoint>(chains: readonly P[][], capacity: Capacity | null, spare: (chain: P[]) => boolean) {
  const left = new Set(chains);
  const shed: { chain: P[]; usage: Usage }[] = [];
  for (const chain of chains) {
    const usage = usageOf([...left].flat(), capacity);
    if (!isOver(usage)) break;
    if (spare(chain)) continue;
    left.delete(chain);
    shed.push({ chain, usage });
  }
  const usage = usageOf([...left].flat(), capacity);
  return { shed, over: isOver(usage) ? usage : null };
}

/**
 * Slow over capacity, counting the chains that move in this round: its oldest chains are
 * dropped whole (a part of a chain restores nothing), oldest first, until it fits. A
 * moving chain that would be dropped at once is dropped from fast instead of copied first.
 * The chain holding the domain's newest scheduled point is never dropped: a slow tier too
 * small for one chain is a policy error to report, not a reason to leave no backup at all.
 */
function slowDrops<P extends PolicyPoint>(slowChains: P[][], moves: Map<P[], Move>, remaining: readonly P[], slow: SlowTierSpec, warnings: string[]): PolicyAction[] {
  const last = newestOf(remaining.filter((p) => p.kind === 'scheduled'));
  const held = [...slowChains, ...moves.keys()].sort((a, b) => timeOf(a[0]!) - timeOf(b[0]!));
  const { shed, over } = shedOldest(held, slow.capacity, (c) => last !== null && c.includes(last));
  const why = (usage: Usage) => `slow tier of target ${slow.target} is over capacity: ${describeUsage(usage)}`;
  if (over) warnings.push(`${why(over)}, and only the chain with the domain's last backup is left`);
  return shed.map(({ chain, usage }) => {
    const moving = moves.get(chain);
    moves.delete(chain);
    const reason = moving ? `${moving.reason}, but the ${why(usage)}` : why(usage);
    return { action: 'drop', backup_ids: idsOf(chain), from_tier: moving ? 'fast' : 'slow', reason };
  });
}
