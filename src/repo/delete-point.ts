import { readdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidArgument, InvalidRepositoryEntry, PointCorrupt } from '../errors.js';
import { imageInfo } from '../qemu/qemu-img.js';
import { isBackupId } from '../util/ids.js';
import { entryKind } from '../util/no-follow-fs.js';
import { diskContentFault, type ProgressOptions } from './disk-integrity.js';
import type { FileRepository } from './file-repository.js';
import { MERGE_SUFFIX, mergeChild, planChildMerge, settleChild, type ChildMerge } from './merge-child.js';
import { childrenOf } from './point-chain.js';
import type { PointDisk } from './point.js';

export interface DeleteReport {
  backup_id: string;
  /** The children the deleted point was merged into (their manifests now name its parent). */
  merged_into: string[];
  /** Bytes of the merged disk files written. */
  bytes_written: number;
}

/** onTotal: the deleted point's bytes to check, plus each merged disk's bytes to copy and virtual bytes to rebase. */
export type DeleteOptions = ProgressOptions;

/**
 * Deletes a point from the repository; every other point restores exactly as before.
 *
 * Each child (a point whose parent it is) first gets the deleted point's data: each of its
 * disks that backs onto the deleted point's file is copied, rebased in safe mode onto the
 * deleted disk's own backing (its parent's file, or nothing for a full), proven to read
 * as before, and committed with the child's new manifest (`merge-child.ts`). Then, once
 * no point depends on it, the point's folder becomes this host's staging folder in one
 * rename and goes. What is to be merged is checked first (the deleted point's disks
 * against their sha256, the children's as they are copied), so no damage is laundered
 * into a fresh checksum. A crash at any step is settled by `finishDelete`.
 *
 * Refuses an unknown id (BackupNotFound), an untrusted point or a point that something
 * other than its children depends on (InvalidRepositoryEntry), and a chain it cannot
 * merge exactly (PointCorrupt); in each case nothing is changed.
 */
export async function deletePoint(
  repo: FileRepository,
  domainUuid: string,
  backupId: string,
  options: DeleteOptions = {},
): Promise<DeleteReport> {
  checkBackupId(backupId);
  const signal = options.signal ?? new AbortController().signal;
  const deleted = await repo.getPoint(domainUuid, backupId);
  // A delete of this point that was interrupted is settled before this one plans.
  await settleChildren(repo, domainUuid, backupId);
  const points = new Map((await repo.listPoints(domainUuid)).map((p) => [p.backup_id, p]));
  const plans: ChildMerge[] = [];
  for (const child of childrenOf([...points.values()], backupId)) plans.push(await planChildMerge(repo, deleted, child, points));
  const expected = new Set(plans.flatMap((p) => p.disks.map((d) => `${p.child.backup_id}/${d.disk.file}`)));
  const blockers = (await dependentsOf(repo, domainUuid, backupId)).filter((d) => !expected.has(d));
  if (blockers.length > 0) {
    const named = blockers.length > 5 ? `${blockers.slice(0, 5).join(', ')} and ${blockers.length - 5} more` : blockers.join(', ');
    throw new InvalidRepositoryEntry(`backup ${backupId} is kept: ${named} depend on it`);
  }

  const toCheck = uniqueDisks(plans.flatMap((p) => p.disks.map((d) => d.deletedDisk)));
  const mergedBytes = plans.flatMap((p) => p.disks).reduce((sum, d) => sum + d.disk.size + d.disk.virtual_size, 0);
  options.onTotal?.(toCheck.reduce((sum, d) => sum + d.size, 0) + mergedBytes);
  const onBytes = options.onBytes ?? (() => undefined);
  for (const disk of toCheck) {
    const fault = await diskContentFault(join(repo.pointDir(domainUuid, backupId), disk.file), disk, signal, onBytes);
    if (fault) throw new PointCorrupt(`backup ${backupId} cannot be merged into its children: ${fault.problem}; nothing was changed`);
  }

  let written = 0;
  for (const plan of plans) written += await mergeChild(plan, deleted, { signal, onBytes });
  if ((await removeWhenUnneeded(repo, domainUuid, backupId)) === 'kept') {
    throw new InvalidRepositoryEntry(`backup ${backupId} is kept: a point came to depend on it while it was merged`);
  }
  return { backup_id: backupId, merged_into: plans.map((p) => p.child.backup_id), bytes_written: written };
}

/**
 * Settles a delete that was interrupted (a crash, a stop): idempotent. Each child with a
 * committed merge is finished forward, each other child's work files go; then the point
 * is removed if nothing depends on it any more. 'kept' when a child's merge had not
 * committed (the delete can be asked for again), or something else depends on it.
 */
export async function finishDelete(repo: FileRepository, domainUuid: string, backupId: string): Promise<'deleted' | 'kept'> {
  checkBackupId(backupId);
  await settleChildren(repo, domainUuid, backupId);
  return removeWhenUnneeded(repo, domainUuid, backupId);
}

async function settleChildren(repo: FileRepository, domainUuid: string, backupId: string): Promise<void> {
  for (const child of childrenOf(await repo.listPoints(domainUuid), backupId)) {
    await settleChild(repo.pointDir(domainUuid, child.backup_id), child);
  }
}

/** Removes the point unless a trusted child, an untrusted entry or any image depends on it. */
async function removeWhenUnneeded(repo: FileRepository, domainUuid: string, backupId: string): Promise<'deleted' | 'kept'> {
  const scan = await repo.scanPoints(domainUuid);
  if (childrenOf(scan.points, backupId).length > 0) return 'kept';
  if (!scan.points.some((p) => p.backup_id === backupId)) {
    // Never remove what is not trusted; with no folder at all, a crash in removePoint left its staging folder.
    if (scan.invalid.some((i) => i.backup_id === backupId || i.backup_id === null)) return 'kept';
    await repo.discardPartial(domainUuid, backupId);
    return 'deleted';
  }
  if ((await dependentsOf(repo, domainUuid, backupId)).length > 0) return 'kept';
  await repo.removePoint(domainUuid, backupId);
  return 'deleted';
}

/**
 * What in the domain's folder depends on the point, as `<folder>/<file>`: every qcow2
 * file whose header names a file of the point as its backing (points trusted or not,
 * other hosts' staging folders), and every merge work file (an interrupted delete of
 * another point may be about to name this one as parent). Headers are read with the
 * format named and nothing below them opened; no symlink is followed.
 */
async function dependentsOf(repo: FileRepository, domainUuid: string, backupId: string): Promise<string[]> {
  const domainDir = repo.domainDir(domainUuid);
  const pointDir = repo.pointDir(domainUuid, backupId);
  const own = new Set([backupId, basename(repo.partialDir(domainUuid, backupId))]);
  const dependents: string[] = [];
  for (const folder of (await readdir(domainDir)).filter((n) => !own.has(n)).sort()) {
    const dir = join(domainDir, folder);
    if ((await entryKind(dir)) !== 'directory') continue;
    for (const name of (await readdir(dir)).sort()) {
      const file = join(dir, name);
      if (name.endsWith(MERGE_SUFFIX)) dependents.push(`${folder}/${name}`);
      else if (name.endsWith('.qcow2') && (await entryKind(file)) === 'file' && (await backsOnto(file, pointDir))) dependents.push(`${folder}/${name}`);
    }
  }
  return dependents;
}

async function backsOnto(file: string, pointDir: string): Promise<boolean> {
  let backing: string | null;
  try {
    backing = (await imageInfo(file, 'qcow2')).backingFile;
  } catch {
    // Not readable as qcow2: QEMU could not open it as an overlay of anything either.
    return false;
  }
  return backing !== null && dirname(resolve(dirname(file), backing)) === pointDir;
}

function uniqueDisks(disks: PointDisk[]): PointDisk[] {
  return [...new Map(disks.map((d) => [d.file, d])).values()];
}

function checkBackupId(backupId: string): void {
  if (!isBackupId(backupId)) throw new InvalidArgument(`backup_id ${JSON.stringify(backupId.slice(0, 64))} is not a backup id`);
}

