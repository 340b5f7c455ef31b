import { relative, sep } from 'node:path';
import type { ImageLayer } from '../qemu/qemu-img.js';
import type { Manifest, PointDisk } from './point.js';

/**
 * The rules that tie a point's disk files to its parent's, shared by verify and delete.
 * Pure: the headers are read by the callers (`qemu-img info -f`, one layer at a time).
 *
 * An incremental point's qcow2 disk records its backing as `../<parent id>/<the parent's
 * file for the same target>`, with the parent disk's format: relative, so the repository
 * can move. A disk without a backing file is a whole copy, allowed in any point (raw disks
 * are copied whole every time). A full point's disks name no backing file.
 */

/** What a disk's header records about its backing file. */
export interface BackingHeader {
  backingFile: string | null;
  backingFormat: string | null;
}

/** The backing file a disk records for its parent point's disk. */
export function backingPathOf(parentId: string, parentDisk: Pick<PointDisk, 'file'>): string {
  return `../${parentId}/${parentDisk.file}`;
}

/**
 * Why a disk's recorded backing breaks the rules, or null. `parent` is the point's trusted
 * parent, or null when the point names none or the one it names is not trusted (which
 * the caller reports as the chain's problem, not the disk's).
 */
export function backingProblem(point: Manifest, disk: PointDisk, header: BackingHeader, parent: Manifest | null): string | null {
  if (header.backingFile === null) return null;
  const named = `${disk.file} names backing file ${JSON.stringify(header.backingFile.slice(0, 200))}`;
  if (point.parent === null) return `${named}, but the point is a full`;
  if (parent === null) return null;
  const parentDisk = parent.disks.find((d) => d.target === disk.target);
  if (!parentDisk) return `${named}, but parent ${parent.backup_id} has no disk ${disk.target}`;
  const expected = backingPathOf(parent.backup_id, parentDisk);
  if (header.backingFile !== expected) return `${named}, not ${expected}`;
  if (header.backingFormat !== parentDisk.format) {
    return `${disk.file} records its backing file's format as ${header.backingFormat ?? 'nothing'}, not ${parentDisk.format}`;
  }
  return null;
}

/** The trusted points whose parent is `backupId`. */
export function childrenOf(points: readonly Manifest[], backupId: string): Manifest[] {
  return points.filter((p) => p.parent === backupId);
}

/**
 * The child's manifest once the deleted point is merged into it: it takes the deleted
 * point's parent (a full's child becomes a full) and the merged disks' sizes and sums.
 * The checkpoint and host disks stay: they describe the host at the child's backup,
 * which the merge does not change.
 */
export function mergedManifest(child: Manifest, deleted: Manifest, disks: PointDisk[]): Manifest {
  const merged: Manifest = { ...child, parent: deleted.parent, disks, bytes: disks.reduce((sum, d) => sum + d.size, 0) };
  if (deleted.parent === null) return { ...merged, mode: 'full', reason: `merged with the deleted full ${deleted.backup_id}` };
  return merged;
}

/**
 * Why a chain read from its headers (top first) leaves the domain's trusted points, or
 * null: every layer below the top must be a trusted point's disk file, with the format
 * its manifest records. Checked before qemu-img opens the chain by its headers.
 */
export function chainProblem(chain: readonly ImageLayer[], domainDir: string, points: ReadonlyMap<string, Manifest>): string | null {
  // Named relative to the domain's folder: problems go into replies, host paths may not.
  const named = (layer: ImageLayer) => relative(domainDir, layer.file);
  for (const layer of chain.slice(1)) {
    const parts = named(layer).split(sep);
    const point = parts.length === 2 ? points.get(parts[0]!) : undefined;
    const disk = point?.disks.find((d) => d.file === parts[1]);
    if (!disk || disk.format !== layer.format) {
      return `the chain below ${chain[0] ? named(chain[0]) : 'a disk'} reaches ${named(layer)}, which is not a trusted point's ${layer.format} disk`;
    }
  }
  return null;
}
