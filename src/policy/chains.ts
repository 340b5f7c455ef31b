import type { BackupPoint } from '../repo/point.js';

/**
 * Chains as the policy sees them: a full and the incrementals built on it (parent links).
 * Retention, tiers and the chain length all reason about chains, because a chain is the
 * unit that restores: an incremental is only the differences to its parent, so a chain
 * moves between tiers, and is dropped, as a whole.
 *
 * Pure: the caller passes the points it listed; nothing here reads a repository.
 */

/** What the policy needs of a point; list_backups items and manifests both fit. */
export type PolicyPoint = Pick<BackupPoint, 'backup_id' | 'created_at' | 'mode' | 'parent' | 'kind' | 'tier' | 'bytes'>;

export function timeOf(point: PolicyPoint): number {
  return Date.parse(point.created_at);
}

/**
 * Oldest first. Ties (two points in one millisecond) fall back to the backup_id, which
 * starts with the point's timestamp, so the order is the same on every call and host.
 */
export function byAge<P extends PolicyPoint>(points: readonly P[]): P[] {
  return [...points].sort((a, b) => timeOf(a) - timeOf(b) || (a.backup_id < b.backup_id ? -1 : a.backup_id > b.backup_id ? 1 : 0));
}

export function newestOf<P extends PolicyPoint>(points: readonly P[]): P | null {
  return byAge(points).at(-1) ?? null;
}

/**
 * The points split into chains, each oldest first, the chains ordered by their full's age.
 * A point whose parent is not among `points` (in another tier, or gone) starts a chain of
 * its own: the policy may only move or drop what it can see whole. A parent loop, which
 * verify refuses, cannot hang this: the walk stops at the first point it meets again.
 */
export function chainsOf<P extends PolicyPoint>(points: readonly P[]): P[][] {
  const byId = new Map(points.map((p) => [p.backup_id, p]));
  const rootOf = (point: P): string => {
    const seen = new Set<string>([point.backup_id]);
    let current = point;
    for (let parent = byId.get(current.parent ?? ''); parent && !seen.has(parent.backup_id); parent = byId.get(current.parent ?? '')) {
      seen.add(parent.backup_id);
      current = parent;
    }
    return current.backup_id;
  };
  const chains = new Map<string, P[]>();
  for (const point of byAge(points)) {
    const root = rootOf(point);
    chains.set(root, [...(chains.get(root) ?? []), point]);
  }
  return [...chains.values()].sort((a, b) => timeOf(a[0]!) - timeOf(b[0]!));
}

/** The scheduled points of a tier, by chain (oldest chain first). */
export function tierChains<P extends PolicyPoint>(points: readonly P[], tier: P['tier']): P[][] {
  return chainsOf(points.filter((p) => p.tier === tier && p.kind === 'scheduled'));
}

/**
 * The open chain: the fast tier's chain that holds its newest point, since that point is
 * what the next scheduled incremental extends. Null when the fast tier is empty (nothing
 * yet, or the chain moved to slow after T2): the next backup must then be a full.
 */
export function openChainOf<P extends PolicyPoint>(points: readonly P[]): P[] | null {
  return openChainAmong(tierChains(points, 'fast'));
}

/** The open chain among the fast tier's chains (`tierChains(points, 'fast')`): the same array, to compare by identity. */
export function openChainAmong<P extends PolicyPoint>(fastChains: readonly P[][]): P[] | null {
  const newest = newestOf(fastChains.flat());
  return fastChains.find((chain) => newest !== null && chain.includes(newest)) ?? null;
}

/**
 * The points left once `removed` are deleted. The repository merges a deleted point into
 * its children (`mergedManifest`): a child takes the deleted point's parent and becomes a
 * full when that was a full. Chains are recomputed from these links, so retention's prunes
 * are seen by the tier rules that follow. A child keeps its own `bytes`: the merged size
 * is not known before the merge, and this lower bound never drops a chain for bytes only
 * guessed (the next round reads the merged sizes from the manifests).
 */
export function afterMerges<P extends PolicyPoint>(points: readonly P[], removed: ReadonlySet<string>): P[] {
  const byId = new Map(points.map((p) => [p.backup_id, p]));
  return points
    .filter((p) => !removed.has(p.backup_id))
    .map((point) => {
      let { parent, mode } = point;
      for (let hops = 0; parent !== null && removed.has(parent) && hops < points.length; hops++) {
        const gone = byId.get(parent);
        if (!gone) break;
        parent = gone.parent;
        if (parent === null) mode = 'full';
      }
      return parent === point.parent ? point : { ...point, parent, mode };
    });
}
