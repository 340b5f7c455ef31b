import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../target-config.js';

// The SDK warns once on stderr that its releases after January 2027 need Node 22. The agent
// runs on Node 20 by design and its lockfile pins a release that supports it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** How long a connection may take to open, and a request may go without a byte moving. */
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 120_000;

/**
 * An S3 client for one service (repo.s3), addressed path-style as Ceph's RADOS Gateway
 * wants. Checksums are computed only where S3 requires them: the SDK's default CRC32
 * trailers are refused by gateways older than the newest AWS (Ceph 16 is one). Instead
 * every request body the agent sends whole (a multipart part, a manifest) carries
 * Content-MD5, which every S3 service checks on arrival: a part damaged on the way is
 * refused (BadDigest) and sent again, never stored. That MD5 is the body's one hash: it is
 * signed as UNSIGNED-PAYLOAD (the SigV4 body hash would be a second pass over each part
 * for what Content-MD5 already proves), and handed to `digests`, from which an upload
 * knows the ETag S3 must report.
 */
export function makeS3Client(settings: S3Settings, connections: number, digests: PartDigests): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: connections };
  const client = new S3Client({
    ...(settings.endpoint === null ? {} : { endpoint: settings.endpoint }),
    region: settings.region,
    forcePathStyle: true,
    credentials: { accessKeyId: settings.accessKey, secretAccessKey: settings.secretKey.reveal() },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      httpAgent: new Agent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
      if (request.headers && body instanceof Uint8Array && !hasHeader(request.headers, 'content-md5')) {
        const digest = createHash('md5').update(body).digest();
        request.headers['content-md5'] = digest.toString('base64');
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        // Only an object's bytes (PutObject, UploadPart): not a request's XML, such as the
        // list of parts that completes an upload.
        const input = args.input as { Key?: string; PartNumber?: number; Body?: unknown };
        if (input.Body !== undefined) digests.record(input, digest);
      }
      return next(args);
    },
    { step: 'build', name: 'virtDrContentMd5' },
  );
  return client;
}

/** The MD5 of each body sent to a watched key, by part number (a single PUT is part 1). */
export class PartDigests {
  private readonly watched = new Map<string, Map<number, Buffer>>();

  watch(key: string): Map<number, Buffer> {
    const parts = new Map<number, Buffer>();
    this.watched.set(key, parts);
    return parts;
  }

  unwatch(key: string): void {
    this.watched.delete(key);
  }

  record(input: { Key?: string; PartNumber?: number }, digest: Buffer): void {
    this.watched.get(input.Key ?? '')?.set(input.PartNumber ?? 1, digest);
  }
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((h) => h.toLowerCase() === name);
}
