import { copyPoint } from '../repo/copy-point.js';
import type { BackupTier, Manifest } from '../repo/point.js';
import type { RepositoryTarget, TransferOptions } from '../repo/target.js';

export interface MoveReport {
  /** Points copied by this call (a resumed move copies only what was missing). */
  copied: string[];
  /** Points removed from the source. */
  removed: string[];
  bytes: number;
}

/**
 * Moves a whole chain from one tier's target to another's: copy, verify, switch, remove.
 *
 * - Copy, oldest first, so each point's parent is on `to` before the point; the copy's
 *   manifest names the new tier. `publishPoint` checks every file it writes against the
 *   manifest's sha256 (the verify) and publishes the point with one rename.
 * - The switch is the last copy: from then on `to` holds the whole chain, and the tier
 *   view (`tier-view.ts`) reads the chain from `to`.
 * - Remove from `from`, newest first, so each removal is of a point nothing depends on.
 *
 * Idempotent: after a crash at any step, calling it again with the same chain finishes
 * the move. Until the switch the chain counts as in `from`; after it, as in `to`.
 */
export async function moveChain(
  from: RepositoryTarget,
  to: RepositoryTarget,
  domainUuid: string,
  chain: readonly Manifest[],
  tier: BackupTier,
  options: TransferOptions = {},
): Promise<MoveReport> {
  const report: MoveReport = { copied: [], removed: [], bytes: 0 };
  const present = new Set((await to.listPoints(domainUuid)).map((p) => p.backup_id));
  for (const point of chain) {
    options.signal?.throwIfAborted();
    if (present.has(point.backup_id)) continue;
    report.bytes += await copyPoint(from, to, { ...point, tier }, options);
    report.copied.push(point.backup_id);
  }
  for (const point of [...chain].reverse()) {
    options.signal?.throwIfAborted();
    if (!(await from.hasPoint(domainUuid, point.backup_id))) continue;
    await from.deletePoint(domainUuid, point.backup_id, { signal: options.signal });
    report.removed.push(point.backup_id);
  }
  return report;
}
