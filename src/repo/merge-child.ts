import { chmod, chown, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { flushAndHash } from '../backup/snapshot/copy-disk.js';
import { copyFileHashed } from '../backup/snapshot/copy-file.js';
import { InvalidRepositoryEntry, PointCorrupt, VerificationFailed } from '../errors.js';
import { imageInfo, isImageFormat, readChain, rebaseKeepingContent, sameContent, type ImageLayer } from '../qemu/qemu-img.js';
import { fsyncDirectory, writeJsonAtomic } from '../util/atomic-file.js';
import { entryKind, readRegularFile, UnreadableEntry } from '../util/no-follow-fs.js';
import type { FileRepository } from './file-repository.js';
import { MANIFEST } from './point-reading.js';
import { backingProblem, chainProblem, mergedManifest } from './point-chain.js';
import { MAX_MANIFEST_BYTES, readPoint } from './point-reading.js';
import type { Manifest, PointDisk } from './point.js';

/**
 * Merging a deleted point into one child, crash-safe. Every new file is written beside
 * the one it replaces under `<name>.virtdr-merge` (a name no manifest can give a disk),
 * and the child's new manifest, written last as `manifest.json.virtdr-merge`, is the
 * commit point: once it exists the merge is finished forward (renames only), before it
 * exists the work files are removed and the child is as it was.
 */

export const MERGE_SUFFIX = '.virtdr-merge';
const MERGE_MANIFEST = `${MANIFEST}${MERGE_SUFFIX}`;
/** writeJsonAtomic's temporary for the merge manifest, left by a crash while it wrote. */
const MERGE_MANIFEST_TEMPORARY = /^\.manifest\.json\.virtdr-merge\.[0-9a-f]{8}\.tmp$/;

/** One disk of the child that backs onto the deleted point. */
export interface DiskMerge {
  /** The child's disk, as its manifest records it. */
  disk: PointDisk;
  /** The deleted point's disk it backs onto. */
  deletedDisk: PointDisk;
  /** What the merged disk backs onto: the deleted disk's own backing (relative, as recorded), or nothing. */
  newBacking: ImageLayer | null;
}

export interface ChildMerge {
  child: Manifest;
  dir: string;
  disks: DiskMerge[];
}

export interface MergeContext {
  signal: AbortSignal;
  /** Progress, in the units deletePoint announced: bytes copied, then the disk's virtual bytes rebased. */
  onBytes: (bytes: number) => void;
}

/**
 * Which of the child's disks need the deleted point's data, read from their headers and
 * checked against the manifests before anything is written: each must back onto exactly
 * the deleted point's file, which backs onto its parent's or onto nothing, and the whole
 * chain below must be the domain's trusted points (qemu-img rebase opens it by headers).
 */
export async function planChildMerge(repo: FileRepository, deleted: Manifest, child: Manifest, points: ReadonlyMap<string, Manifest>): Promise<ChildMerge> {
  const domainUuid = deleted.domain_uuid;
  const dir = repo.pointDir(domainUuid, child.backup_id);
  const grandparent = deleted.parent === null ? null : (points.get(deleted.parent) ?? null);
  const refuse = (why: string) => new PointCorrupt(`backup ${deleted.backup_id} cannot be merged into ${child.backup_id}: ${why}; nothing was changed`);
  if (deleted.parent !== null && !grandparent) throw refuse(`its parent ${deleted.parent} is not a trusted point`);
  const disks: DiskMerge[] = [];
  for (const disk of child.disks) {
    const file = join(dir, disk.file);
    const header = await imageInfo(file, disk.format);
    // A whole copy (a raw disk, a qcow2 disk copied whole) holds nothing of the deleted point.
    if (header.backingFile === null) continue;
    const linkProblem = backingProblem(child, disk, header, deleted);
    if (linkProblem) throw refuse(linkProblem);
    const deletedDisk = deleted.disks.find((d) => d.target === disk.target)!;
    const below = await imageInfo(join(repo.pointDir(domainUuid, deleted.backup_id), deletedDisk.file), deletedDisk.format);
    const belowProblem = backingProblem(deleted, deletedDisk, below, grandparent);
    if (belowProblem) throw refuse(belowProblem);
    const chainIssue = chainProblem(await readChain({ file, format: disk.format }), repo.domainDir(domainUuid), points);
    if (chainIssue) throw refuse(chainIssue);
    const newBacking =
      below.backingFile !== null && isImageFormat(below.backingFormat) ? { file: below.backingFile, format: below.backingFormat } : null;
    disks.push({ disk, deletedDisk, newBacking });
  }
  return { child, dir, disks };
}

/**
 * Merges the deleted point into the child and commits it; returns the bytes of the new
 * disk files. On any failure before the commit the child is left as it was.
 */
export async function mergeChild(plan: ChildMerge, deleted: Manifest, ctx: MergeContext): Promise<number> {
  const { child, dir } = plan;
  let merged: Manifest;
  let written = 0;
  try {
    const disks = [...child.disks];
    for (const diskMerge of plan.disks) {
      ctx.signal.throwIfAborted();
      const disk = await mergeDisk(dir, child, diskMerge, ctx);
      disks[child.disks.indexOf(diskMerge.disk)] = disk;
      written += disk.size;
    }
    ctx.signal.throwIfAborted();
    merged = mergedManifest(child, deleted, disks);
    // The commit point: from here on the merge is finished forward, even after a crash.
    await writeJsonAtomic(join(dir, MERGE_MANIFEST), merged);
  } catch (err) {
    // Back to the old child (or forward, if the commit got written); should that fail
    // too, the original error says more, and finishDelete settles it later.
    await settleChild(dir, child).catch(() => undefined);
    throw err;
  }
  await rollForward(dir, merged);
  return written;
}

/**
 * Copies the child's disk exactly, moves the copy onto the deleted disk's backing keeping
 * its content (`qemu-img rebase` in safe mode), proves the new chain reads as the old one,
 * and makes it durable. The copy's read is the check that the child is what its manifest
 * says: a merge must not launder a damaged file into a fresh checksum.
 */
async function mergeDisk(dir: string, child: Manifest, { disk, newBacking }: DiskMerge, ctx: MergeContext): Promise<PointDisk> {
  const file = join(dir, disk.file);
  const work = `${file}${MERGE_SUFFIX}`;
  const copied = await copyFileHashed(file, work, { signal: ctx.signal, onBytes: ctx.onBytes, bandwidth: 0 });
  if (copied !== disk.sha256) {
    throw new PointCorrupt(`backup ${child.backup_id}: ${disk.file} reads as sha256 ${copied}, its manifest says ${disk.sha256}; nothing was changed`);
  }
  await chmod(work, (await stat(file)).mode & 0o777);
  let rebased = 0;
  await rebaseKeepingContent({ file: work, format: 'qcow2' }, newBacking, {
    signal: ctx.signal,
    onPercent: (percent) => {
      const done = Math.floor((disk.virtual_size * percent) / 100);
      if (done > rebased) ctx.onBytes(done - rebased);
      rebased = Math.max(rebased, done);
    },
  });
  if (disk.virtual_size > rebased) ctx.onBytes(disk.virtual_size - rebased);
  const [before, after] = await Promise.all([readChain({ file, format: disk.format }), readChain({ file: work, format: 'qcow2' })]);
  if (!(await sameContent(after, before, { signal: ctx.signal }))) {
    throw new VerificationFailed(`backup ${child.backup_id}: ${disk.file} merged does not read as it did; nothing was changed`);
  }
  const sha256 = await flushAndHash(work, ctx.signal);
  return { ...disk, size: (await stat(work)).size, sha256 };
}

/**
 * Finishes or undoes whatever an interrupted merge left in a child's folder: with its
 * merge manifest present, forward; without, every work file goes. Refuses (never
 * removes) a work entry that is not a regular file.
 */
export async function settleChild(dir: string, child: Manifest): Promise<'forward' | 'back'> {
  const mergeManifest = join(dir, MERGE_MANIFEST);
  const kind = await entryKind(mergeManifest);
  if (kind === 'missing') {
    await rollBack(dir, child);
    return 'back';
  }
  if (kind !== 'file') throw refused(child, MERGE_MANIFEST, kind);
  let reading;
  try {
    reading = readPoint(await readRegularFile(mergeManifest, MAX_MANIFEST_BYTES), { domainUuid: child.domain_uuid, backupId: child.backup_id });
  } catch (err) {
    if (err instanceof UnreadableEntry) throw new InvalidRepositoryEntry(`backup ${child.backup_id}: ${err.message}; it is kept`);
    throw err;
  }
  if (!reading.valid) throw new InvalidRepositoryEntry(`backup ${child.backup_id}: ${MERGE_MANIFEST} is not a manifest (${reading.reason}); it is kept`);
  await rollForward(dir, reading.manifest);
  return 'forward';
}

/**
 * Renames each merged disk over its file, then the manifest; idempotent. What goes in
 * takes the owner of the point's folder: a DR node's repository belongs to the user its
 * SSH server writes as, and must stay readable and removable by that user.
 */
async function rollForward(dir: string, merged: Manifest): Promise<void> {
  const { uid, gid } = await stat(dir);
  for (const disk of merged.disks) {
    const work = `${disk.file}${MERGE_SUFFIX}`;
    const kind = await entryKind(join(dir, work));
    // Missing: renamed already, or a disk that needed no merge.
    if (kind === 'file') {
      await chown(join(dir, work), uid, gid);
      await rename(join(dir, work), join(dir, disk.file));
    } else if (kind !== 'missing') throw refused(merged, work, kind);
  }
  // The disks' renames must be durable before the manifest that describes them.
  await fsyncDirectory(dir);
  await chown(join(dir, MERGE_MANIFEST), uid, gid);
  await rename(join(dir, MERGE_MANIFEST), join(dir, MANIFEST));
  await fsyncDirectory(dir);
  await removeMergeTemporaries(dir);
}

async function rollBack(dir: string, child: Manifest): Promise<void> {
  for (const disk of child.disks) {
    const work = `${disk.file}${MERGE_SUFFIX}`;
    const kind = await entryKind(join(dir, work));
    if (kind === 'file') await rm(join(dir, work));
    else if (kind !== 'missing') throw refused(child, work, kind);
  }
  await removeMergeTemporaries(dir);
}

async function removeMergeTemporaries(dir: string): Promise<void> {
  for (const name of (await readdir(dir)).filter((n) => MERGE_MANIFEST_TEMPORARY.test(n))) {
    if ((await entryKind(join(dir, name))) === 'file') await rm(join(dir, name));
  }
}

function refused(point: Manifest, name: string, kind: string): InvalidRepositoryEntry {
  return new InvalidRepositoryEntry(`backup ${point.backup_id}: ${name} is a ${kind}, not a file the agent wrote; it is kept`);
}
