/**
 * The S3 target against a real single-node Ceph (test/support/ceph.ts), beyond what the
 * port's conformance suite asks of every target: wrong keys, a missing bucket and an
 * unreachable endpoint each fail clearly with nothing written; radosgw killed in the middle
 * of a multipart upload leaves no point, its abandoned upload is aborted and the next
 * publish resumes from the disk already stored; a crash's leftovers are swept; a delete
 * removes every object of a point and nothing else; and the bucket's keys, downloaded with
 * another client into one folder per point, open with plain qemu-img. Needs no libvirtd.
 */
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { TargetRefused, TargetUnreachable } from '../../src/errors.js';
import { FileRepository } from '../../src/repo/file-repository.js';
import type { Manifest } from '../../src/repo/point.js';
import { S3Target, type S3TargetOptions } from '../../src/repo/s3/s3-target.js';
import { Secret } from '../../src/util/secret.js';
import { bucketKeys, cephWithBucket, downloadKeys, type Ceph } from '../support/ceph.js';
import { backupIdAt } from '../support/hostile-repo.js';
import { writePointFiles } from '../support/point-files.js';
import { buildRepoChain, flattenedSha256, flattenedSha256At } from '../support/repo-chain.js';
import { moveChain } from '../../src/tiers/move-chain.js';
import { scanTiers } from '../../src/tiers/tier-view.js';

const WORK = '/var/lib/virt-dr-test/s3-target';
const BUCKET = 'virt-dr-s3-target';
const PREFIX = 'site-1/compute';
const HOST = 'compute-s3-a';
const MIB = 1 << 20;

let ceph: Ceph;
let s3: S3Client;
const opened: S3Target[] = [];
let domainCount = 0;
const nextDomain = () => `5e000000-0000-4000-8000-${String(++domainCount).padStart(12, '0')}`;

beforeAll(async () => {
  ({ ceph, s3 } = await cephWithBucket(WORK, BUCKET));
});

afterAll(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
  await ceph?.stop();
  await rm(WORK, { recursive: true, force: true });
});

function s3Target(overrides: Partial<S3TargetOptions> = {}, host = HOST): S3Target {
  const target = new S3Target({
    name: 's3',
    address: { bucket: BUCKET, prefix: PREFIX },
    settings: ceph.settings(),
    bandwidthBytesPerS: 0,
    host,
    spoolRoot: join(WORK, host, 'spool'),
    cacheRoot: join(WORK, host, 'cache'),
    log: pino({ level: 'silent' }),
    ...overrides,
  });
  opened.push(target);
  return target;
}

const keysOf = (domainUuid: string) => bucketKeys(s3, BUCKET, `${PREFIX}/${domainUuid}/`);
const pendingUploads = async (domainUuid: string) =>
  (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${PREFIX}/${domainUuid}/` }))).Uploads ?? [];

/** A free loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('bad settings: a clear error, and nothing written', () => {
  it('wrong keys are TargetRefused, naming the settings to check', async () => {
    const domainUuid = nextDomain();
    const target = s3Target({ settings: ceph.settings({ secretKey: new Secret('not-the-secret') }) });
    const refused = await target.beginPoint(domainUuid, backupIdAt(1)).catch((err: Error) => err);
    expect(refused).toBeInstanceOf(TargetRefused);
    expect((refused as Error).message).toMatch(/refused the agent's keys \(.+\); check repo\.s3\.access_key and repo\.s3\.secret_key/);
    expect((refused as Error).message).not.toContain('not-the-secret');
    await expect(target.listPoints(domainUuid)).rejects.toBeInstanceOf(TargetRefused);
    expect(await keysOf(domainUuid)).toEqual([]);
  });

  it('a missing bucket is TargetRefused, and the agent does not create it', async () => {
    const target = s3Target({ address: { bucket: 'no-such-bucket-here', prefix: '' } });
    await expect(target.beginPoint(nextDomain(), backupIdAt(1))).rejects.toThrow(/bucket no-such-bucket-here does not exist; create it first/);
    await expect(target.listDomains()).rejects.toBeInstanceOf(TargetRefused);
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'no-such-bucket-here' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('an endpoint nobody answers on is TargetUnreachable within seconds', async () => {
    const domainUuid = nextDomain();
    const target = s3Target({ settings: ceph.settings({ endpoint: `http://127.0.0.1:${await closedPort()}` }) });
    const started = Date.now();
    await expect(target.beginPoint(domainUuid, backupIdAt(1))).rejects.toBeInstanceOf(TargetUnreachable);
    expect(Date.now() - started).toBeLessThan(20_000);
    await expect(target.listPoints(domainUuid)).rejects.toThrow(/no answer from the service \(ECONNREFUSED\)/);
    expect(await keysOf(domainUuid)).toEqual([]);
  });
});

describe('radosgw killed in the middle of a multipart upload', () => {
  it('fails the publish, lists no point, then aborts the abandoned upload and resumes from the disk already stored', async () => {
    const domainUuid = nextDomain();
    const backupId = backupIdAt(10);
    // 16 MiB/s over 5 MiB parts: the second disk takes seconds, time enough to kill the gateway.
    const target = s3Target({ bandwidthBytesPerS: 16 * MIB });
    const folder = await target.beginPoint(domainUuid, backupId);
    const manifest = await writePointFiles(folder, { domainUuid, backupId, parent: null }, [
      { target: 'vda', file: 'vda.raw', bytes: 3 * MIB + 11 },
      { target: 'vdb', file: 'vdb.raw', bytes: 48 * MIB + 5 },
    ]);
    const publishing = target.publishPoint(manifest, folder).then(
      () => null,
      (err: Error) => err,
    );
    await partStored(`${PREFIX}/${domainUuid}/${backupId}/vdb.raw`);
    await ceph.killGateway();
    const failure = await publishing;
    expect(failure).toBeInstanceOf(TargetUnreachable);
    await ceph.startGateway();

    // No half point: not listed, not even as an untrusted entry; the upload is left pending.
    expect(await target.scanPoints(domainUuid)).toEqual({ points: [], invalid: [] });
    expect((await pendingUploads(domainUuid)).map((u) => u.Key)).toEqual([`${PREFIX}/${domainUuid}/${backupId}/vdb.raw`]);
    const firstDisk = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${domainUuid}/${backupId}/vda.raw` }));

    // The next attempt keeps vda (stored and verified before the kill), sends vdb again and
    // aborts the abandoned upload before the manifest goes in.
    await target.publishPoint(manifest, folder);
    const again = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${domainUuid}/${backupId}/vda.raw` }));
    expect(again.LastModified).toEqual(firstDisk.LastModified);
    expect(await target.getPoint(domainUuid, backupId)).toEqual(manifest);
    expect(await pendingUploads(domainUuid)).toEqual([]);
    expect((await keysOf(domainUuid)).sort()).toEqual(['manifest.json', 'vda.raw', 'vdb.raw'].map((f) => `${PREFIX}/${domainUuid}/${backupId}/${f}`));
  });

  it('a publish that failed for good leaves nothing once discarded', async () => {
    const domainUuid = nextDomain();
    const backupId = backupIdAt(11);
    const target = s3Target({ bandwidthBytesPerS: 16 * MIB });
    const folder = await target.beginPoint(domainUuid, backupId);
    const manifest = await writePointFiles(folder, { domainUuid, backupId, parent: null }, [{ target: 'vda', file: 'vda.raw', bytes: 40 * MIB }]);
    const publishing = target.publishPoint(manifest, folder).catch((err: Error) => err);
    await partStored(`${PREFIX}/${domainUuid}/${backupId}/vda.raw`);
    await ceph.killGateway();
    expect(await publishing).toBeInstanceOf(TargetUnreachable);
    await ceph.startGateway();
    await target.discardPartial(domainUuid, backupId);
    expect(await pendingUploads(domainUuid)).toEqual([]);
    expect(await keysOf(domainUuid)).toEqual([]);
  });
});

describe('the start-up sweep', () => {
  it("aborts this host's abandoned uploads and removes its unpublished objects; another host's stay", async () => {
    const domainUuid = nextDomain();
    const [mine, theirs] = [backupIdAt(20), backupIdAt(21)];
    // What a crash in the middle of a publish leaves: the claim, a finished disk, an upload with a part.
    const crashed = async (host: string, backupId: string) => {
      await s3Target({}, host).beginPoint(domainUuid, backupId);
      const key = `${PREFIX}/${domainUuid}/${backupId}`;
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${key}/vda.qcow2`, Body: 'a finished disk' }));
      const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${key}/vdb.qcow2` }));
      await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: `${key}/vdb.qcow2`, UploadId: upload.UploadId, PartNumber: 1, Body: Buffer.alloc(5 * MIB) }));
    };
    await crashed(HOST, mine);
    await crashed('compute-s3-b', theirs);

    const report = await s3Target().sweep();
    expect(report.removed).toContain(`s3://${BUCKET}/${PREFIX}/${domainUuid}/.partial-${HOST}-${mine}`);
    expect(report.kept.map((k) => k.path)).toContain(`s3://${BUCKET}/${PREFIX}/${domainUuid}/.partial-compute-s3-b-${theirs}`);
    expect((await pendingUploads(domainUuid)).map((u) => u.Key)).toEqual([`${PREFIX}/${domainUuid}/${theirs}/vdb.qcow2`]);
    expect((await keysOf(domainUuid)).sort()).toEqual([`${PREFIX}/${domainUuid}/.partial-compute-s3-b-${theirs}/writing`, `${PREFIX}/${domainUuid}/${theirs}/vda.qcow2`]);
    await s3Target({}, 'compute-s3-b').discardPartial(domainUuid, theirs);
    expect(await keysOf(domainUuid)).toEqual([]);
    expect(await pendingUploads(domainUuid)).toEqual([]);
  });
});

describe('the object layout', () => {
  let scratch: FileRepository;
  let domainUuid: string;
  let manifests: Manifest[];
  let target: S3Target;

  beforeAll(async () => {
    scratch = new FileRepository(join(WORK, 'scratch'), HOST);
    domainUuid = nextDomain();
    manifests = await buildRepoChain(scratch, { domainUuid, points: 3, seed: 12, disks: [{ target: 'vda', format: 'qcow2' }, { target: 'vdb', format: 'qcow2' }] });
    target = s3Target();
    for (const manifest of manifests) await target.publishPoint(manifest, scratch.pointDir(domainUuid, manifest.backup_id));
  });

  it('mirrors the file layout: downloaded with another client, the newest point opens with plain qemu-img', async () => {
    const download = join(WORK, 'downloaded');
    await rm(download, { recursive: true, force: true });
    await downloadKeys(s3, BUCKET, PREFIX, `${domainUuid}/`, download);
    const newest = manifests[2]!;
    expect(await flattenedSha256At(newest, join(download, domainUuid, newest.backup_id), WORK)).toEqual(await flattenedSha256(scratch, domainUuid, newest.backup_id));
  });

  it('a delete of a leaf removes every object of the point and nothing else', async () => {
    const newest = manifests[2]!;
    const before = await keysOf(domainUuid);
    await target.deletePoint(domainUuid, newest.backup_id, {});
    expect(await keysOf(domainUuid)).toEqual(before.filter((k) => !k.includes(`/${newest.backup_id}/`)));
    expect((await target.listPoints(domainUuid)).map((m) => m.backup_id)).toEqual(manifests.slice(0, 2).map((m) => m.backup_id));
  });
});

describe('deleting a point other points build on', () => {
  let scratch: FileRepository;
  beforeAll(() => {
    scratch = new FileRepository(join(WORK, 'merge-scratch'), HOST);
  });

  /** A chain of four published to S3, and each point's content. */
  async function publishedChain(target: S3Target) {
    const domainUuid = nextDomain();
    const chain = await buildRepoChain(scratch, { domainUuid, points: 4, seed: domainCount, disks: [{ target: 'vda', format: 'qcow2' }, { target: 'vdb', format: 'qcow2' }] });
    for (const manifest of chain) await target.publishPoint(manifest, scratch.pointDir(domainUuid, manifest.backup_id));
    const content = new Map(await Promise.all(chain.map(async (m) => [m.backup_id, await flattenedSha256(scratch, domainUuid, m.backup_id)] as const)));
    return { domainUuid, chain, content };
  }

  /** Every point's content read back from S3. */
  async function contentOnS3(target: S3Target, domainUuid: string): Promise<Map<string, Record<string, string>>> {
    const points = await target.listPoints(domainUuid);
    const opened = await target.openPoints(domainUuid, points.map((p) => p.backup_id));
    try {
      return new Map(await Promise.all(points.map(async (p) => [p.backup_id, await flattenedSha256At(p, opened.dirOf(p.backup_id), WORK)] as const)));
    } finally {
      await opened.release();
    }
  }

  it.each([
    ['the full', 0],
    ['a middle point', 1],
  ])('merges %s into its child: every object of it goes, the rest read as before', async (_what, index) => {
    const target = s3Target();
    const { domainUuid, chain, content } = await publishedChain(target);
    const deleted = chain[index]!;
    const report = await target.deletePoint(domainUuid, deleted.backup_id, {});
    expect(report?.merged_into).toEqual([chain[index + 1]!.backup_id]);
    content.delete(deleted.backup_id);
    expect(await contentOnS3(target, domainUuid)).toEqual(content);
    const keys = await keysOf(domainUuid);
    expect(keys.filter((k) => k.includes(`/${deleted.backup_id}/`) || k.includes('virtdr-merge') || k.includes('.partial-'))).toEqual([]);
    expect((await target.getPoint(domainUuid, chain[index + 1]!.backup_id)).parent).toBe(deleted.parent);
  });

  it('a crash before a merge commits leaves the point and its child as they were; finishDelete keeps it', async () => {
    const target = s3Target();
    const { domainUuid, chain, content } = await publishedChain(target);
    const objects = (target as unknown as { objects: { put: (key: string, body: Buffer) => Promise<unknown> } }).objects;
    const put = objects.put.bind(objects);
    objects.put = async (key, body) => {
      if (key.endsWith('manifest.json.virtdr-merge')) throw new Error('crash before the commit');
      return put(key, body);
    };
    await expect(target.deletePoint(domainUuid, chain[1]!.backup_id, {})).rejects.toThrow('crash before the commit');
    objects.put = put;
    expect((await keysOf(domainUuid)).some((k) => k.endsWith('.virtdr-merge'))).toBe(true);
    expect(await target.finishDelete(domainUuid, chain[1]!.backup_id)).toBe('kept');
    expect(await contentOnS3(target, domainUuid)).toEqual(content);
    expect((await keysOf(domainUuid)).filter((k) => k.includes('virtdr-merge') || k.includes('.partial-'))).toEqual([]);
  });

  it('a crash after a merge commits is finished forward by finishDelete', async () => {
    const target = s3Target();
    const { domainUuid, chain, content } = await publishedChain(target);
    const objects = (target as unknown as { objects: { copy: (...args: unknown[]) => Promise<void> } }).objects;
    const copy = objects.copy.bind(objects);
    let copies = 0;
    objects.copy = async (...args) => {
      if (++copies === 2) throw new Error('crash after the commit');
      return copy(...args);
    };
    await expect(target.deletePoint(domainUuid, chain[1]!.backup_id, {})).rejects.toThrow('crash after the commit');
    objects.copy = copy;
    expect(await target.finishDelete(domainUuid, chain[1]!.backup_id)).toBe('deleted');
    content.delete(chain[1]!.backup_id);
    expect(await contentOnS3(target, domainUuid)).toEqual(content);
    expect((await keysOf(domainUuid)).filter((k) => k.includes(`/${chain[1]!.backup_id}/`) || k.includes('virtdr-merge') || k.includes('.partial-'))).toEqual([]);
  });
});

describe('S3 as a tier and a copy target', () => {
  it('takes a chain moved from a file fast tier (copy, verify, switch, remove), and gives each point back with its content', async () => {
    const fast = new FileRepository(join(WORK, 'tier-fast'), HOST, { name: 'ssd' });
    const slow = s3Target({ name: 'ceph' });
    const domainUuid = nextDomain();
    const chain = await buildRepoChain(fast, { domainUuid, points: 3, seed: 31 });
    const content = await Promise.all(chain.map((m) => flattenedSha256(fast, domainUuid, m.backup_id)));
    const report = await moveChain(fast, slow, domainUuid, chain, 'slow');
    expect(report.copied).toEqual(chain.map((m) => m.backup_id));
    expect(await fast.listPoints(domainUuid)).toEqual([]);
    expect((await scanTiers({ fast, slow, manual: fast }, domainUuid)).points.map((p) => [p.manifest.backup_id, p.target.name])).toEqual(
      chain.map((m) => [m.backup_id, 'ceph']),
    );
    const opened = await slow.openPoints(domainUuid, chain.map((m) => m.backup_id));
    try {
      for (const [i, manifest] of chain.entries()) {
        expect(await flattenedSha256At({ ...manifest, tier: 'slow' }, opened.dirOf(manifest.backup_id), WORK)).toEqual(content[i]);
      }
    } finally {
      await opened.release();
    }
  });
});

/** Waits until the multipart upload of `key` has at least one part stored. */
async function partStored(key: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const uploads = (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }))).Uploads ?? [];
    for (const upload of uploads) {
      const parts = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: upload.UploadId }));
      if ((parts.Parts ?? []).length > 0) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no part of ${key} was stored within 30 s`);
}
