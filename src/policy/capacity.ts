import type { Capacity, TierSpec } from './policy.js';
import type { PolicyPoint } from './chains.js';

/**
 * How full a tier is against its capacity, counted the one way its capacity names: points,
 * or the bytes they store. Shared by the tier plan (over capacity: move or drop) and by
 * manual admission (full: refuse), so both say the same figures in their messages.
 */
export interface Usage {
  used: number;
  limit: number;
  unit: 'points' | 'bytes';
}

/** Null: the tier is unbounded. */
export function usageOf(points: readonly PolicyPoint[], capacity: Capacity | null): Usage | null {
  if (capacity === null) return null;
  if ('count' in capacity) return { used: points.length, limit: capacity.count, unit: 'points' };
  return { used: points.reduce((sum, p) => sum + p.bytes, 0), limit: capacity.bytes, unit: 'bytes' };
}

/** Holding more than the capacity allows: the tier must shed points. */
export function isOver(usage: Usage | null): usage is Usage {
  return usage !== null && usage.used > usage.limit;
}

/** "10 of 10 points", "2048 of 1024 bytes": exact, so an operator can check them against list_backups. */
export function describeUsage(usage: Usage): string {
  return `${usage.used} of ${usage.limit} ${usage.unit}`;
}

export type Admission = { admitted: true } | { admitted: false; message: string };

/**
 * Whether the manual tier takes one more manual backup. Manual points are never pruned,
 * so a full manual tier cannot make room by itself: the backup is refused up front, with
 * the figures, rather than taken and then orphaned. Full means the existing points already
 * reach the capacity (the new point's size is unknown before it is taken).
 */
export function manualAdmission(manualPoints: readonly PolicyPoint[], manual: TierSpec): Admission {
  const usage = usageOf(manualPoints, manual.capacity);
  if (usage === null || usage.used < usage.limit) return { admitted: true };
  return { admitted: false, message: `manual tier of target ${manual.target} is full: ${describeUsage(usage)}` };
}
