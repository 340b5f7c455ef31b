import { copyPoint } from '../repo/copy-point.js';
import { sortPoints } from '../repo/point-reading.js';
import type { Manifest } from '../repo/point.js';
import type { RepositoryTarget, TransferOptions } from '../repo/target.js';

export interface SyncReport {
  /** The points copied by this sync, oldest first. */
  copied: string[];
  /** Points the source has that could not go: their parent is on neither side. */
  skipped: string[];
  bytes: number;
  /** Every point complete on the destination after the sync, oldest first. */
  present: Manifest[];
}

/**
 * Copies every point of a domain that `from` has and `to` lacks, oldest first, so a
 * point's parent is always on `to` before the point: an incremental is sent as it is
 * (its files are only the differences), and its relative backing path resolves there to
 * the parent already present. Points are immutable once published, so what is on `to`
 * is never sent again; each copy is checked by `to` against its manifest.
 */
export async function syncDomain(
  from: RepositoryTarget,
  to: RepositoryTarget,
  domainUuid: string,
  options: TransferOptions & { onPoint?: (point: Manifest) => void } = {},
): Promise<SyncReport> {
  const source = await from.listPoints(domainUuid);
  const present = new Map((await to.listPoints(domainUuid)).map((p) => [p.backup_id, p]));
  const report: SyncReport = { copied: [], skipped: [], bytes: 0, present: [] };
  for (const point of source) {
    options.signal?.throwIfAborted();
    if (present.has(point.backup_id)) continue;
    if (point.parent !== null && !present.has(point.parent)) {
      report.skipped.push(point.backup_id);
      continue;
    }
    options.onPoint?.(point);
    report.bytes += await copyPoint(from, to, point, options);
    present.set(point.backup_id, point);
    report.copied.push(point.backup_id);
  }
  report.present = sortPoints([...present.values()]);
  return report;
}
