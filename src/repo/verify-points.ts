import { join } from 'node:path';
import { BackupNotFound, InvalidArgument } from '../errors.js';
import { checkImage, imageInfo } from '../qemu/qemu-img.js';
import { isBackupId } from '../util/ids.js';
import { resolveChains, untrustedVerdict, worst, type OwnVerdict, type PointStatus, type PointVerdict } from './chain-verdicts.js';
import { diskContentFault, diskPresenceFault, type DiskFault, type ProgressOptions } from './disk-integrity.js';
import type { OpenedPoints, RepositoryTarget } from './target.js';
import { backingProblem } from './point-chain.js';
import type { InvalidPoint, PointScan } from './point-reading.js';
import type { Manifest, PointDisk } from './point.js';

export type { PointStatus, PointVerdict } from './chain-verdicts.js';

export interface VerifyReport {
  /** Oldest first; the untrusted entries last. */
  points: PointVerdict[];
  ok: number;
  corrupt: number;
  missing: number;
  /** Bytes read to hash the points' files. */
  bytes_read: number;
}

/** onBytes counts the bytes hashed; onTotal the bytes there are to hash. */
export type VerifyOptions = ProgressOptions;

/**
 * Re-reads points and says of each whether restoring it gives exactly the data it was
 * taken with: `ok`, `corrupt` (its bytes, its image structure or its chain are not what
 * its manifest records) or `missing` (a file or an ancestor is gone).
 *
 * Per disk: present and a regular file, of the size and sha256 its manifest records,
 * clean under `qemu-img check` (qcow2), and its header naming exactly its parent point's
 * file for the same target, with that file's format, or no backing file at all (never
 * one in a full). Headers are read one layer at a time with the format named; no chain
 * is opened by probing. A point whose own files are fine takes the status of its first
 * ancestor that is not ok, since restoring it reads that ancestor.
 *
 * `backupId` null verifies every point of the domain and reports each untrusted entry;
 * otherwise the point and its ancestors. Rejects with the signal's reason once aborted.
 */
export async function verifyPoints(
  repo: RepositoryTarget,
  domainUuid: string,
  backupId: string | null,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  if (backupId !== null && !isBackupId(backupId)) throw new InvalidArgument(`backup_id ${JSON.stringify(backupId.slice(0, 64))} is not a backup id`);
  const signal = options.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  const scan = await repo.scanPoints(domainUuid);
  const selection = selectPoints(scan, domainUuid, backupId);
  const byId = new Map(scan.points.map((p) => [p.backup_id, p]));

  let bytesRead = 0;
  const opened = await repo.openPoints(domainUuid, selection.points.map((p) => p.backup_id), { signal });
  const checker = new PointChecker(opened, byId, signal, (bytes) => {
    bytesRead += bytes;
    options.onBytes?.(bytes);
  });
  const own = await checker.checkAll(selection.points, options.onTotal).finally(() => opened.release());
  const chained = resolveChains(selection.points, own, byId, scan.invalid);
  const verdicts = [...chained, ...selection.invalid.map(untrustedVerdict)];
  const count = (status: PointStatus) => verdicts.filter((v) => v.status === status).length;
  return { points: verdicts, ok: count('ok'), corrupt: count('corrupt'), missing: count('missing'), bytes_read: bytesRead };
}

/**
 * Checks one point's own files as `verifyPoints` does (presence, size, sha256, structure,
 * and a header that names its parent's file), but not its ancestors: each of those was
 * checked when it was new, and a policy's prune after every backup must not re-read whole
 * chains. The parent must still be a trusted point. BackupNotFound when the point is not one.
 */
export async function verifyPointFiles(repo: RepositoryTarget, domainUuid: string, backupId: string, options: VerifyOptions = {}): Promise<PointVerdict> {
  const signal = options.signal ?? new AbortController().signal;
  const scan = await repo.scanPoints(domainUuid);
  const byId = new Map(scan.points.map((p) => [p.backup_id, p]));
  const point = byId.get(backupId);
  if (!point) throw new BackupNotFound(`no backup ${backupId} for domain ${domainUuid}`);
  const opened = await repo.openPoints(domainUuid, [backupId], { signal });
  const checker = new PointChecker(opened, byId, signal, options.onBytes ?? (() => undefined));
  const own = (await checker.checkAll([point], options.onTotal).finally(() => opened.release())).get(backupId)!;
  const orphaned = point.parent !== null && !byId.has(point.parent);
  return {
    backup_id: backupId,
    status: orphaned ? worst([own.status, 'missing']) : own.status,
    problems: orphaned ? [...own.problems, `parent ${point.parent} is not in the repository`] : own.problems,
  };
}

/** The points to verify, oldest first, and the untrusted entries to report. */
function selectPoints(scan: PointScan, domainUuid: string, backupId: string | null): { points: Manifest[]; invalid: InvalidPoint[] } {
  if (backupId === null) return { points: scan.points, invalid: scan.invalid };
  const byId = new Map(scan.points.map((p) => [p.backup_id, p]));
  let point = byId.get(backupId);
  if (!point) {
    // The point itself, or the domain folder that holds it, is kept but not trusted.
    const untrusted = scan.invalid.find((i) => i.backup_id === backupId) ?? scan.invalid.find((i) => i.backup_id === null);
    if (untrusted) return { points: [], invalid: [untrusted] };
    throw new BackupNotFound(`no backup ${backupId} for domain ${domainUuid}`);
  }
  const chain: Manifest[] = [];
  while (point && !chain.includes(point)) {
    chain.push(point);
    point = point.parent === null ? undefined : byId.get(point.parent);
  }
  return { points: chain.reverse(), invalid: [] };
}

/** Checks each point's own files; the chain between points is judged afterwards. */
class PointChecker {
  constructor(
    private readonly opened: OpenedPoints,
    private readonly byId: ReadonlyMap<string, Manifest>,
    private readonly signal: AbortSignal,
    private readonly onBytes: (bytes: number) => void,
  ) {}

  async checkAll(points: readonly Manifest[], onTotal?: (bytes: number) => void): Promise<Map<string, OwnVerdict>> {
    const faults = new Map<string, DiskFault[]>(points.map((p) => [p.backup_id, []]));
    // Presence and sizes first, so the bytes to hash are known before any is read.
    const toRead: { point: Manifest; disk: PointDisk; file: string }[] = [];
    for (const point of points) {
      for (const disk of point.disks) {
        const file = join(this.opened.dirOf(point.backup_id), disk.file);
        const fault = await diskPresenceFault(file, disk);
        if (fault) faults.get(point.backup_id)!.push(fault);
        else toRead.push({ point, disk, file });
      }
    }
    onTotal?.(toRead.reduce((sum, r) => sum + r.disk.size, 0));
    for (const { point, disk, file } of toRead) {
      this.signal.throwIfAborted();
      const found = faults.get(point.backup_id)!;
      const content = await diskContentFault(file, disk, this.signal, this.onBytes);
      if (content) found.push(content);
      if (content?.status !== 'missing') found.push(...(await this.imageFaults(point, disk, file)));
    }
    return new Map(
      points.map((p) => {
        const found = faults.get(p.backup_id)!;
        return [p.backup_id, { status: worst(found.map((f) => f.status)), problems: found.map((f) => f.problem) }];
      }),
    );
  }

  /** The image's header and structure: its size, its backing file, `qemu-img check`. */
  private async imageFaults(point: Manifest, disk: PointDisk, file: string): Promise<DiskFault[]> {
    const problems: string[] = [];
    const parent = point.parent === null ? null : (this.byId.get(point.parent) ?? null);
    try {
      const info = await imageInfo(file, disk.format);
      if (info.virtualSize !== disk.virtual_size) {
        problems.push(`${disk.file} has a virtual size of ${info.virtualSize}, its manifest says ${disk.virtual_size}`);
      }
      const backing = backingProblem(point, disk, info, parent);
      if (backing) problems.push(backing);
      if (disk.format === 'qcow2') {
        const check = await checkImage({ file, format: disk.format }, { signal: this.signal });
        if (!check.ok) problems.push(`${disk.file}: qemu-img check: ${this.withoutRoot(check.detail)}`);
      }
    } catch (err) {
      if (this.signal.aborted) throw this.signal.reason;
      problems.push(`${disk.file} cannot be read as ${disk.format}: ${this.withoutRoot((err as Error).message)}`);
    }
    return problems.map((problem) => ({ status: 'corrupt', problem }));
  }

  /** qemu-img names files by their host paths; replies name them inside the repository. */
  private withoutRoot(text: string): string {
    return text.replaceAll(`${this.opened.root}/`, '').replaceAll(this.opened.root, '');
  }
}
