/**
 * Which secondaries receive a domain's copies: copies-1 of them, those holding its points
 * first, then the most free space; returned in the order to fill (most free first).
 */
import { describe, expect, it } from 'vitest';
import { chooseSecondaries } from '../../src/policy/secondaries.js';
import type { Plan } from '../../src/policy/policy.js';

const plan = (copies: number, targets = ['a', 'b', 'c']): Plan => ({
  primary: 'ssd',
  secondaries: targets.map((target, i) => ({ target, delay_s: 60 * i })),
  copies,
});
const free = (entries: Record<string, number | null>) => new Map(Object.entries(entries));
const chosen = (p: Plan, f: Map<string, number | null>, holding: string[] = []) => chooseSecondaries(p, f, new Set(holding)).map((s) => s.target);

describe('chooseSecondaries', () => {
  const space = free({ a: 100, b: 500, c: null });

  it.each([
    { copies: 3, holding: [], expected: ['b', 'a'], why: 'two secondaries, most free first' },
    { copies: 2, holding: [], expected: ['b'], why: 'copies 2 picks the one with most free space' },
    { copies: 2, holding: ['a'], expected: ['a'], why: 'the one holding the domain’s chains comes first' },
    { copies: 3, holding: ['c'], expected: ['b', 'c'], why: 'holding first even with unknown free space; filled most free first' },
    { copies: 4, holding: [], expected: ['b', 'a', 'c'], why: 'unknown free space last' },
    { copies: 1, holding: [], expected: [], why: 'the primary is the only copy' },
    { copies: 9, holding: [], expected: ['b', 'a', 'c'], why: 'never more than the plan names' },
  ])('$why', ({ copies, holding, expected }) => {
    expect(chosen(plan(copies), space, holding)).toEqual(expected);
  });

  it('keeps the plan’s order on equal free space, keeps delay_s, and skips a secondary naming the primary', () => {
    expect(chosen(plan(4), free({ a: 100, b: 100, c: 100 }))).toEqual(['a', 'b', 'c']);
    expect(chosen(plan(3, ['ssd', 'a', 'b']), free({ ssd: 900, a: 1, b: 2 }))).toEqual(['b', 'a']);
    expect(chooseSecondaries(plan(2), space, new Set())).toEqual([{ target: 'b', delay_s: 60 }]);
  });
});
