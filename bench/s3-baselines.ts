import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { measureCommand, type CommandCost } from './measure.js';

/** Where the curl baseline puts its copy, and how it signs. */
export interface CurlPut {
  /** http://127.0.0.1:PORT, path-style as the agent addresses Ceph. */
  endpoint: string;
  region: string;
  bucket: string;
  key: string;
  file: string;
  /** A curl config file holding `user = "ACCESS:SECRET"` (writeCurlCredentials), so the key is in no argv. */
  credentials: string;
}

/**
 * One single-stream PUT with curl's own SigV4. RGW wants x-amz-content-sha256 on a signed
 * request; UNSIGNED-PAYLOAD spares curl a read of the whole file before it sends.
 */
export function curlPutArgv(put: CurlPut): string[] {
  return [
    'curl', '-fsS',
    '--config', put.credentials,
    '--aws-sigv4', `aws:amz:${put.region}:s3`,
    '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD',
    '-T', put.file,
    `${put.endpoint}/${put.bucket}/${put.key}`,
  ];
}

export function curlPut(put: CurlPut): Promise<CommandCost> {
  return measureCommand(curlPutArgv(put));
}

/** The config file curlPutArgv names: readable by its owner only. */
export async function writeCurlCredentials(file: string, accessKey: string, secretKey: string): Promise<void> {
  const quoted = `${accessKey}:${secretKey}`.replace(/[\\"]/g, (c) => `\\${c}`);
  await writeFile(file, `user = "${quoted}"\n`, { mode: 0o600 });
}

/** Downloads one object to `file`, hashing it on the way; the file is left in the page cache. */
export async function downloadObject(client: S3Client, bucket: string, key: string, file: string): Promise<{ bytes: number; sha256: string }> {
  const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!Body) throw new Error(`s3://${bucket}/${key} came back without a body`);
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    Body as Readable,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(file),
  );
  return { bytes, sha256: hash.digest('hex') };
}
