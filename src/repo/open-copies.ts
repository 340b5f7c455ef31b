import { mkdir, mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgument, PointCorrupt } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { Manifest } from './point.js';
import type { OpenedPoints, TransferOptions } from './target.js';
import { MANIFEST } from './point-reading.js';

/**
 * Local copies of a remote target's points (SSH, S3) for QEMU and qemu-img, which open
 * files only: a fresh folder under the cache root per call, laid out as the target is
 * (`<uuid>/<id>/...`), so a point's relative backing path `../<parent>/vda.qcow2`
 * resolves. Every file is hashed while it downloads and must match its manifest's size
 * and sha256 before the copy is handed out (a mismatch is PointCorrupt: the transports'
 * own checks rule out damage on the way, so the stored point is wrong); each is fsynced.
 * `release` removes the folder; the start-up sweep removes any a crash left.
 */
export interface CopiedTarget {
  /** The target's name, for messages. */
  readonly name: string;
  getPoint(domainUuid: string, backupId: string): Promise<Manifest>;
}

/** Writes one stored disk file of a point into `sink` from offset 0, hashing it as it goes. */
export type DownloadFile = (domainUuid: string, backupId: string, file: string, sink: FileHandle, options: DownloadOptions) => Promise<Downloaded>;

export interface DownloadOptions {
  signal: AbortSignal;
  onBytes?: (bytes: number) => void;
}

export interface Downloaded {
  size: number;
  sha256: string;
}

/** The prefix of the folders openPoints makes under the cache root (the sweep's to remove). */
export const OPENED_PREFIX = 'open-';

export async function openCopies(
  target: CopiedTarget,
  cacheRoot: string,
  download: DownloadFile,
  domainUuid: string,
  backupIds: readonly string[],
  options: TransferOptions = {},
): Promise<OpenedPoints> {
  const signal = options.signal ?? new AbortController().signal;
  await mkdir(cacheRoot, { recursive: true, mode: 0o750 });
  const root = await mkdtemp(join(cacheRoot, OPENED_PREFIX));
  const release = () => rm(root, { recursive: true, force: true });
  const dirOf = (backupId: string) => {
    if (!backupIds.includes(backupId)) throw new InvalidArgument(`backup ${backupId} was not opened`);
    return join(root, domainUuid.toLowerCase(), backupId);
  };
  try {
    for (const backupId of backupIds) {
      const manifest = await target.getPoint(domainUuid, backupId);
      const dir = dirOf(backupId);
      await mkdir(dir, { recursive: true, mode: 0o750 });
      for (const disk of manifest.disks) {
        const local = await open(join(dir, disk.file), 'wx', 0o640);
        try {
          const copy = await download(domainUuid, backupId, disk.file, local, { signal, onBytes: options.onBytes });
          if (copy.size !== disk.size || copy.sha256 !== disk.sha256) {
            throw new PointCorrupt(
              `${disk.file} of backup ${backupId} on target ${target.name} is ${copy.size} bytes with sha256 ${copy.sha256}, its manifest says ${disk.size} bytes with ${disk.sha256}`,
            );
          }
          await local.sync();
        } finally {
          await local.close();
        }
      }
      await writeFileAtomic(join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { root, dirOf, release };
}
