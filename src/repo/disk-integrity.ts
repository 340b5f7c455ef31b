import { lstat } from 'node:fs/promises';
import { hashOpenFile } from '../backup/snapshot/copy-file.js';
import { entryKind, openRegularFile, UnreadableEntry } from '../util/no-follow-fs.js';
import type { PointDisk } from './point.js';

/**
 * Whether a point's disk file still holds what its manifest recorded when it was
 * published: there, a regular file (never followed through a symlink), of its size, and
 * of its sha256. Shared by verify and by delete, which checks what it is about to merge.
 */

/** What a long repository operation (verify, delete) is given: a stop, and its progress in bytes. */
export interface ProgressOptions {
  signal?: AbortSignal;
  /** Bytes done since the last call. */
  onBytes?: (bytes: number) => void;
  /** The bytes there are to do, once, before the first onBytes. */
  onTotal?: (bytes: number) => void;
}

/** `missing`: the data is not there to read; `corrupt`: it is there but not as recorded. */
export interface DiskFault {
  status: 'missing' | 'corrupt';
  /** Names the file by its name in the point, never a host path: it goes into replies. */
  problem: string;
}

/** The cheap part, before anything is read: present, a regular file, of the right size. */
export async function diskPresenceFault(file: string, disk: PointDisk): Promise<DiskFault | null> {
  try {
    const kind = await entryKind(file);
    if (kind === 'missing') return { status: 'missing', problem: `${disk.file} is missing` };
    if (kind !== 'file') return { status: 'missing', problem: `${disk.file} is a ${kind}, not a regular file` };
    return sizeFault(disk, (await lstat(file)).size);
  } catch (err) {
    if (err instanceof UnreadableEntry) return { status: 'missing', problem: err.message };
    throw err;
  }
}

/** Reads the whole file and compares its sha256; `onBytes` hears of each chunk read. */
export async function diskContentFault(
  file: string,
  disk: PointDisk,
  signal: AbortSignal,
  onBytes?: (bytes: number) => void,
): Promise<DiskFault | null> {
  let opened;
  try {
    opened = await openRegularFile(file);
  } catch (err) {
    if (err instanceof UnreadableEntry) return { status: 'missing', problem: err.message };
    throw err;
  }
  try {
    const wrongSize = sizeFault(disk, opened.size);
    if (wrongSize) return wrongSize;
    const sha256 = await hashOpenFile(opened.handle, signal, onBytes);
    if (sha256 !== disk.sha256) return { status: 'corrupt', problem: `${disk.file} reads as sha256 ${sha256}, its manifest says ${disk.sha256}` };
    return null;
  } catch (err) {
    if (signal.aborted) throw err;
    return { status: 'corrupt', problem: `${disk.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  } finally {
    await opened.handle.close();
  }
}

function sizeFault(disk: PointDisk, size: number): DiskFault | null {
  return size === disk.size ? null : { status: 'corrupt', problem: `${disk.file} is ${size} bytes, its manifest says ${disk.size}` };
}
