import type { InvalidPoint } from './point-reading.js';
import type { Manifest } from './point.js';

/**
 * Verify's judgement of chains, apart from reading files (pure): a point restores exactly
 * only if its own files are sound and so is every ancestor's.
 */

export type PointStatus = 'ok' | 'corrupt' | 'missing';

export interface PointVerdict {
  /** null for a domain folder that cannot be trusted at all. */
  backup_id: string | null;
  status: PointStatus;
  /** What is wrong, naming files by their names in the repository, never host paths. */
  problems: string[];
}

/** A point's verdict on its own files, before its chain is considered. */
export interface OwnVerdict {
  status: PointStatus;
  problems: string[];
}

/**
 * Each point's verdict including its chain: a point whose parent is gone is `missing`,
 * one whose parent is kept but not trusted takes that entry's status, and one whose
 * ancestor is not ok takes the ancestor's status, naming the first such ancestor.
 */
export function resolveChains(
  points: readonly Manifest[],
  own: ReadonlyMap<string, OwnVerdict>,
  byId: ReadonlyMap<string, Manifest>,
  invalid: readonly InvalidPoint[],
): PointVerdict[] {
  const untrusted = new Map(invalid.filter((i) => i.backup_id !== null).map((i) => [i.backup_id!, i]));
  const resolved = new Map<string, PointVerdict & { cause: string | null }>();
  const resolving = new Set<string>();

  const resolve = (point: Manifest): PointVerdict & { cause: string | null } => {
    const done = resolved.get(point.backup_id);
    if (done) return done;
    const mine = own.get(point.backup_id)!;
    const link = point.parent === null ? null : linkTo(point, point.parent);
    const verdict = {
      backup_id: point.backup_id,
      status: worst([mine.status, link?.status ?? 'ok']),
      problems: link ? [...mine.problems, link.problem] : mine.problems,
      cause: mine.status !== 'ok' ? point.backup_id : (link?.cause ?? null),
    };
    resolved.set(point.backup_id, verdict);
    return verdict;
  };

  /** What the point inherits from its parent: null when the parent's chain is ok. */
  const linkTo = (point: Manifest, parentId: string): { status: PointStatus; cause: string; problem: string } | null => {
    const parent = byId.get(parentId);
    if (!parent) {
      const entry = untrusted.get(parentId);
      if (entry) return { status: untrustedStatus(entry), cause: parentId, problem: `parent ${parentId} is not trusted: ${entry.reason}` };
      return { status: 'missing', cause: parentId, problem: `parent ${parentId} is not in the repository` };
    }
    if (resolving.has(parentId)) return { status: 'corrupt', cause: point.backup_id, problem: `the chain of parents loops through ${parentId}` };
    resolving.add(point.backup_id);
    const inherited = resolve(parent);
    resolving.delete(point.backup_id);
    if (inherited.status === 'ok') return null;
    const cause = inherited.cause ?? parentId;
    return { status: inherited.status, cause, problem: `ancestor ${cause} is ${inherited.status}: restoring this point would not give exact data` };
  };

  return points.map((point) => {
    const { cause: _cause, ...verdict } = resolve(point);
    return verdict;
  });
}

export function untrustedVerdict(entry: InvalidPoint): PointVerdict {
  return { backup_id: entry.backup_id, status: untrustedStatus(entry), problems: [entry.reason] };
}

/** An untrusted entry is corrupt, unless all it lacks is a disk file its manifest names. */
function untrustedStatus(entry: InvalidPoint): PointStatus {
  return entry.files_missing ? 'missing' : 'corrupt';
}

/** A missing file or ancestor outranks a corrupt one: the data is not there to be read. */
export function worst(statuses: readonly PointStatus[]): PointStatus {
  if (statuses.includes('missing')) return 'missing';
  return statuses.includes('corrupt') ? 'corrupt' : 'ok';
}
