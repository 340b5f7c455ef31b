import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { sleep } from '../../util/abortable-sleep.js';

export interface CopyOptions {
  signal: AbortSignal;
  /** Called with the bytes of each chunk as it is written. */
  onBytes: (bytes: number) => void;
  /** Bytes per second; 0 means unlimited. */
  bandwidth: number;
}

const CHUNK = 4 << 20;
const ZEROES = Buffer.alloc(CHUNK);

/**
 * Copies a file and returns the sha256 of what it read. All-zero chunks are skipped, so
 * the copy stays as sparse as qcow2 and raw images usually are; the final length is set
 * by truncation. Making the copy durable (fsync) is the caller's step.
 *
 * Reading the next chunk, writing the current one and hashing it all overlap, so the
 * copy is bounded by the slowest of the three rather than by their sum.
 */
export async function copyFileHashed(source: string, destination: string, options: CopyOptions): Promise<string> {
  const hash = createHash('sha256');
  const input = await open(source, 'r');
  const output = await open(destination, 'wx', 0o640);
  try {
    const { size } = await input.stat();
    const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    const started = Date.now();
    let position = 0;
    let slot = 0;
    let pending = input.read(buffers[0]!, 0, CHUNK, 0);
    while (position < size) {
      options.signal.throwIfAborted();
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const chunk = buffers[slot]!.subarray(0, bytesRead);
      const next = position + bytesRead;
      slot ^= 1;
      pending = next < size ? input.read(buffers[slot]!, 0, CHUNK, next) : Promise.resolve({ bytesRead: 0, buffer: buffers[slot]! });
      // The write runs on a pool thread while this thread hashes the same bytes.
      const written = chunk.equals(ZEROES.subarray(0, bytesRead)) ? null : writeFully(output, chunk, position);
      hash.update(chunk);
      await written;
      position = next;
      options.onBytes(bytesRead);
      if (options.bandwidth > 0) await throttle(position, started, options.bandwidth, options.signal);
    }
    await pending;
    await output.truncate(position);
    return hash.digest('hex');
  } finally {
    await Promise.allSettled([input.close(), output.close()]);
  }
}

/** The sha256 of a file, read back from disk; the next read overlaps hashing this one. */
export async function hashFile(path: string, signal: AbortSignal): Promise<string> {
  const handle = await open(path, 'r');
  try {
    return await hashOpenFile(handle, signal);
  } finally {
    await handle.close();
  }
}

/** The sha256 of an open file from its start; `onBytes` hears of each chunk hashed. */
export async function hashOpenFile(handle: FileHandle, signal: AbortSignal, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let slot = 0;
  let position = 0;
  let pending = handle.read(buffers[0]!, 0, CHUNK, 0);
  for (;;) {
    signal.throwIfAborted();
    const { bytesRead } = await pending;
    if (bytesRead === 0) break;
    const chunk = buffers[slot]!.subarray(0, bytesRead);
    position += bytesRead;
    slot ^= 1;
    pending = handle.read(buffers[slot]!, 0, CHUNK, position);
    hash.update(chunk);
    onBytes?.(bytesRead);
  }
  return hash.digest('hex');
}

async function writeFully(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.length - written, position + written);
    written += bytesWritten;
  }
}

async function throttle(bytesDone: number, startedMs: number, bandwidth: number, signal: AbortSignal): Promise<void> {
  const dueMs = startedMs + (bytesDone / bandwidth) * 1000;
  const wait = dueMs - Date.now();
  if (wait > 0) await sleep(wait, signal);
}
