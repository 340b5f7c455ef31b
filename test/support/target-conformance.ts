/**
 * What the repository port's conformance suite needs of each target: the target as two
 * hosts see it, and a look at what it stores without going through the port: the names in
 * a domain's folder, and a way to plant the hostile entries a file system or a bucket can
 * hold. The file and SSH targets keep their bytes in a local folder (the root of an sshd on
 * loopback for SSH); the S3 target in a bucket of a real single-node Ceph.
 */
import { mkdir, readdir, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { CopyObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { FileRepository } from '../../src/repo/file-repository.js';
import { S3Target } from '../../src/repo/s3/s3-target.js';
import { SshTarget } from '../../src/repo/ssh/ssh-target.js';
import type { FreeSpace, RepositoryTarget } from '../../src/repo/target.js';
import { bucketKeys, startCeph } from './ceph.js';
import { sshTargetOptions, startSshd } from './sshd.js';

export interface TargetUnderTest {
  /** The target as host `HOST_A` uses it. */
  target: RepositoryTarget;
  /** The same target as host `HOST_B` uses it: its staging folders are not A's. */
  otherHost: RepositoryTarget;
  /** The names in a domain's folder on the target, sorted. */
  entries(domainUuid: string): Promise<string[]>;
  /** Makes `aliasId` a second name of point `realId` (a symlink; a copy of its objects on S3). */
  plantAlias(domainUuid: string, realId: string, aliasId: string): Promise<void>;
  /** Writes a file at `<domain>/<relative path>` on the target. */
  plantFile(domainUuid: string, relativePath: string, content: string): Promise<void>;
  /** What freeSpace should say, or null for a target that has no size. */
  expectedSpace(): Promise<FreeSpace | null>;
  /** Closes the targets and removes what the factory made. */
  cleanup(): Promise<void>;
}

export interface TargetFactory {
  /** The URL scheme the suite names the run after. */
  kind: string;
  create(work: string): Promise<TargetUnderTest>;
}

export const HOST_A = 'conformance-a';
export const HOST_B = 'conformance-b';

/** The inspection half for a target whose root is the local folder `root`. */
function localRoot(root: string): Pick<TargetUnderTest, 'entries' | 'plantAlias' | 'plantFile' | 'expectedSpace'> {
  return {
    entries: async (domainUuid) => (await readdir(join(root, domainUuid))).sort(),
    plantAlias: (domainUuid, realId, aliasId) => symlink(join(root, domainUuid, realId), join(root, domainUuid, aliasId)),
    async plantFile(domainUuid, relativePath, content) {
      await mkdir(join(root, domainUuid, relativePath, '..'), { recursive: true });
      await writeFile(join(root, domainUuid, relativePath), content);
    },
    async expectedSpace() {
      await mkdir(root, { recursive: true });
      const fs = await statfs(root);
      return { free_bytes: fs.bavail * fs.bsize, total_bytes: fs.blocks * fs.bsize };
    },
  };
}

export const fileTargetFactory: TargetFactory = {
  kind: 'file',
  async create(work) {
    const root = join(work, 'file-target');
    await rm(root, { recursive: true, force: true });
    return {
      target: new FileRepository(root, HOST_A, { name: 'conformance' }),
      otherHost: new FileRepository(root, HOST_B, { name: 'conformance' }),
      ...localRoot(root),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
};

/**
 * The SSH target against a real sshd on 127.0.0.1 (test/support/sshd.ts) whose root is a
 * local folder; each host has its own local spool and cache, as two machines would.
 */
export const sshTargetFactory: TargetFactory = {
  kind: 'ssh',
  async create(work) {
    const sshd = await startSshd(join(work, 'sshd'));
    const asHost = (host: string) => new SshTarget({ ...sshTargetOptions(sshd, host, join(work, host)), name: 'conformance' });
    const target = asHost(HOST_A);
    const otherHost = asHost(HOST_B);
    return {
      target,
      otherHost,
      ...localRoot(sshd.root),
      async cleanup() {
        await Promise.all([target.close(), otherHost.close()]);
        await sshd.stop();
        await Promise.all([HOST_A, HOST_B].map((host) => rm(join(work, host), { recursive: true, force: true })));
      },
    };
  },
};

/**
 * The S3 target against a real single-node Ceph (test/support/ceph.ts), in a bucket of its
 * own under a prefix, so the suite also proves nothing is written outside the prefix.
 */
export const s3TargetFactory: TargetFactory = {
  kind: 's3',
  async create(work) {
    const ceph = await startCeph(join(work, 'ceph'));
    const bucket = 'conformance';
    const prefix = 'repo/one';
    await ceph.createBucket(bucket);
    const client = ceph.client();
    const asHost = (host: string) =>
      new S3Target({
        name: 'conformance',
        address: { bucket, prefix },
        settings: ceph.settings(),
        bandwidthBytesPerS: 0,
        host,
        spoolRoot: join(work, host, 'spool'),
        cacheRoot: join(work, host, 'cache'),
        log: pino({ level: 'silent' }),
      });
    const target = asHost(HOST_A);
    const otherHost = asHost(HOST_B);
    const domainKey = (domainUuid: string) => `${prefix}/${domainUuid}/`;
    return {
      target,
      otherHost,
      entries: async (domainUuid) => bucketNames(client, bucket, domainKey(domainUuid)),
      async plantAlias(domainUuid, realId, aliasId) {
        for (const key of await bucketKeys(client, bucket, `${domainKey(domainUuid)}${realId}/`)) {
          const copy = key.replace(`/${realId}/`, `/${aliasId}/`);
          await client.send(new CopyObjectCommand({ Bucket: bucket, Key: copy, CopySource: `${bucket}/${key}` }));
        }
      },
      async plantFile(domainUuid, relativePath, content) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${domainKey(domainUuid)}${relativePath}`, Body: content }));
      },
      expectedSpace: async () => null,
      async cleanup() {
        await Promise.all([target.close(), otherHost.close()]);
        await ceph.stop();
        await Promise.all([HOST_A, HOST_B].map((host) => rm(join(work, host), { recursive: true, force: true })));
      },
    };
  },
};

/** The names directly below `prefix`, as a folder listing shows them, sorted. */
async function bucketNames(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  return [...new Set((await bucketKeys(client, bucket, prefix)).map((key) => key.slice(prefix.length).split('/')[0]!))].sort();
}
