/**
 * A real single-node Ceph (mon, mgr, one bluestore OSD on a sparse file, radosgw on a free
 * loopback port) for the S3 target's tests, run by test/support/ceph.sh with all its state
 * under one folder. Never a mock: the S3 target is tested against Ceph's own gateway.
 * Starting takes about 17 s; `stop` kills only the daemons of that folder.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../../src/repo/target-config.js';
import { Secret } from '../../src/util/secret.js';
import { projectRoot } from './project-root.js';

const run = promisify(execFile);
// As in src/repo/s3/s3-client.ts: the SDK's notice that its 2027 releases need Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const SCRIPT = `${projectRoot(import.meta.url)}/test/support/ceph.sh`;

export interface Ceph {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** repo.s3 as the agent would have it for this gateway. */
  settings(overrides?: Partial<S3Settings>): S3Settings;
  /** A client of the test's own, to make buckets and look at what the agent left. */
  client(): S3Client;
  createBucket(name: string): Promise<void>;
  killGateway(): Promise<void>;
  startGateway(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCeph(dir: string): Promise<Ceph> {
  if (process.getuid?.() !== 0) throw new Error('the Ceph test support must run as root');
  const { stdout } = await run('bash', [SCRIPT, 'start', dir], { maxBuffer: 1 << 20, timeout: 180_000 }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`ceph.sh start failed: ${err.message}\n${err.stderr ?? ''}`);
  });
  const keys = JSON.parse(stdout) as { endpoint: string; access_key: string; secret_key: string };
  const clients: S3Client[] = [];
  const ceph: Ceph = {
    endpoint: keys.endpoint,
    accessKey: keys.access_key,
    secretKey: keys.secret_key,
    settings: (overrides = {}) => ({
      endpoint: keys.endpoint,
      region: 'us-east-1',
      accessKey: keys.access_key,
      secretKey: new Secret(keys.secret_key),
      partSizeBytes: 5 * 1024 * 1024,
      parallelParts: 4,
      ...overrides,
    }),
    client() {
      const client = new S3Client({
        endpoint: keys.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: keys.access_key, secretAccessKey: keys.secret_key },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      clients.push(client);
      return client;
    },
    async createBucket(name) {
      await ceph.client().send(new CreateBucketCommand({ Bucket: name }));
    },
    async killGateway() {
      await run('bash', [SCRIPT, 'kill-rgw', dir]);
    },
    async startGateway() {
      await run('bash', [SCRIPT, 'start-rgw', dir], { timeout: 120_000 });
    },
    async stop() {
      for (const client of clients) client.destroy();
      await run('bash', [SCRIPT, 'stop', dir]);
    },
  };
  return ceph;
}

/** A fresh `work` folder with a Ceph in it, one bucket, and a client of the test's own. */
export async function cephWithBucket(work: string, bucket: string): Promise<{ ceph: Ceph; s3: S3Client }> {
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const ceph = await startCeph(join(work, 'ceph'));
  await ceph.createBucket(bucket);
  return { ceph, s3: ceph.client() };
}

/** Every key below `prefix`. */
export async function bucketKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Downloads every object below `root/below` as any S3 client would: `<into>/<key after root/>`. */
export async function downloadKeys(client: S3Client, bucket: string, root: string, below: string, into: string): Promise<void> {
  for (const key of await bucketKeys(client, bucket, `${root}/${below}`)) {
    const file = join(into, key.slice(root.length + 1));
    await mkdir(dirname(file), { recursive: true });
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await writeFile(file, await object.Body!.transformToByteArray());
  }
}
