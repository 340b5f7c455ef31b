import { InvalidArgument } from '../errors.js';
import type { Tiers } from '../policy/policy.js';
import type { BackupKind, BackupTier, Manifest } from '../repo/point.js';
import type { RepositoryTarget } from '../repo/target.js';

/** Where a new point goes: the target of its tier. */
export interface PointPlacement {
  target: RepositoryTarget;
  tier: BackupTier;
}

/**
 * Where a domain's backups go and what they build on, by its policy's tiers. Scheduled
 * points land in the fast tier and form the chain; a manual point is a self-contained
 * full in the manual tier and never a parent, so a scheduled incremental only ever
 * builds on a fast-tier point and a chain never spans two targets.
 */
export interface BackupPlaces {
  placeFor(domainUuid: string, kind: BackupKind): Promise<PointPlacement>;
  /**
   * The newest point of the domain's scheduled chain (fast tier): what the next
   * incremental extends and whose bitmap stays on the disks. Null: the next is a full.
   */
  chainHead(domainUuid: string): Promise<Manifest | null>;
  /** The target a journal record names; records from before tiers name none: the primary. */
  byName(name: string | undefined): RepositoryTarget;
}

/** Why a manual point is a full: it is outside the chain, so it restores on its own and no prune touches it. */
export const STANDALONE_REASON = 'a manual backup is a self-contained full';

/** BackupPlaces over the agent's targets (the primary first) and each domain's tiers. */
export function tierPlaces(targets: readonly RepositoryTarget[], tiersOf: (domainUuid: string) => Promise<Tiers>): BackupPlaces {
  const byName = (name: string | undefined): RepositoryTarget => {
    if (name === undefined) return targets[0]!;
    const target = targets.find((t) => t.name === name);
    // Policies are checked against the configuration when set and when the agent starts.
    if (!target) throw new InvalidArgument(`repository target ${name} is not configured on this agent`);
    return target;
  };
  return {
    byName,
    async placeFor(domainUuid, kind) {
      const tiers = await tiersOf(domainUuid);
      const tier: BackupTier = kind === 'manual' ? 'manual' : 'fast';
      return { target: byName(tiers[tier].target), tier };
    },
    async chainHead(domainUuid) {
      const fast = byName((await tiersOf(domainUuid)).fast.target);
      return (await fast.listPoints(domainUuid)).filter((p) => p.tier === 'fast').at(-1) ?? null;
    },
  };
}

/** Every tier on one target, unbounded: an agent without policies keeps what it always did. */
export function singleTargetTiers(target: string): Tiers {
  return { fast: { target, capacity: null }, slow: null, manual: { target, capacity: null } };
}
