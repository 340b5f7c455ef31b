import type { RestorePlan } from './plan.js';

/**
 * How far a restore got, journaled before each step that changes the host:
 * - `building`: staged files are being made beside the disks; nothing else changed.
 * - `stopping`: the domain is being stopped (replace of a running domain).
 * - `swapping`: staged files move to the disks' paths, old disks aside. From here on a
 *   crash is finished forward: the staged files were complete and verified.
 * - `defining`: the domain is defined from `xml` and started when `start` says so.
 * - `copying`: (instant) the domain runs; its disks pull the point in the background.
 * - `cleaning`: the old disks and the snapshot engine's overlays are removed.
 */
export type RestorePhase = 'building' | 'stopping' | 'swapping' | 'defining' | 'copying' | 'cleaning';

export interface RestoreRecord {
  action: 'restore';
  phase: RestorePhase;
  /** The domain whose repository folder holds the point. */
  source_uuid: string;
  plan: RestorePlan;
  instant: boolean;
  /** The restored point and the points below it, newest first: what an instant restore reads. */
  chain: string[];
  /** The XML the restore defines, fixed before the swap so recovery defines the same. */
  xml: string;
  /** Whether the domain runs after the restore: it ran before, was gone, or is new. */
  start: boolean;
}

/** Phases after which a crash is finished forward rather than undone. */
export function isPastTheSwap(phase: RestorePhase): boolean {
  return phase !== 'building' && phase !== 'stopping';
}
