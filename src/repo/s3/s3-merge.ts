import { join } from 'node:path';
import { TargetOperationFailed } from '../../errors.js';
import type { Logger } from '../../log.js';
import { deletePoint as deleteFromFolder, type DeleteOptions, type DeleteReport } from '../delete-point.js';
import { FileRepository } from '../file-repository.js';
import type { RepositoryLayout } from '../layout.js';
import { childrenOf } from '../point-chain.js';
import { pointChain } from '../point-lineage.js';
import { MANIFEST, MAX_MANIFEST_BYTES, readPoint } from '../point-reading.js';
import type { Manifest, PointDisk } from '../point.js';
import type { OpenedPoints, TransferOptions } from '../target.js';
import type { TokenBucket } from '../throttle.js';
import { keyOf } from './s3-entries.js';
import type { S3Objects } from './s3-objects.js';
import { SHA256_METADATA, uploadVerified } from './s3-upload.js';

/**
 * Deleting a point other points build on, from a bucket. The merge needs qemu-img next to
 * the bytes, so it runs here, on verified local copies (openPoints) of the point, the
 * points below it and its children: the file target's own delete (delete-point.ts) merges
 * it into each child there. Each child's new files then go back to the bucket with the
 * file target's commit rule, under work keys that no manifest names:
 *
 *   1. each changed disk is uploaded and verified as `<child>/<file>.virtdr-merge`;
 *   2. the child's new manifest is put as `<child>/manifest.json.virtdr-merge`: the commit;
 *   3. each work disk is copied over its disk on the service, the manifest is put, and the
 *      work keys go.
 *
 * A crash before 2 leaves work disks that `settleMerges` deletes (the child is as it was);
 * after it, `settleMerges` finishes 3 from the work keys alone. Only then does the point
 * itself go, manifest first.
 */
export const WORK_SUFFIX = '.virtdr-merge';
const WORK_MANIFEST = `${MANIFEST}${WORK_SUFFIX}`;

export interface MergeContext {
  objects: S3Objects;
  layout: RepositoryLayout;
  host: string;
  partSizeBytes: number;
  parallelParts: number;
  bucket: TokenBucket | null;
  log: Logger;
  listPoints(domainUuid: string): Promise<Manifest[]>;
  getPoint(domainUuid: string, backupId: string): Promise<Manifest>;
  openPoints(domainUuid: string, backupIds: readonly string[], options?: TransferOptions): Promise<OpenedPoints>;
}

/** Merges the point into each of its children on the bucket; the point itself is left for the caller to remove. */
export async function mergeIntoChildren(ctx: MergeContext, domainUuid: string, backupId: string, options: DeleteOptions): Promise<DeleteReport> {
  const points = await ctx.listPoints(domainUuid);
  const children = childrenOf(points, backupId);
  const below = await pointChain(ctx, domainUuid, backupId);
  const opened = await ctx.openPoints(domainUuid, [...below.reverse(), ...children].map((m) => m.backup_id), options);
  try {
    const local = new FileRepository(opened.root, ctx.host, { name: 'merge copies' });
    const report = await deleteFromFolder(local, domainUuid, backupId, options);
    for (const child of children) {
      const merged = await local.getPoint(domainUuid, child.backup_id);
      await storeMergedChild(ctx, child, merged, local.pointDir(domainUuid, child.backup_id), options.signal ?? new AbortController().signal);
    }
    return report;
  } finally {
    await opened.release();
  }
}

/** Steps 1-3 for one child whose merged files are in the local folder `from`. */
async function storeMergedChild(ctx: MergeContext, before: Manifest, merged: Manifest, from: string, signal: AbortSignal): Promise<void> {
  const childKey = keyOf(ctx.layout.pointDir(merged.domain_uuid, merged.backup_id));
  for (const disk of changedDisks(before, merged)) {
    await uploadVerified(ctx.objects, `${childKey}/${disk.file}${WORK_SUFFIX}`, join(from, disk.file), disk, {
      partSizeBytes: ctx.partSizeBytes,
      parallelParts: ctx.parallelParts,
      signal,
      bucket: ctx.bucket,
    });
  }
  await ctx.objects.put(`${childKey}/${WORK_MANIFEST}`, manifestBytes(merged));
  await finishChild(ctx, childKey, merged);
}

/** Step 3: the work keys over the child's own, then the manifest, then the work keys go. Repeatable. */
async function finishChild(ctx: MergeContext, childKey: string, merged: Manifest): Promise<void> {
  for (const disk of merged.disks) {
    const work = `${childKey}/${disk.file}${WORK_SUFFIX}`;
    const head = await ctx.objects.head(work);
    // Gone: copied by a run that stopped after it (the disk then holds it already).
    if (head === null) continue;
    if (head.size !== disk.size || head.metadata[SHA256_METADATA] !== disk.sha256) {
      throw new TargetOperationFailed(`the merged ${disk.file} of backup ${merged.backup_id} is stored as ${head.size} bytes with sha256 ${head.metadata[SHA256_METADATA] ?? 'unknown'}, not what its new manifest says`);
    }
    await ctx.objects.copy(work, `${childKey}/${disk.file}`, disk.size, head.metadata);
  }
  await ctx.objects.put(`${childKey}/${MANIFEST}`, manifestBytes(merged));
  await removeWorkKeys(ctx, childKey);
  ctx.log.info({ domain_uuid: merged.domain_uuid, backup_id: merged.backup_id, parent: merged.parent }, 'merged child stored on the target');
}

/**
 * After a crash: a child of the point with a committed merge (its work manifest is in) is
 * finished forward; another child's work disks go, leaving it as it was; work keys of a
 * merge that finished (the work manifest is the manifest) go. Work keys of any other
 * point are another delete's, and stay.
 */
export async function settleMerges(ctx: MergeContext, domainUuid: string, backupId: string): Promise<void> {
  for (const point of await ctx.listPoints(domainUuid)) {
    const pointKey = keyOf(ctx.layout.pointDir(domainUuid, point.backup_id));
    if (!(await ctx.objects.listKeys(`${pointKey}/`)).some((key) => key.endsWith(WORK_SUFFIX))) continue;
    const committed = await ctx.objects.get(`${pointKey}/${WORK_MANIFEST}`, MAX_MANIFEST_BYTES);
    const reading = Buffer.isBuffer(committed) ? readPoint(committed, { domainUuid, backupId: point.backup_id }) : null;
    const merged = reading?.valid ? reading.manifest : null;
    if (merged && JSON.stringify(merged) === JSON.stringify(point)) await removeWorkKeys(ctx, pointKey);
    else if (point.parent !== backupId) continue;
    else if (merged) await finishChild(ctx, pointKey, merged);
    else await removeWorkKeys(ctx, pointKey);
  }
}

/** A point's work keys, the work manifest last: while it is there, a crash is finished forward. */
async function removeWorkKeys(ctx: MergeContext, pointKey: string): Promise<void> {
  const work = (await ctx.objects.listKeys(`${pointKey}/`)).filter((key) => key.endsWith(WORK_SUFFIX));
  work.sort((a, b) => Number(a.endsWith(WORK_MANIFEST)) - Number(b.endsWith(WORK_MANIFEST)));
  for (const key of work) await ctx.objects.deleteKeys([key]);
}

/** Work keys below a domain's points, as `<id>/<file>`: an interrupted merge another delete must not cross. */
export async function pendingMerges(ctx: Pick<MergeContext, 'objects' | 'layout'>, domainUuid: string): Promise<string[]> {
  const domainKey = keyOf(ctx.layout.domainDir(domainUuid));
  return (await ctx.objects.listKeys(`${domainKey}/`)).filter((key) => key.endsWith(WORK_SUFFIX)).map((key) => key.slice(domainKey.length + 1));
}

function manifestBytes(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
}

/** The merged child's disks whose bytes changed. */
function changedDisks(before: Manifest, merged: Manifest): PointDisk[] {
  return merged.disks.filter((d) => before.disks.find((b) => b.target === d.target)?.sha256 !== d.sha256);
}
