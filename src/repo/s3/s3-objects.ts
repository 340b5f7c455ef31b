import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { TargetOperationFailed } from '../../errors.js';
import type { S3Settings } from '../target-config.js';
import { makeS3Client, PartDigests } from './s3-client.js';
import { isNotFound, s3Failure, type S3Where } from './s3-errors.js';

export interface ObjectHead {
  size: number;
  /** As the service reports it, without quotes: md5 of the bytes, or md5 of the parts' md5s and `-<parts>`. */
  etag: string;
  metadata: Record<string, string>;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
}

/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000;
/** CopyObject copies at most 5 GiB; a larger object is copied in parts of this size. */
const MAX_SINGLE_COPY = 5 * 1024 ** 3;
const COPY_PART = 1024 ** 3;

/**
 * The S3 calls the target makes, on one bucket, each failure turned into a typed error
 * (s3-errors.ts). Keys are built by the caller from checked ids only.
 */
export class S3Objects {
  readonly where: S3Where;
  readonly client: S3Client;
  /** What each upload's bodies hashed to, as sent (s3-client.ts). */
  readonly digests = new PartDigests();

  constructor(
    settings: S3Settings,
    connections: number,
    readonly bucket: string,
    location: string,
  ) {
    this.client = makeS3Client(settings, connections, this.digests);
    this.where = { location, bucket, endpoint: settings.endpoint ?? `AWS S3 ${settings.region}` };
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectHead | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
      return { size: head.ContentLength ?? 0, etag: unquoted(head.ETag), metadata: head.Metadata ?? {} };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw s3Failure(err, `reading ${key}`, this.where, signal);
    }
  }

  /** The names directly below `prefix` (which ends in '/'): objects and common prefixes, sorted. */
  async listNames(prefix: string): Promise<string[]> {
    const names = new Set<string>();
    await this.pages(prefix, '/', (page) => {
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.add(p.Prefix.slice(prefix.length, -1));
      for (const o of page.Contents ?? []) if (o.Key && o.Key !== prefix) names.add(o.Key.slice(prefix.length));
    });
    return [...names].sort();
  }

  /** The key of every object below `prefix`, at any depth. */
  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    await this.pages(prefix, undefined, (page) => {
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    });
    return keys;
  }

  /** True when at least one object's key starts with `prefix`. */
  async anyBelow(prefix: string): Promise<boolean> {
    const page = await this.call(`listing ${prefix}`, () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1 })));
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
  }

  /** An object's bytes, at most `maxBytes` of them; null when absent, 'too large' when longer. */
  async get(key: string, maxBytes: number): Promise<Buffer | null | 'too large'> {
    try {
      const reply = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${maxBytes}` }));
      const bytes = Buffer.from(await reply.Body!.transformToByteArray());
      return bytes.length > maxBytes ? 'too large' : bytes;
    } catch (err) {
      if (isNotFound(err)) return null;
      if ((err as { name?: string }).name === 'InvalidRange') return Buffer.alloc(0);
      throw s3Failure(err, `reading ${key}`, this.where);
    }
  }

  /** The object's bytes as a stream. */
  async stream(key: string, signal: AbortSignal): Promise<Readable> {
    const reply = await this.call(`reading ${key}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal }), signal);
    if (!reply.Body) throw new TargetOperationFailed(`reading ${key} on ${this.where.location}: the reply had no body`);
    return reply.Body as Readable;
  }

  async put(key: string, body: Buffer, metadata: Record<string, string> = {}): Promise<ObjectHead> {
    const reply = await this.call(`writing ${key}`, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, Metadata: metadata })));
    return { size: body.length, etag: unquoted(reply.ETag), metadata };
  }

  /**
   * Copies `from` to `to` inside the bucket, on the service (Ceph's gateway shares the data
   * rather than copying it), metadata included; in 1 GiB parts above S3's 5 GiB limit.
   */
  async copy(from: string, to: string, size: number, metadata: Record<string, string>): Promise<void> {
    const source = `${this.bucket}/${encodeURIComponent(from).replace(/%2F/g, '/')}`;
    if (size <= MAX_SINGLE_COPY) {
      await this.call(`copying ${from}`, () => this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: to, CopySource: source, MetadataDirective: 'COPY' })));
      return;
    }
    const { UploadId } = await this.call(`copying ${from}`, () => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: to, Metadata: metadata })));
    try {
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (let offset = 0, part = 1; offset < size; offset += COPY_PART, part += 1) {
        const range = `bytes=${offset}-${Math.min(offset + COPY_PART, size) - 1}`;
        const reply = await this.call(`copying ${from}`, () =>
          this.client.send(new UploadPartCopyCommand({ Bucket: this.bucket, Key: to, UploadId, PartNumber: part, CopySource: source, CopySourceRange: range })),
        );
        parts.push({ PartNumber: part, ETag: reply.CopyPartResult?.ETag ?? '' });
      }
      await this.call(`copying ${from}`, () =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId, MultipartUpload: { Parts: parts } })),
      );
    } catch (err) {
      await this.abortUpload({ key: to, uploadId: UploadId! }).catch(() => undefined);
      throw err;
    }
  }

  /** Deletes the keys (absent ones are no error); any key the service would not delete fails the call. */
  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const reply = await this.call(`deleting ${batch.length} object(s)`, () =>
        this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })),
      );
      const failed = reply.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new TargetOperationFailed(`deleting on ${this.where.location}: ${failed.length} object(s) were not deleted, the first ${first.Key}: ${first.Code} ${first.Message ?? ''}`.trimEnd());
      }
    }
  }

  /** Multipart uploads begun and neither completed nor aborted, below `prefix`. */
  async pendingUploads(prefix: string): Promise<PendingUpload[]> {
    const uploads: PendingUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.call(`listing the uploads below ${prefix}`, () =>
        this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })),
      );
      for (const u of page.Uploads ?? []) if (u.Key && u.UploadId) uploads.push({ key: u.Key, uploadId: u.UploadId });
      if (!page.IsTruncated) return uploads;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async abortUpload(upload: PendingUpload): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.key, UploadId: upload.uploadId }));
    } catch (err) {
      if (!isNotFound(err) && (err as { name?: string }).name !== 'NoSuchUpload') throw s3Failure(err, `aborting the upload of ${upload.key}`, this.where);
    }
  }

  /** Runs one call, its failure typed. */
  async call<T>(step: string, send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await send();
    } catch (err) {
      throw s3Failure(err, step, this.where, signal);
    }
  }

  private async pages(prefix: string, delimiter: string | undefined, each: (page: { CommonPrefixes?: { Prefix?: string }[]; Contents?: { Key?: string }[] }) => void): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.call(`listing ${prefix || 'the bucket'}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token })),
      );
      each(page);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}

function unquoted(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}
