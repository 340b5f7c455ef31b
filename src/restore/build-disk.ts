import { chmod, chown, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { diskContentFault } from '../repo/disk-integrity.js';
import type { PointDisk } from '../repo/point.js';
import { PointCorrupt, VerificationFailed } from '../errors.js';
import { fsyncDirectory, fsyncFile } from '../util/atomic-file.js';
import { convertChain, readChain, sameContent, type ImageLayer } from '../qemu/qemu-img.js';
import type { RestoreDiskPlan } from './plan.js';

export interface BuildContext {
  signal: AbortSignal;
  /** Every file of the point's chain with what its manifest recorded. */
  disks: ReadonlyMap<string, PointDisk>;
  onBytes: (bytes: number) => void;
}

/**
 * The layers a restored disk is read from, top first, as their headers name them (their
 * formats were written by the agent). Each must be a file of the point's own chain: a
 * header pointing anywhere else is not followed.
 */
export async function pointLayers(disk: RestoreDiskPlan, disks: ReadonlyMap<string, PointDisk>): Promise<ImageLayer[]> {
  const chain = await readChain({ file: disk.pointFile, format: disk.pointFormat });
  for (const layer of chain) {
    if (!disks.has(layer.file)) {
      throw new PointCorrupt(`disk ${disk.target}: ${layer.file} is not a file of the point's chain in the repository`);
    }
  }
  return chain;
}

/**
 * True, or why not: each file read whole against its manifest (as verify reads it). An
 * instant restore checks this while its copy runs; a normal one while it flattens.
 */
export async function filesMatch(files: readonly string[], ctx: Pick<BuildContext, 'signal' | 'disks'>): Promise<true | string> {
  for (const file of files) {
    const fault = await diskContentFault(file, ctx.disks.get(file)!, ctx.signal);
    if (fault) return fault.problem;
  }
  return true;
}

/**
 * Turns a job's fraction done (0–1, from qemu-img's percent or a block job's cur/end)
 * into the bytes of `total` it adds, never counting a byte twice when it goes back.
 */
export function fractionAsBytes(total: number, onBytes: (bytes: number) => void): (fraction: number) => void {
  let reported = 0;
  return (fraction) => {
    const done = Math.floor(Math.min(1, fraction) * total);
    if (done > reported) onBytes(done - reported);
    reported = Math.max(reported, done);
  };
}

/**
 * Builds one restored disk at its staged path and proves it: every layer it is read from
 * must be a file of the point's chain whose sha256 matches the manifest (hashed while
 * qemu-img flattens the chain, so the files are read once from disk and once from cache),
 * and the result must hold the chain's guest-visible content (`qemu-img compare`). The
 * staged file takes the owner and mode of the file it will replace, and is fsynced.
 */
export async function buildDisk(disk: RestoreDiskPlan, chain: readonly ImageLayer[], ctx: BuildContext): Promise<void> {
  await rm(disk.staged, { force: true });
  const staged: ImageLayer = { file: disk.staged, format: disk.format };
  const progress = fractionAsBytes(disk.virtualSize, ctx.onBytes);
  const [filesSound] = await Promise.all([
    filesMatch(chain.map((layer) => layer.file), ctx),
    convertChain(chain, staged, { signal: ctx.signal, onPercent: (percent) => progress(percent / 100) }),
  ]);
  if (filesSound !== true) throw new PointCorrupt(`disk ${disk.target}: ${filesSound}`);
  if (!(await sameContent([staged], chain, { signal: ctx.signal }))) {
    throw new VerificationFailed(`disk ${disk.target}: the restored file does not read back as the point`);
  }
  await takeOwnership(disk);
  await fsyncInPlace(disk.staged);
}

/** The replaced file's owner and mode; a new file keeps root's 0600 (libvirt labels it at start). */
export async function takeOwnership(disk: RestoreDiskPlan): Promise<void> {
  const existing = await stat(disk.final).catch(() => null);
  if (!existing) return;
  await chown(disk.staged, existing.uid, existing.gid);
  await chmod(disk.staged, existing.mode & 0o7777);
}

/** The file's data, and its entry in its folder, on disk. */
export async function fsyncInPlace(path: string): Promise<void> {
  await fsyncFile(path);
  await fsyncDirectory(dirname(path));
}
