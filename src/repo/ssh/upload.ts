import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VerificationFailed } from '../../errors.js';
import { openRegularFile } from '../../util/no-follow-fs.js';
import type { RemoteFile, RemoteFs } from './remote-fs.js';
import { throttled, type TokenBucket } from '../throttle.js';

/**
 * One local file onto the target, resumable and with bounded memory.
 *
 * The bytes flow as a stream pipeline: the local file's read stream, the target's token
 * bucket, and a writer that keeps at most IN_FLIGHT SFTP write requests outstanding at
 * explicit offsets. Backpressure holds the reader while the link is busy, so memory stays
 * at a few MiB whatever the file's size, and several writes in flight keep a long link
 * busy (one write per round trip would cap a 20 ms link at a few MB/s).
 *
 * A staged remote file left by a broken transfer is continued from its length when that
 * is not longer than the source: OpenSSH's sftp-server handles a session's requests in
 * order, so what a dropped connection left is a prefix of what was sent. If it is not
 * (another server, a torn disk), the caller's sha256 check finds it and the staged file
 * goes, so the next attempt starts over; a partial file is never taken for a whole one.
 */
export interface UploadOptions {
  signal: AbortSignal;
  /** Bytes the target acknowledged, as they are. */
  onBytes: (bytes: number) => void;
  bucket: TokenBucket | null;
}

export interface UploadResult {
  /** Where the upload started: the length of a staged file it continued, else 0. */
  resumedFrom: number;
  /** Bytes sent by this call. */
  sent: number;
}

const CHUNK = 64 * 1024;
const IN_FLIGHT = 16;

/** Uploads `source` (a regular local file of `expectedSize` bytes) to `destination`, then fsyncs it there. */
export async function uploadFile(fs: RemoteFs, source: string, destination: string, expectedSize: number, options: UploadOptions): Promise<UploadResult> {
  const local = await openRegularFile(source);
  try {
    if (local.size !== expectedSize) {
      throw new VerificationFailed(`the local file ${source} is ${local.size} bytes, its manifest says ${expectedSize}`);
    }
    const staged = await fs.lstat(destination);
    const resumedFrom = staged.kind === 'file' && staged.size <= local.size ? staged.size : 0;
    if (resumedFrom === 0 && staged.kind !== 'missing') await fs.removeTree(destination);
    const remote = await fs.open(destination, resumedFrom > 0 ? 'r+' : 'w');
    let sent = 0;
    try {
      if (resumedFrom < local.size) {
        const writer = new SftpWriter(fs, remote, resumedFrom, (bytes) => {
          sent += bytes;
          options.onBytes(bytes);
        });
        const reader = local.handle.createReadStream({ start: resumedFrom, highWaterMark: CHUNK, autoClose: false });
        await pipeline(reader, throttled(options.bucket, options.signal), writer, { signal: options.signal });
      }
      await fs.fsync(remote);
    } catch (err) {
      await fs.closeQuietly(remote);
      // The pipeline rejects with a generic AbortError; the job wants to know who stopped it.
      throw options.signal.aborted ? options.signal.reason : err;
    }
    await fs.close(remote);
    return { resumedFrom, sent };
  } finally {
    await local.handle.close();
  }
}

/** Writes a small file whole (a manifest), fsynced, under a temporary name, then renamed into place. */
export async function writeRemoteFileAtomic(fs: RemoteFs, temporary: string, destination: string, data: Buffer): Promise<void> {
  const remote = await fs.open(temporary, 'w');
  try {
    await fs.write(remote, data, 0);
    await fs.fsync(remote);
  } catch (err) {
    await fs.closeQuietly(remote);
    await fs.unlink(temporary).catch(() => undefined);
    throw err;
  }
  await fs.close(remote);
  await fs.rename(temporary, destination);
}

/**
 * A Writable over an open remote file: each chunk becomes one SFTP write at the next
 * offset; up to IN_FLIGHT are outstanding before the stream stops taking more. A byte
 * counts as sent once the server acknowledged its write.
 */
class SftpWriter extends Writable {
  private position: number;
  private inFlight = 0;
  private failure: Error | null = null;
  /** The stream's callback held back while IN_FLIGHT writes are outstanding. */
  private held: ((err?: Error | null) => void) | null = null;
  private whenIdle: (() => void) | null = null;

  constructor(
    private readonly fs: RemoteFs,
    private readonly file: RemoteFile,
    start: number,
    private readonly onAcknowledged: (bytes: number) => void,
  ) {
    super({ highWaterMark: CHUNK });
    this.position = start;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    const position = this.position;
    this.position += chunk.length;
    this.inFlight += 1;
    this.fs.write(this.file, chunk, position).then(
      () => this.settled(null, chunk.length),
      (err: Error) => this.settled(err, 0),
    );
    if (this.inFlight < IN_FLIGHT) callback();
    else this.held = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.inFlight === 0) callback(this.failure);
    else this.whenIdle = () => callback(this.failure);
  }

  private settled(err: Error | null, bytes: number): void {
    this.inFlight -= 1;
    if (err) this.failure ??= err;
    else this.onAcknowledged(bytes);
    const held = this.held;
    this.held = null;
    held?.(this.failure);
    if (this.inFlight === 0) {
      const whenIdle = this.whenIdle;
      this.whenIdle = null;
      whenIdle?.();
    }
  }
}
