import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Upload } from '@aws-sdk/lib-storage';
import { VerificationFailed } from '../../errors.js';
import type { PointDisk } from '../point.js';
import { throttled, type TokenBucket } from '../throttle.js';
import { s3Failure } from './s3-errors.js';
import type { S3Objects } from './s3-objects.js';

export interface UploadOptions {
  partSizeBytes: number;
  parallelParts: number;
  signal: AbortSignal;
  bucket: TokenBucket | null;
  onBytes?: (bytes: number) => void;
}

/** The metadata key that carries a disk object's sha256 (S3 only knows MD5s). */
export const SHA256_METADATA = 'sha256';

/**
 * Uploads one disk file of a point to `key` with lib-storage's multipart upload: up to
 * `parallelParts` parts of `partSizeBytes` in flight, so memory stays near their product
 * whatever the file's size. What is stored is proven equal to the manifest:
 * - each part carries Content-MD5 (s3-client.ts), so the service refuses a damaged part;
 * - the file's sha256 is computed as it is read and compared before the upload completes
 *   (a mismatch fails the stream, and lib-storage aborts the upload: no object appears);
 * - after completion the object's size and ETag (the MD5 of each part's MD5, S3's rule)
 *   must equal what the parts sent hashed to, or the object is deleted.
 * Each byte is hashed twice, sha256 as read and MD5 as sent, and no more: this is the
 * upload's CPU cost (bench/results/s3.md).
 * A failed upload is aborted by lib-storage; one a crash cut off is aborted by the staging
 * sweep (s3-staging.ts). Nothing of it is visible before it completes.
 */
export async function uploadVerified(objects: S3Objects, key: string, localPath: string, disk: PointDisk, options: UploadOptions): Promise<void> {
  const size = (await stat(localPath)).size;
  if (size !== disk.size) throw new VerificationFailed(`${disk.file} is ${size} bytes, its manifest says ${disk.size}; nothing was uploaded`);
  const whole = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      whole.update(chunk);
      options.onBytes?.(chunk.length);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const sha256 = whole.digest('hex');
      if (sha256 === disk.sha256) return callback();
      callback(new VerificationFailed(`${disk.file} reads as sha256 ${sha256} here, its manifest says ${disk.sha256}; the upload was abandoned`));
    },
  });
  const source = createReadStream(localPath, { highWaterMark: 1024 * 1024 });
  const reading = pipeline(source, throttled(options.bucket, options.signal), hashing).catch(() => undefined);
  const controller = new AbortController();
  const cancel = () => controller.abort();
  options.signal.addEventListener('abort', cancel, { once: true });
  const sent = objects.digests.watch(key);
  try {
    const upload = new Upload({
      client: objects.client,
      params: { Bucket: objects.bucket, Key: key, Body: hashing, ContentLength: size, Metadata: { [SHA256_METADATA]: disk.sha256 } },
      partSize: options.partSizeBytes,
      queueSize: options.parallelParts,
      leavePartsOnError: false,
      abortController: controller,
    });
    await upload.done();
  } catch (err) {
    source.destroy();
    throw s3Failure(err, `uploading ${key}`, objects.where, options.signal);
  } finally {
    options.signal.removeEventListener('abort', cancel);
    objects.digests.unwatch(key);
    await reading;
  }
  const stored = await objects.head(key, options.signal);
  const parts = Math.max(1, Math.ceil(size / options.partSizeBytes));
  const digests = [...sent.entries()].sort(([a], [b]) => a - b).map(([, digest]) => digest);
  const expected = digests.length === parts ? s3ETag(digests) : `${parts} parts (${digests.length} were sent)`;
  if (stored?.size !== size || stored.etag !== expected) {
    await objects.deleteKeys([key]);
    throw new VerificationFailed(
      `${key} was stored as ${stored?.size ?? 'nothing'} bytes with ETag ${stored?.etag ?? 'none'}; ${size} bytes with ETag ${expected} were sent. The object was deleted`,
    );
  }
}

/**
 * True when `key` already holds exactly the local file: its size and sha256 metadata match
 * the manifest and its ETag matches the file's own parts. An upload that completed before an
 * interruption is kept, not sent again.
 */
export async function alreadyStored(objects: S3Objects, key: string, localPath: string, disk: PointDisk, partSizeBytes: number): Promise<boolean> {
  const stored = await objects.head(key);
  if (stored?.size !== disk.size || stored.metadata[SHA256_METADATA] !== disk.sha256) return false;
  const hashes = new UploadHashes(partSizeBytes);
  for await (const chunk of createReadStream(localPath, { highWaterMark: 1024 * 1024 })) hashes.update(chunk as Buffer);
  return hashes.sha256() === disk.sha256 && hashes.etag() === stored.etag;
}

/**
 * The hashes of a file as it streams by: its sha256, and the ETag S3 gives it when it is
 * uploaded in parts of `partSize` (lib-storage cuts exactly there): the MD5 of the bytes for
 * one part, else the MD5 of the parts' binary MD5s, then `-<parts>`.
 */
export class UploadHashes {
  private readonly whole = createHash('sha256');
  private readonly partDigests: Buffer[] = [];
  private part: Hash = createHash('md5');
  private partBytes = 0;

  constructor(private readonly partSize: number) {}

  update(chunk: Buffer): void {
    this.whole.update(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, this.partSize - this.partBytes);
      this.part.update(chunk.subarray(offset, offset + take));
      this.partBytes += take;
      offset += take;
      if (this.partBytes === this.partSize) {
        this.partDigests.push(this.part.digest());
        this.part = createHash('md5');
        this.partBytes = 0;
      }
    }
  }

  sha256(): string {
    return this.whole.copy().digest('hex');
  }

  etag(): string {
    return s3ETag(this.partBytes > 0 || this.partDigests.length === 0 ? [...this.partDigests, this.part.copy().digest()] : this.partDigests);
  }
}

/** S3's ETag of an object from its parts' MD5s: the one MD5 for a single PUT, else the MD5 of the MD5s and `-<parts>`. */
export function s3ETag(partDigests: readonly Buffer[]): string {
  if (partDigests.length === 1) return partDigests[0]!.toString('hex');
  return `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${partDigests.length}`;
}
