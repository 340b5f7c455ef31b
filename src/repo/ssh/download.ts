import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { InvalidRepositoryEntry, TargetOperationFailed } from '../../errors.js';
import type { Downloaded } from '../open-copies.js';
import type { RemoteFile, RemoteFs } from './remote-fs.js';
import type { TokenBucket } from '../throttle.js';

/**
 * A remote file read whole and hashed as it streams, optionally written into a local file
 * as well: the copies `openPoints` makes, and the read-back check of an upload when the
 * target runs no commands. Up to IN_FLIGHT reads are outstanding at once (one read per
 * round trip would cap a long link), and each chunk is hashed and written before the
 * next is asked for, so memory stays at IN_FLIGHT chunks whatever the file's size.
 */
export interface RemoteReadOptions {
  signal: AbortSignal;
  bucket: TokenBucket | null;
  onBytes?: (bytes: number) => void;
  /** Where the bytes go too (from offset 0); only hashed when absent. */
  sink?: FileHandle;
}

const CHUNK = 64 * 1024;
const IN_FLIGHT = 16;

/** Reads the regular file `path` (it is fstat-ed after opening, so a folder or device is refused). */
export async function downloadHashed(fs: RemoteFs, path: string, options: RemoteReadOptions): Promise<Downloaded> {
  const file = await fs.open(path, 'r');
  try {
    if (!(await fs.fstat(file)).isFile()) throw new InvalidRepositoryEntry(`${path} on the target is not a regular file`);
    return await streamFile(fs, file, options);
  } finally {
    await fs.closeQuietly(file);
  }
}

async function streamFile(fs: RemoteFs, file: RemoteFile, options: RemoteReadOptions): Promise<Downloaded> {
  const hash = createHash('sha256');
  const pending: Promise<Buffer>[] = [];
  let nextRequest = 0;
  const ask = () => {
    const read = fs.read(file, nextRequest, CHUNK);
    // Reads left behind when a step fails are awaited by nobody; they must not go unhandled.
    read.catch(() => undefined);
    pending.push(read);
    nextRequest += CHUNK;
  };
  for (let i = 0; i < IN_FLIGHT; i += 1) ask();
  let size = 0;
  let ended = false;
  while (pending.length > 0) {
    options.signal.throwIfAborted();
    const chunk = await pending.shift()!;
    if (chunk.length > 0 && ended) throw new TargetOperationFailed(`${file.path}: the server returned a short read before the end of the file`);
    if (chunk.length < CHUNK) ended = true;
    if (chunk.length === 0) continue;
    if (options.bucket) await options.bucket.take(chunk.length, options.signal);
    hash.update(chunk);
    if (options.sink) await writeAt(options.sink, chunk, size);
    size += chunk.length;
    options.onBytes?.(chunk.length);
    if (!ended) ask();
  }
  return { size, sha256: hash.digest('hex') };
}

/** A regular file takes a whole write or fails; a short one (a full disk) is an error, not a retry. */
async function writeAt(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  const { bytesWritten } = await handle.write(chunk, 0, chunk.length, position);
  if (bytesWritten !== chunk.length) throw new Error(`a local write took ${bytesWritten} of ${chunk.length} bytes`);
}
