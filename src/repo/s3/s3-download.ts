import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Downloaded, DownloadOptions } from '../open-copies.js';
import { throttled, type TokenBucket } from '../throttle.js';
import type { S3Objects } from './s3-objects.js';

/**
 * One object streamed into `sink` from offset 0, paced by the target's token bucket and
 * hashed as it passes: what openPoints checks against the manifest before handing out a
 * copy. The stream's backpressure keeps memory to a few chunks whatever the object's size.
 */
export async function downloadObject(objects: S3Objects, key: string, sink: FileHandle, bucket: TokenBucket | null, options: DownloadOptions): Promise<Downloaded> {
  const body = await objects.stream(key, options.signal);
  const hash = createHash('sha256');
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      options.onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
  // Not sink.createWriteStream: without autoClose its stream never ends a pipeline, and
  // the caller owns the handle (it fsyncs and closes it).
  let position = 0;
  const writing = new Writable({
    write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void) {
      sink.write(chunk, 0, chunk.length, position).then(({ bytesWritten }) => {
        position += bytesWritten;
        callback(bytesWritten === chunk.length ? null : new Error(`a local write took ${bytesWritten} of ${chunk.length} bytes`));
      }, callback);
    },
  });
  await objects.call(`reading ${key}`, () => pipeline(body, throttled(bucket, options.signal), hashing, writing, { signal: options.signal }), options.signal);
  return { size, sha256: hash.digest('hex') };
}
