/**
 * The count cap (max_count) with a chain length, as the integration run uses them: a cap
 * of 4 and a chain length of 3, simulated backup by backup. After each backup the plan
 * prunes; the repository merges each pruned point into its child (afterMerges).
 */
import { describe, expect, it } from 'vitest';
import { afterMerges, chainsOf, newestOf, openChainOf, type PolicyPoint } from '../../src/policy/chains.js';
import { modeForNextBackup } from '../../src/policy/chain-length.js';
import { selectRetention } from '../../src/policy/retention.js';
import { planTiers } from '../../src/policy/tier-plan.js';
import type { Tiers } from '../../src/policy/policy.js';
import { after, ids, manualPoint, point } from './fixtures/policy-points.js';

const T0 = '2026-03-02T22:00:00.000Z';
const TIERS: Tiers = { fast: { target: 'ssd', capacity: null }, slow: null, manual: { target: 'reserved', capacity: null } };

/** Seven scheduled backups 30 s apart under max_count 4 and chain_length 3: the repository after each. */
function simulate(backups: number) {
  let repo: PolicyPoint[] = [];
  const rounds = [];
  for (let n = 1; n <= backups; n++) {
    const now = after(T0, 30 * n);
    const open = openChainOf(repo);
    const next = modeForNextBackup(open, 3);
    repo.push(point(`p${n}`, now, next.mode === 'full' ? null : newestOf(open!)!.backup_id));
    const plan = planTiers({ points: repo, retention: { max_count: 4 }, tiers: TIERS, tz: 'UTC', now: new Date(now) });
    repo = afterMerges(repo, new Set(plan.actions.flatMap((a) => a.backup_ids)));
    rounds.push({ mode: next.mode, why: next.reason, actions: plan.actions, chains: chainsOf(repo).map(ids) });
  }
  return rounds;
}

describe('max_count 4 with chain_length 3', () => {
  const rounds = simulate(7);

  it.each([
    { after: 1, mode: 'full', pruned: [], chains: [['p1']] },
    { after: 2, mode: 'auto', pruned: [], chains: [['p1', 'p2']] },
    { after: 3, mode: 'auto', pruned: [], chains: [['p1', 'p2', 'p3']] },
    { after: 4, mode: 'auto', pruned: [], chains: [['p1', 'p2', 'p3', 'p4']] },
    // p4 is the third incremental: p5 starts a chain; the cap takes p1, merged into p2 (now the full).
    { after: 5, mode: 'full', pruned: ['p1'], chains: [['p2', 'p3', 'p4'], ['p5']] },
    { after: 6, mode: 'auto', pruned: ['p2'], chains: [['p3', 'p4'], ['p5', 'p6']] },
    { after: 7, mode: 'auto', pruned: ['p3'], chains: [['p4'], ['p5', 'p6', 'p7']] },
  ])('after $after backups: the new one is $mode, $pruned pruned, keeps $chains', ({ after: n, mode, pruned, chains }) => {
    const round = rounds[n - 1]!;
    expect(round.mode).toBe(mode);
    expect(round.actions.map((a) => a.backup_ids[0])).toEqual(pruned);
    expect(round.chains).toEqual(chains);
  });

  it('says why: the full for the chain length, the prune for the cap', () => {
    expect(rounds[4]!.why).toBe('chain_length 3 reached');
    expect(rounds[4]!.actions).toEqual([{ action: 'prune', backup_ids: ['p1'], from_tier: 'fast', reason: 'beyond max_count 4' }]);
  });
});

describe('retention’s reach', () => {
  const scheduled = [point('f1', T0), point('f2', after(T0, 60), 'f1'), point('s1', after(T0, -3600), null, { tier: 'slow' })];

  it('counts fast and slow together, never selects a manual point, and keeps the newest even at max_count 0', () => {
    const points = [...scheduled, manualPoint('m1', after(T0, -7200)), manualPoint('m2', after(T0, 120))];
    const one = selectRetention(points, { max_count: 1 }, 'UTC');
    expect(one.keep.map((k) => [k.point.backup_id, k.by])).toEqual([['f2', 'max_count']]);
    expect(one.prune.map((p) => p.point.backup_id)).toEqual(['f1', 's1']);
    const none = selectRetention(points, { max_count: 0 }, 'UTC');
    expect(none.keep.map((k) => [k.point.backup_id, k.by])).toEqual([['f2', 'newest']]);
  });

  it('keeps everything without a retention, or with a GFS retention that keeps nothing by any rule', () => {
    for (const retention of [null, {}, { keep_last: 0, daily: 0 }]) {
      expect(selectRetention(scheduled, retention, 'UTC').prune).toEqual([]);
    }
  });
});
