/**
 * The S3 target as an agent's primary repository, end to end on a real guest and a real
 * single-node Ceph: a full and two incrementals go to the bucket, a replace restore from
 * the newest gives back the data disk byte for byte (compared with the same point fetched
 * by another S3 client and flattened with plain qemu-img), an instant restore is refused
 * with its reason, delete_backup leaves no object of the point, radosgw killed in the
 * middle of a backup's multipart upload fails that backup only (the next one succeeds,
 * and no half point is listed or left behind), and retention merges the oldest point
 * into its child in the bucket.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListMultipartUploadsCommand, ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import type { Manifest } from '../../src/repo/point.js';
import { AgentProcess } from '../support/agent-process.js';
import { backupPoint, type PointView } from '../support/backup-api.js';
import { bucketKeys, cephWithBucket, downloadKeys, type Ceph } from '../support/ceph.js';
import { startGuestWithBallast, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { domainState, guestSha256, guestWriteRandomFile, run, virsh, waitForAgent, type TestGuest } from '../support/guest.js';
import { expectRefused } from '../support/refused.js';
import { flattenedSha256At, sha256Of } from '../support/repo-chain.js';
import { endedJob, finishedJob, restored } from '../support/restore-api.js';

const WORK = '/var/lib/virt-dr-test/s3-e2e';
const NAME = 'vdr-s3-e2e';
const BUCKET = 'virt-dr-e2e';
const PREFIX = 'cloud-1/compute';
const FILE = 1 << 20;

describe('an S3 bucket as the primary repository', () => {
  const agent = new AgentProcess('s3-e2e', join(WORK, 'agent'));
  let ceph: Ceph;
  let s3: S3Client;
  let client: RpcClient;
  let guest: TestGuest;
  const points: PointView[] = [];
  /** The guest's files at the newest of the first three points. */
  const files: Record<string, string> = {};

  beforeAll(async () => {
    ({ ceph, s3 } = await cephWithBucket(WORK, BUCKET));
    ({ client, guest } = await startGuestWithBallast(
      agent,
      { name: NAME, nova: true, ballastMiB: 48, spareMiB: 32 },
      {
        VIRT_DR_REPO_URL: `s3://${BUCKET}/${PREFIX}`,
        VIRT_DR_REPO_S3_ENDPOINT: ceph.endpoint,
        VIRT_DR_REPO_S3_ACCESS_KEY: ceph.accessKey,
        VIRT_DR_REPO_S3_SECRET_KEY: ceph.secretKey,
        VIRT_DR_REPO_S3_PART_SIZE: String(5 << 20),
        // A full takes a few seconds: time enough to kill radosgw in the middle of it.
        VIRT_DR_REPO_BANDWIDTH: String(16 << 20),
        VIRT_DR_RESTORE_SHUTDOWN_GRACE_S: '3',
      },
    ));
  }, 300_000);

  afterAll(async () => {
    await stopGuestAndAgent(agent, NAME, client);
    await ceph?.stop();
    await rm(WORK, { recursive: true, force: true });
  });

  const domainKeys = () => bucketKeys(s3, BUCKET, `${PREFIX}/${guest.uuid}/`);
  const pendingUploads = async () => (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${PREFIX}/` }))).Uploads ?? [];
  const listed = async () => client.call<{ backups: PointView[]; invalid: unknown[] }>('list_backups', { domain: NAME });

  it('takes a full and two incrementals into the bucket, one folder of keys per point', async () => {
    for (const file of ['a', 'b', 'c']) {
      files[file] = await guestWriteRandomFile(NAME, `/data/${file}.bin`, FILE);
      points.push(await backupPoint(client, NAME));
    }
    expect(points.map((p) => p.mode)).toEqual(['full', 'incremental', 'incremental']);
    const expected = points.flatMap((p) => [...p.disks.map((d) => `${PREFIX}/${guest.uuid}/${p.backup_id}/${d.file}`), `${PREFIX}/${guest.uuid}/${p.backup_id}/manifest.json`]);
    expect((await domainKeys()).sort()).toEqual(expected.sort());
    expect(await pendingUploads()).toEqual([]);
    const { backups, invalid } = await listed();
    expect(backups.map((b) => b.backup_id)).toEqual(points.map((p) => p.backup_id));
    expect(invalid).toEqual([]);
  });

  it('replaces the domain from the newest point, byte for byte', async () => {
    const newest = points[2]!;
    const fetched = join(WORK, 'fetched');
    await downloadKeys(s3, BUCKET, PREFIX, `${guest.uuid}/`, fetched);
    const pointDir = join(fetched, guest.uuid, newest.backup_id);
    const expected = await flattenedSha256At(JSON.parse(await readFile(join(pointDir, 'manifest.json'), 'utf8')) as Manifest, pointDir, WORK);
    await guestWriteRandomFile(NAME, '/data/a.bin', FILE); // changed after the point
    await virsh(['destroy', NAME]);
    await restored(client, NAME, newest.backup_id);
    expect(await domainState(NAME)).toBe('shut off');
    const raw = join(WORK, 'restored.raw');
    await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', guest.dataDisk, raw]);
    expect({ vda: await sha256Of(raw) }).toEqual(expected);
    await rm(raw, { force: true });
    await virsh(['start', NAME]);
    await waitForAgent(NAME);
    for (const [file, sha256] of Object.entries(files)) expect(await guestSha256(NAME, `/data/${file}.bin`)).toBe(sha256);
  });

  it('refuses an instant restore from the bucket, saying why', async () => {
    const refusal = await expectRefused(client, 'restore', { domain: NAME, backup_id: points[2]!.backup_id, instant: true }, 'InvalidArgument');
    expect(refusal.message).toContain(`s3://${BUCKET}/${PREFIX} is copied to this host first`);
  });

  it('delete_backup leaves no object of the point, and every other object as it was', async () => {
    const newest = points[2]!;
    const before = await domainKeys();
    const job = await finishedJob(client, 'delete_backup', { domain: NAME, backup_id: newest.backup_id });
    expect(job.state).toBe('succeeded');
    expect(await domainKeys()).toEqual(before.filter((k) => !k.startsWith(`${PREFIX}/${guest.uuid}/${newest.backup_id}/`)));
    expect((await listed()).backups.map((b) => b.backup_id)).toEqual(points.slice(0, 2).map((p) => p.backup_id));
  });

  it('radosgw killed in the middle of a multipart upload fails that backup only: the next succeeds, and no half point is listed or left', async () => {
    const before = (await listed()).backups.map((b) => b.backup_id);
    const { job_id } = await client.call<{ job_id: string }>('backup', { domain: NAME, mode: 'full' });
    const key = await uploadWithAPart();
    await ceph.killGateway();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await ceph.startGateway();
    const failed = await endedJob(client, job_id, agent.host);
    expect(failed.state).toBe('failed');
    expect(failed.error?.class).toBe('TargetUnreachable');
    expect(failed.error?.message).toContain(key.split('/').at(-1));

    const { backups, invalid } = await listed();
    expect(backups.map((b) => b.backup_id)).toEqual(before);
    expect(invalid).toEqual([]);
    expect(await pendingUploads()).toEqual([]);
    expect((await domainKeys()).filter((k) => !before.some((id) => k.includes(`/${id}/`)))).toEqual([]);

    const next = await backupPoint(client, NAME);
    expect((await listed()).backups.map((b) => b.backup_id)).toEqual([...before, next.backup_id]);
    expect(await pendingUploads()).toEqual([]);
  });

  it("retention merges the oldest point into its child in the bucket: every object of it goes, the child restores", async () => {
    const held = (await listed()).backups;
    await client.call('set_policy', { domain: NAME, policy: { retention: { max_count: held.length } } });
    await guestWriteRandomFile(NAME, '/data/d.bin', FILE);
    const next = await backupPoint(client, NAME);
    const oldest = held[0]!.backup_id;
    const deadline = Date.now() + 120_000;
    while ((await listed()).backups.some((b) => b.backup_id === oldest) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 500));
    const kept = [...held.slice(1).map((b) => b.backup_id), next.backup_id];
    expect((await listed()).backups.map((b) => b.backup_id)).toEqual(kept);
    const keys = await domainKeys();
    expect(keys.filter((k) => k.includes(`/${oldest}/`) || k.includes('virtdr-merge') || k.includes('.partial-'))).toEqual([]);
    const files = { d: await guestSha256(NAME, '/data/d.bin') };
    await virsh(['destroy', NAME]);
    await restored(client, NAME, next.backup_id);
    await virsh(['start', NAME]);
    await waitForAgent(NAME);
    expect(await guestSha256(NAME, '/data/d.bin')).toBe(files.d);
  });

  /** Waits until a multipart upload in the bucket has a part stored; its key. */
  async function uploadWithAPart(): Promise<string> {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      for (const upload of await pendingUploads()) {
        const parts = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: upload.Key, UploadId: upload.UploadId }));
        if ((parts.Parts ?? []).length > 0) return upload.Key!;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('no multipart upload got a part within 120 s');
  }

});
