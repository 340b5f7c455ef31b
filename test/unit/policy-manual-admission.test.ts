/** The manual tier refuses a backup, with the figures, once its points reach the capacity. */
import { describe, expect, it } from 'vitest';
import { manualAdmission } from '../../src/policy/capacity.js';
import type { Capacity } from '../../src/policy/policy.js';
import { manualPoint } from './fixtures/policy-points.js';

const manuals = (n: number, bytes = 100) => Array.from({ length: n }, (_, i) => manualPoint(`m${i}`, new Date(Date.UTC(2026, 2, 1 + i)).toISOString(), bytes));
const tier = (capacity: Capacity | null) => ({ target: 'reserved', capacity });

describe('manualAdmission', () => {
  it.each([
    { held: 9, capacity: { count: 10 }, expected: { admitted: true } },
    { held: 10, capacity: { count: 10 }, expected: { admitted: false, message: 'manual tier of target reserved is full: 10 of 10 points' } },
    { held: 9, capacity: { bytes: 1000 }, expected: { admitted: true } },
    { held: 10, capacity: { bytes: 1000 }, expected: { admitted: false, message: 'manual tier of target reserved is full: 1000 of 1000 bytes' } },
    { held: 11, capacity: { bytes: 1000 }, expected: { admitted: false, message: 'manual tier of target reserved is full: 1100 of 1000 bytes' } },
    { held: 500, capacity: null, expected: { admitted: true } },
  ])('$held points of 100 bytes against $capacity', ({ held, capacity, expected }) => {
    expect(manualAdmission(manuals(held), tier(capacity))).toEqual(expected);
  });
});
