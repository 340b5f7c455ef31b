import { InvalidArgument, TierFull } from '../errors.js';
import { manualAdmission } from '../policy/capacity.js';
import { modeForNextBackup } from '../policy/chain-length.js';
import { openChainOf } from '../policy/chains.js';
import type { Policy, Tiers } from '../policy/policy.js';
import type { BackupKind, BackupTier, Manifest } from '../repo/point.js';
import type { RepositoryTarget } from '../repo/target.js';
import { scanTiers, type TierTargets, type TieredScan } from '../tiers/tier-view.js';

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
  /**
   * What one backup needs of its domain's tiers, from one policy and one scan: where the
   * point goes, the chain head it may extend, and why it must be a full (a manual point;
   * the chain's length). TierFull when a manual point does not fit.
   */
  prepare(domainUuid: string, kind: BackupKind): Promise<PreparedBackup>;
  /**
   * The newest point of the domain's scheduled chain in the fast tier: what the next
   * incremental extends and whose bitmap stays on the disks. Null: the next is a full.
   */
  chainHead(domainUuid: string): Promise<Manifest | null>;
  /** The domain's points across its tiers, each once (`scanTiers`). */
  scan(domainUuid: string): Promise<TieredScan>;
  /** The targets of the domain's tiers. */
  tierTargets(domainUuid: string): Promise<TierTargets>;
  /** Refuses a manual backup (TierFull) when the domain's manual tier is full; a scheduled one always fits. */
  admit(domainUuid: string, kind: BackupKind): Promise<void>;
  /** The target a journal record names; records from before tiers name none: the primary. */
  byName(name: string | undefined): RepositoryTarget;
}

export interface PreparedBackup {
  placement: PointPlacement;
  /** The chain head: the parent of an incremental, and the bitmap that stays. */
  latest: Manifest | null;
  /** Set: a full for this reason (a manual point; the chain reached its length). */
  fullBecause: string | null;
}

/** Why a manual point is a full: it is outside the chain, so it restores on its own and no prune touches it. */
export const STANDALONE_REASON = 'a manual backup is a self-contained full';

/** What placement needs of a domain's policy. */
export type PlacementPolicy = Pick<Policy, 'tiers' | 'chain_length'>;

/** BackupPlaces over the agent's targets (the primary first) and each domain's policy. */
export function tierPlaces(targets: readonly RepositoryTarget[], policyOf: (domainUuid: string) => Promise<PlacementPolicy>): BackupPlaces {
  const byName = (name: string | undefined): RepositoryTarget => {
    if (name === undefined) return targets[0]!;
    const target = targets.find((t) => t.name === name);
    // Policies are checked against the configuration when set and when the agent starts.
    if (!target) throw new InvalidArgument(`repository target ${name} is not configured on this agent`);
    return target;
  };
  /** The domain's points across its tiers, as the tier view counts them. */
  const viewOf = async (domainUuid: string) => {
    const policy = await policyOf(domainUuid);
    return { policy, scan: await scanTiers(tierTargetsOf(policy.tiers, byName), domainUuid) };
  };
  const fastPoints = (scan: TieredScan) => scan.points.map((p) => p.manifest).filter((m) => m.tier === 'fast');
  const refuseWhenFull = (policy: PlacementPolicy, scan: TieredScan): void => {
    const admission = manualAdmission(scan.points.map((p) => p.manifest).filter((m) => m.tier === 'manual'), policy.tiers.manual);
    if (!admission.admitted) throw new TierFull(`${admission.message}; manual points are never pruned automatically: delete one or raise tiers.manual.capacity`);
  };
  return {
    byName,
    scan: async (domainUuid) => (await viewOf(domainUuid)).scan,
    tierTargets: async (domainUuid) => tierTargetsOf((await policyOf(domainUuid)).tiers, byName),
    async prepare(domainUuid, kind) {
      const { policy, scan } = await viewOf(domainUuid);
      if (kind === 'manual') refuseWhenFull(policy, scan);
      const tier: BackupTier = kind === 'manual' ? 'manual' : 'fast';
      const fast = fastPoints(scan);
      const open = openChainOf(fast);
      // No open chain: the engine takes a full anyway and says why in its own words.
      const chainEnds = open === null ? null : modeForNextBackup(open, policy.chain_length).reason;
      return {
        placement: { target: byName(policy.tiers[tier].target), tier },
        latest: fast.at(-1) ?? null,
        fullBecause: kind === 'manual' ? STANDALONE_REASON : chainEnds,
      };
    },
    async chainHead(domainUuid) {
      return fastPoints((await viewOf(domainUuid)).scan).at(-1) ?? null;
    },
    async admit(domainUuid, kind) {
      if (kind !== 'manual') return;
      const { policy, scan } = await viewOf(domainUuid);
      refuseWhenFull(policy, scan);
    },
  };
}

/** The targets of a policy's tiers. */
export function tierTargetsOf(tiers: Tiers, byName: (name: string) => RepositoryTarget): TierTargets {
  return {
    fast: byName(tiers.fast.target),
    slow: tiers.slow === null ? null : byName(tiers.slow.target),
    manual: byName(tiers.manual.target),
  };
}
