/**
 * Chains as the policy sees them: split by parent links, the open chain, and the links
 * once pruned points are merged into their children.
 */
import { describe, expect, it } from 'vitest';
import { afterMerges, chainsOf, openChainOf, tierChains } from '../../src/policy/chains.js';
import { chain, ids, manualPoint, point } from './fixtures/policy-points.js';

const T0 = '2026-03-02T22:00:00.000Z';

describe('chainsOf: a full and the incrementals on it, oldest chain first', () => {
  it('splits interleaved input by parent links, whatever order it comes in', () => {
    const [a, b] = [chain('a', T0, 3, 60), chain('b', '2026-03-03T22:00:00.000Z', 2, 60)];
    const chains = chainsOf([b[1]!, a[2]!, b[0]!, a[0]!, a[1]!]);
    expect(chains.map(ids)).toEqual([['a1', 'a2', 'a3'], ['b1', 'b2']]);
  });

  it('starts a chain at a point whose parent it cannot see, and ends a parent loop', () => {
    expect(chainsOf([point('x2', T0, 'x1')]).map(ids)).toEqual([['x2']]);
    const loop = [point('l1', T0, 'l2'), point('l2', '2026-03-02T22:01:00.000Z', 'l1')];
    expect(chainsOf(loop).flat()).toHaveLength(2);
  });

  it('tierChains takes the scheduled points of one tier only', () => {
    const points = [...chain('f', T0, 2, 60), ...chain('s', T0, 2, 60, { tier: 'slow' }), manualPoint('m1', T0)];
    expect(tierChains(points, 'fast').map(ids)).toEqual([['f1', 'f2']]);
    expect(tierChains(points, 'slow').map(ids)).toEqual([['s1', 's2']]);
  });
});

describe('openChainOf: the fast chain the next incremental extends', () => {
  it('is the chain holding the fast tier’s newest point; slow and manual points do not count', () => {
    const points = [...chain('a', T0, 2, 60), ...chain('b', '2026-03-03T22:00:00.000Z', 2, 60), manualPoint('m1', '2026-03-09T00:00:00.000Z')];
    expect(ids(openChainOf(points)!)).toEqual(['b1', 'b2']);
    expect(openChainOf(chain('s', T0, 2, 60, { tier: 'slow' }))).toBeNull();
  });
});

describe('afterMerges: a pruned point is merged into its child', () => {
  it('gives the child the pruned point’s parent, and makes it a full when that was the full', () => {
    const left = afterMerges(chain('a', T0, 4, 60), new Set(['a1', 'a3']));
    expect(left.map((p) => [p.backup_id, p.parent, p.mode])).toEqual([
      ['a2', null, 'full'],
      ['a4', 'a2', 'incremental'],
    ]);
  });
});
