/** chain_length: a new full after N incrementals in the open chain; 0 is unlimited. */
import { describe, expect, it } from 'vitest';
import { modeForNextBackup } from '../../src/policy/chain-length.js';
import { chain } from './fixtures/policy-points.js';

const T0 = '2026-03-02T22:00:00.000Z';

describe('modeForNextBackup', () => {
  it.each([
    { points: 0, chainLength: 3, mode: 'full', reason: 'the fast tier has no open chain' },
    { points: 1, chainLength: 3, mode: 'auto', reason: null },
    { points: 3, chainLength: 3, mode: 'auto', reason: null },
    { points: 4, chainLength: 3, mode: 'full', reason: 'chain_length 3 reached' },
    { points: 2, chainLength: 1, mode: 'full', reason: 'chain_length 1 reached' },
    { points: 11, chainLength: 0, mode: 'auto', reason: null },
  ])('open chain of $points points, chain_length $chainLength: $mode', ({ points, chainLength, mode, reason }) => {
    const open = points === 0 ? null : chain('a', T0, points, 60);
    expect(modeForNextBackup(open, chainLength)).toEqual({ mode, reason });
  });
});
