/**
 * The tier rules as a plan of actions: fast -> slow after T2 (after_s), early moves when
 * fast is over capacity, drops when slow is, and retention's prunes first.
 */
import { describe, expect, it } from 'vitest';
import { planTiers, type PolicyAction } from '../../src/policy/tier-plan.js';
import type { Capacity, Retention, Tiers } from '../../src/policy/policy.js';
import type { PolicyPoint } from '../../src/policy/chains.js';
import { after, chain, manualPoint } from './fixtures/policy-points.js';

const T0 = '2026-03-02T22:00:00.000Z';
const tiers = (fast: Capacity | null, slow: Capacity | null | 'none'): Tiers => ({
  fast: { target: 'ssd', capacity: fast },
  slow: slow === 'none' ? null : { target: 'hdd', capacity: slow, after_s: 600 },
  manual: { target: 'reserved', capacity: { count: 1 } },
});
const plan = (points: PolicyPoint[], t: Tiers, nowS: number, retention: Retention | null = null) =>
  planTiers({ points, retention, tiers: t, tz: 'UTC', now: new Date(after(T0, nowS)) });
const brief = (actions: PolicyAction[]) => actions.map((a) => `${a.action} ${a.from_tier}${'to_tier' in a ? `->${a.to_tier}` : ''} ${a.backup_ids.join(',')}`);

// a: a closed chain (newest point at +60 s); b: the open chain (newest at +180 s).
const fastAB = [...chain('a', T0, 2, 60), ...chain('b', after(T0, 120), 2, 60)];

describe('fast -> slow after T2 (after_s 600)', () => {
  it.each([
    { nowS: 600, moves: [] },
    { nowS: 661, moves: ['move fast->slow a1,a2'] },
    { nowS: 780, moves: ['move fast->slow a1,a2'] },
    // The open chain moves too once its newest point is older than T2 (backups stopped).
    { nowS: 781, moves: ['move fast->slow a1,a2', 'move fast->slow b1,b2'] },
  ])('at +$nowS s: $moves', ({ nowS, moves }) => {
    expect(brief(plan(fastAB, tiers(null, null), nowS).actions)).toEqual(moves);
  });

  it('says how old the chain is; manual points never move', () => {
    const { actions } = plan([...fastAB, manualPoint('m1', after(T0, -86_400))], tiers(null, null), 661);
    expect(actions).toEqual([{ action: 'move', backup_ids: ['a1', 'a2'], from_tier: 'fast', to_tier: 'slow', reason: 'its newest point is 601 s old, older than after_s 600' }]);
  });
});

describe('fast over capacity', () => {
  const threeChains = [...fastAB, ...chain('c', after(T0, 240), 2, 60)];

  it('with a slow tier: its oldest chains move early until it fits', () => {
    const { actions, warnings } = plan(threeChains, tiers({ count: 4 }, null), 300);
    expect(actions).toEqual([{ action: 'move', backup_ids: ['a1', 'a2'], from_tier: 'fast', to_tier: 'slow', reason: 'fast tier of target ssd is over capacity: 6 of 4 points' }]);
    expect(warnings).toEqual([]);
  });

  it('never the open chain: what is left over is reported', () => {
    const { actions, warnings } = plan(threeChains, tiers({ bytes: 150 }, null), 300);
    expect(brief(actions)).toEqual(['move fast->slow a1,a2', 'move fast->slow b1,b2']);
    expect(warnings).toEqual(['fast tier of target ssd is over capacity: 200 of 150 bytes, and only its open chain is left']);
  });

  it('without a slow tier: nothing moves or goes; the caller is told', () => {
    const { actions, warnings } = plan(threeChains, tiers({ count: 4 }, 'none'), 300);
    expect(actions).toEqual([]);
    expect(warnings).toEqual(['fast tier of target ssd is over capacity: 6 of 4 points, and there is no slow tier']);
  });
});

describe('slow over capacity: its oldest chains are dropped whole', () => {
  const inSlow = [...chain('s', after(T0, -7200), 2, 60, { tier: 'slow' }, [300, 100]), ...chain('t', after(T0, -3600), 2, 60, { tier: 'slow' }, [300, 100])];
  const fast = [...chain('a', T0, 2, 60, {}, [300, 100]), ...chain('b', after(T0, 3600), 2, 60)];

  it.each([
    { capacity: { count: 4 }, drops: ['drop slow s1,s2'], reason: 'slow tier of target hdd is over capacity: 6 of 4 points' },
    { capacity: { count: 2 }, drops: ['drop slow s1,s2', 'drop slow t1,t2'], reason: 'slow tier of target hdd is over capacity: 6 of 2 points' },
    { capacity: { bytes: 1000 }, drops: ['drop slow s1,s2'], reason: 'slow tier of target hdd is over capacity: 1200 of 1000 bytes' },
    { capacity: { bytes: 1200 }, drops: [], reason: undefined },
  ])('$capacity, counting the chain that moves in: $drops', ({ capacity, drops, reason }) => {
    // At +661 s chain a is older than T2 and moves in; b (the open chain) stays.
    const { actions } = plan([...inSlow, ...fast], tiers(null, capacity), 661);
    expect(brief(actions)).toEqual(['move fast->slow a1,a2', ...drops]);
    expect(actions.find((a) => a.action === 'drop')?.reason).toBe(reason);
  });

  it('a moving chain that slow cannot hold is dropped from fast, not copied first', () => {
    const { actions } = plan(fast, tiers(null, { count: 1 }), 661);
    expect(actions).toEqual([
      {
        action: 'drop',
        backup_ids: ['a1', 'a2'],
        from_tier: 'fast',
        reason: 'its newest point is 601 s old, older than after_s 600, but the slow tier of target hdd is over capacity: 2 of 1 points',
      },
    ]);
  });

  it('never drops the chain with the domain’s last backup: it moves, and the excess is reported', () => {
    const stopped = chain('a', T0, 3, 60);
    const { actions, warnings } = plan(stopped, tiers(null, { count: 2 }), 86_400);
    expect(brief(actions)).toEqual(['move fast->slow a1,a2,a3']);
    expect(warnings).toEqual(["slow tier of target hdd is over capacity: 3 of 2 points, and only the chain with the domain's last backup is left"]);
  });
});

describe('retention first, then the tiers judge what remains', () => {
  it('prunes oldest first, and moves the merged rest of the chain (1 point: slow’s count of 2 holds it)', () => {
    const { actions } = plan(fastAB, tiers(null, { count: 2 }), 661, { max_count: 3 });
    expect(actions).toEqual([
      { action: 'prune', backup_ids: ['a1'], from_tier: 'fast', reason: 'beyond max_count 3' },
      { action: 'move', backup_ids: ['a2'], from_tier: 'fast', to_tier: 'slow', reason: 'its newest point is 601 s old, older than after_s 600' },
    ]);
  });
});
