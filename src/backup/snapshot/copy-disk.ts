import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UnsupportedDisk, VerificationFailed } from '../../errors.js';
import { fsyncFile } from '../../util/atomic-file.js';
import { convertToQcow2, imageInfo, isImageFormat, readChain, relinkBacking } from '../../qemu/qemu-img.js';
import type { PointDisk } from '../../repo/point.js';
import { copyFileHashed, hashFile } from './copy-file.js';
import type { DiskPlan } from './plan.js';

export interface DiskCopyContext {
  signal: AbortSignal;
  bandwidth: number;
  /** This disk's `bytesToCopy`, already counted into the job's total. */
  plannedBytes: number;
  /** Bytes newly done, in the units of `plannedBytes`. */
  onBytes: (bytes: number) => void;
}

/** What a disk's copy will move, for the job's bytes_total. */
export async function bytesToCopy(plan: DiskPlan): Promise<number> {
  if (plan.copy === 'flatten') return (await imageInfo(plan.frozen, plan.frozenFormat)).virtualSize;
  return (await stat(plan.frozen)).size;
}

/**
 * Saves one frozen disk layer into a staged point folder and proves it: every file is
 * read back from disk and its sha256 checked before it may go into a manifest.
 */
export async function saveDisk(
  plan: DiskPlan,
  stagingDir: string,
  parent: { backupId: string; file: string; format: string } | null,
  ctx: DiskCopyContext,
): Promise<PointDisk> {
  const destination = join(stagingDir, plan.pointFile);
  const sha256 =
    plan.copy === 'flatten'
      ? await flattenChain(plan, destination, ctx)
      : await copyLayer(plan, destination, parent, ctx);
  const [info, { size }] = await Promise.all([imageInfo(destination, plan.pointFormat), stat(destination)]);
  return {
    target: plan.target,
    file: plan.pointFile,
    format: plan.pointFormat,
    virtual_size: info.virtualSize,
    size,
    sha256,
  };
}

/** qemu-img reads the whole chain into one file; the file's hash is taken from disk. */
async function flattenChain(plan: DiskPlan, destination: string, ctx: DiskCopyContext): Promise<string> {
  const total = ctx.plannedBytes;
  let reported = 0;
  const chain = await readChain({ file: plan.frozen, format: plan.frozenFormat });
  await convertToQcow2(chain, destination, {
    signal: ctx.signal,
    onPercent: (percent) => {
      const done = Math.floor((total * percent) / 100);
      if (done > reported) ctx.onBytes(done - reported);
      reported = Math.max(reported, done);
    },
  });
  if (total > reported) ctx.onBytes(total - reported);
  return flushAndHash(destination, ctx.signal);
}

/** Copies one layer byte for byte, checks it reads back the same, relinks a delta. */
async function copyLayer(
  plan: DiskPlan,
  destination: string,
  parent: { backupId: string; file: string; format: string } | null,
  ctx: DiskCopyContext,
): Promise<string> {
  const copied = await copyFileHashed(plan.frozen, destination, ctx);
  const verify = (reread: string) => {
    if (reread !== copied) {
      throw new VerificationFailed(`${plan.target}: the copy reads back as ${reread}, the source as ${copied}`);
    }
  };
  if (plan.copy !== 'delta') {
    verify(await flushAndHash(destination, ctx.signal));
    return copied;
  }
  if (!parent) throw new VerificationFailed(`${plan.target}: an incremental needs its parent point`);
  verify(await hashFile(destination, ctx.signal));
  if (!isImageFormat(parent.format)) throw new UnsupportedDisk(`${plan.target}: the parent point's format ${parent.format} is unknown`);
  // Relative, so the repository can move and any point opens with plain qemu-img.
  await relinkBacking(
    { file: destination, format: plan.pointFormat },
    { file: `../${parent.backupId}/${parent.file}`, format: parent.format },
  );
  return flushAndHash(destination, ctx.signal);
}

/**
 * Makes a file durable and reads it back for its sha256, at the same time: the read-back
 * sees the same bytes the flush writes, and the point's manifest waits for both.
 */
export async function flushAndHash(path: string, signal: AbortSignal): Promise<string> {
  const [, sha256] = await Promise.all([fsyncFile(path), hashFile(path, signal)]);
  return sha256;
}

