import { InvalidRepositoryEntry } from '../errors.js';
import { olderFirst, type InvalidPoint } from '../repo/point-reading.js';
import { chainsOf } from '../policy/chains.js';
import type { Manifest } from '../repo/point.js';
import type { RepositoryTarget } from '../repo/target.js';

/** The targets of a domain's tiers; fast and manual may be one target, slow never is fast's. */
export interface TierTargets {
  fast: RepositoryTarget;
  slow: RepositoryTarget | null;
  manual: RepositoryTarget;
}

/** A point as the tiers hold it: its manifest there, and the target that copy is on. */
export interface TieredPoint {
  manifest: Manifest;
  target: RepositoryTarget;
}

export interface TieredScan {
  /** Every point once, oldest first, read from the copy that counts. */
  points: TieredPoint[];
  /** Entries no tier target trusts, each with the target it is on. */
  invalid: (InvalidPoint & { target: string })[];
}

/**
 * A domain's points across its tiers, each point once. A chain moving from fast to slow
 * is copied oldest first, then removed from fast newest first (`move-chain.ts`); while it
 * moves, a point can be on both targets. Which copy counts follows one rule, so a chain
 * is never shown half in each tier: the chain is in slow as soon as slow holds every
 * point of it that fast still holds (the last copy is the switch), and in fast until then.
 */
export async function scanTiers(tiers: TierTargets, domainUuid: string): Promise<TieredScan> {
  const targets = targetsOfTiers(tiers);
  const scans = await Promise.all(targets.map(async (target) => ({ target, scan: await target.scanPoints(domainUuid) })));
  const copies = new Map<string, TieredPoint[]>();
  for (const { target, scan } of scans) {
    for (const manifest of scan.points) copies.set(manifest.backup_id, [...(copies.get(manifest.backup_id) ?? []), { manifest, target }]);
  }
  const slowWins = tiers.slow === null ? new Set<string>() : chainsWholeOn(tiers.slow, tiers.fast, copies);
  const points = [...copies.entries()].map(([backupId, held]) => {
    const preferred = slowWins.has(backupId) ? tiers.slow : tiers.fast;
    return held.find((c) => c.target === preferred) ?? held[0]!;
  });
  points.sort((a, b) => olderFirst(a.manifest, b.manifest));
  return {
    points,
    invalid: scans.flatMap(({ target, scan }) => scan.invalid.map((i) => ({ ...i, target: target.name }))),
  };
}

/** The distinct targets of the tiers, fast first. */
export function targetsOfTiers(tiers: TierTargets): RepositoryTarget[] {
  return [...new Set([tiers.fast, tiers.slow, tiers.manual].filter((t): t is RepositoryTarget => t !== null))];
}

/**
 * The point's copy that counts in a scan; null when no tier holds it. A point a tier keeps
 * but does not trust is InvalidRepositoryEntry: it is there, and must not be read.
 */
export function pointIn(scan: TieredScan, backupId: string, domainName: string): TieredPoint | null {
  const found = scan.points.find((p) => p.manifest.backup_id === backupId);
  if (found) return found;
  const untrusted = scan.invalid.find((i) => i.backup_id === backupId);
  if (untrusted) throw new InvalidRepositoryEntry(`backup ${backupId} of domain ${domainName} on target ${untrusted.target} is not trusted: ${untrusted.reason}`);
  return null;
}

/** The ids of points whose chain `slow` holds whole: every point of it that `fast` has, slow has too. */
function chainsWholeOn(slow: RepositoryTarget, fast: RepositoryTarget, copies: Map<string, TieredPoint[]>): Set<string> {
  const on = (target: RepositoryTarget) => (id: string) => copies.get(id)!.some((c) => c.target === target);
  const whole = new Set<string>();
  for (const chain of chainsOf([...copies.values()].map((held) => held[0]!.manifest))) {
    const ids = chain.map((p) => p.backup_id);
    if (ids.some(on(slow)) && ids.filter(on(fast)).every(on(slow))) for (const id of ids) whole.add(id);
  }
  return whole;
}
