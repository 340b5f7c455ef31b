import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * File-system reads of what the agent cannot trust: a repository whose entries anyone with
 * write access to a shared export may have planted, and its own journal after a crash or
 * a careless hand. Nothing here follows a symlink, opens anything but a regular
 * file, or reads without a bound: a FIFO opened as a file holds a libuv pool thread for
 * good, and a directory or a huge file where a manifest belongs must cost one error, not
 * the agent.
 */

export type EntryKind = 'missing' | 'directory' | 'file' | 'symlink' | 'FIFO' | 'socket' | 'device';

/** What is at `path` itself (lstat: a symlink is reported as one, never followed). */
export async function entryKind(path: string): Promise<EntryKind> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return 'missing';
    throw new UnreadableEntry(`${basename(path)} cannot be examined (${errorCode(err)})`);
  }
  return kindOfStats(stats);
}

/** The kind an lstat result reports: node's, or an SFTP server's (the SSH target's). */
export function kindOfStats(stats: {
  isSymbolicLink(): boolean;
  isDirectory(): boolean;
  isFile(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
}): EntryKind {
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isDirectory()) return 'directory';
  if (stats.isFile()) return 'file';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isSocket()) return 'socket';
  return 'device';
}

/** An entry that is not what it should be, or that cannot be read; the message names it. */
export class UnreadableEntry extends Error {}

/** "vda.qcow2 is a symlink", for an entry that should have been of another kind. */
export function wrongKind(path: string, kind: EntryKind): UnreadableEntry {
  return new UnreadableEntry(kind === 'missing' ? `${basename(path)} is missing` : `${basename(path)} is a ${kind}`);
}

/**
 * Opens a regular file for reading. The lstat first keeps FIFOs and devices from being
 * opened at all; O_NOFOLLOW, O_NONBLOCK and the fstat after opening cover an entry
 * swapped in between. Throws UnreadableEntry, whose message names the file only.
 */
export async function openRegularFile(path: string): Promise<{ handle: FileHandle; size: number }> {
  const kind = await entryKind(path);
  if (kind !== 'file') throw wrongKind(path, kind);
  const name = basename(path);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errorCode(err) === 'ELOOP') throw wrongKind(path, 'symlink');
    throw new UnreadableEntry(`${name} cannot be opened (${errorCode(err)})`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UnreadableEntry(`${name} is not a regular file`);
    return { handle, size: stats.size };
  } catch (err) {
    await handle.close();
    if (err instanceof UnreadableEntry) throw err;
    throw new UnreadableEntry(`${name} cannot be read (${errorCode(err)})`);
  }
}

/** Reads a regular file of at most `maxBytes` (see openRegularFile). */
export async function readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
  const name = basename(path);
  const { handle, size } = await openRegularFile(path);
  try {
    if (size > maxBytes) throw new UnreadableEntry(`${name} is larger than ${maxBytes} bytes (${size})`);
    // One byte more than fstat said, to notice a file that grows while it is read.
    const buffer = Buffer.alloc(size + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > size) throw new UnreadableEntry(`${name} grew while it was read`);
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof UnreadableEntry) throw err;
    throw new UnreadableEntry(`${name} cannot be read (${errorCode(err)})`);
  } finally {
    await handle.close();
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'unknown error';
}
