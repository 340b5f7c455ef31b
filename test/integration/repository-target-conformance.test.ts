/**
 * The repository port's behaviour (src/repo/target.ts), one suite that every target
 * passes: the file target, the SSH target against a real sshd on loopback, and the S3
 * target against a real single-node Ceph. Points are real qcow2 chains made with qemu-img
 * and qemu-io; what a call left on the target is checked on the target itself (its folder,
 * or its bucket), not only through the port.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupNotFound, InvalidArgument, InvalidRepositoryEntry, VerificationFailed } from '../../src/errors.js';
import { FileRepository } from '../../src/repo/file-repository.js';
import type { Manifest } from '../../src/repo/point.js';
import { buildRepoChain, chainBackupId, flattenedSha256, flattenedSha256At, sha256Of } from '../support/repo-chain.js';
import { fileTargetFactory, HOST_A, HOST_B, s3TargetFactory, sshTargetFactory, type TargetFactory, type TargetUnderTest } from '../support/target-conformance.js';

const WORK = '/var/lib/virt-dr-test/target-conformance';
const FACTORIES: TargetFactory[] = [fileTargetFactory, sshTargetFactory, s3TargetFactory];

let domainCount = 0;
const nextDomain = () => `c0f0a000-0000-4000-8000-${String(++domainCount).padStart(12, '0')}`;

describe.each(FACTORIES)('the repository port on a $kind target', (factory) => {
  let under: TargetUnderTest;
  /** Chains are built here first, then published to the target as replication does. */
  let scratch: FileRepository;

  beforeAll(async () => {
    await rm(join(WORK, factory.kind), { recursive: true, force: true });
    await mkdir(join(WORK, factory.kind), { recursive: true });
    scratch = new FileRepository(join(WORK, factory.kind, 'scratch'), HOST_A);
    under = await factory.create(join(WORK, factory.kind));
  });

  afterAll(async () => {
    await under?.cleanup();
    await rm(join(WORK, factory.kind), { recursive: true, force: true });
  });

  /** A chain of `points` built in scratch and published to the target, oldest first. */
  async function publishedChain(points: number): Promise<{ domainUuid: string; manifests: Manifest[] }> {
    const domainUuid = nextDomain();
    const manifests = await buildRepoChain(scratch, { domainUuid, points, seed: domainCount });
    for (const manifest of manifests) {
      await under.target.publishPoint(manifest, scratch.pointDir(domainUuid, manifest.backup_id));
    }
    return { domainUuid, manifests };
  }

  it('publishes a chain from another folder: listed in order, read back byte-exact, and the newest opens with plain qemu-img', async () => {
    const { domainUuid, manifests } = await publishedChain(3);
    const { target } = under;
    expect((await target.listPoints(domainUuid)).map((m) => m.backup_id)).toEqual(manifests.map((m) => m.backup_id));
    expect(await target.listDomains()).toContain(domainUuid);
    expect(await target.getPoint(domainUuid, manifests[1]!.backup_id)).toEqual(manifests[1]);
    expect(await target.hasPoint(domainUuid, manifests[2]!.backup_id)).toBe(true);
    expect((await target.latestPoint(domainUuid))?.backup_id).toBe(manifests[2]!.backup_id);

    const ids = manifests.map((m) => m.backup_id);
    const opened = await target.openPoints(domainUuid, ids);
    try {
      for (const manifest of manifests) {
        for (const disk of manifest.disks) expect(await sha256Of(join(opened.dirOf(manifest.backup_id), disk.file))).toBe(disk.sha256);
      }
      const newest = manifests[2]!;
      expect(await flattenedSha256At(newest, opened.dirOf(newest.backup_id), join(WORK, factory.kind))).toEqual(
        await flattenedSha256(scratch, domainUuid, newest.backup_id),
      );
    } finally {
      await opened.release();
    }
  });

  it('publishes a point from its own staging folder, where a backup engine writes it', async () => {
    const domainUuid = nextDomain();
    const [built] = await buildRepoChain(scratch, { domainUuid, points: 1, seed: 99 });
    const staging = await under.target.beginPoint(domainUuid, built!.backup_id);
    expect(staging).toBe(under.target.stagingFolder(domainUuid, built!.backup_id));
    await writeFile(join(staging, 'vda.qcow2'), await readFile(join(scratch.pointDir(domainUuid, built!.backup_id), 'vda.qcow2')));
    await under.target.publishPoint(built!, staging);
    expect(await under.target.getPoint(domainUuid, built!.backup_id)).toEqual(built);
    expect(await under.entries(domainUuid)).toEqual([built!.backup_id]);
  });

  it('never lists a point whose publish did not finish, nor one whose bytes do not match its manifest', async () => {
    const domainUuid = nextDomain();
    const [built] = await buildRepoChain(scratch, { domainUuid, points: 1, seed: 7 });
    const staging = await under.target.beginPoint(domainUuid, built!.backup_id);
    await writeFile(join(staging, 'vda.qcow2'), 'half a disk');
    expect(await under.target.listPoints(domainUuid)).toEqual([]);

    const lying = { ...built!, disks: built!.disks.map((d) => ({ ...d, sha256: 'f'.repeat(64) })) };
    await expect(under.target.publishPoint(lying, scratch.pointDir(domainUuid, built!.backup_id))).rejects.toBeInstanceOf(VerificationFailed);
    expect(await under.target.listPoints(domainUuid)).toEqual([]);
    expect(await under.target.hasPoint(domainUuid, built!.backup_id)).toBe(false);
    await expect(under.target.getPoint(domainUuid, built!.backup_id)).rejects.toBeInstanceOf(BackupNotFound);
  });

  it('reports entries that are not what they claim, and never follows them', async () => {
    const { domainUuid, manifests } = await publishedChain(1);
    const real = manifests[0]!;
    // A folder named like a point that is another name of the real one.
    const linked = chainBackupId(50);
    await under.plantAlias(domainUuid, real.backup_id, linked);
    // A point whose manifest names another domain.
    const stray = chainBackupId(51);
    await under.plantFile(domainUuid, `${stray}/manifest.json`, JSON.stringify({ ...real, backup_id: stray, domain_uuid: nextDomain() }));

    const scan = await under.target.scanPoints(domainUuid);
    expect(scan.points.map((p) => p.backup_id)).toEqual([real.backup_id]);
    expect(scan.invalid.map((i) => i.backup_id).sort()).toEqual([linked, stray]);
    await expect(under.target.getPoint(domainUuid, linked)).rejects.toBeInstanceOf(InvalidRepositoryEntry);
    expect(await under.target.deletePoint(domainUuid, linked, {})).toBeNull();
    expect(await under.entries(domainUuid)).toEqual([real.backup_id, linked, stray].sort());
  });

  it('deletes a point no other point builds on, and nothing else; an absent point is null', async () => {
    const { domainUuid, manifests } = await publishedChain(2);
    const [older, newest] = manifests as [Manifest, Manifest];
    const report = await under.target.deletePoint(domainUuid, newest.backup_id, {});
    expect(report).toMatchObject({ backup_id: newest.backup_id, merged_into: [] });
    expect(await under.entries(domainUuid)).toEqual([older.backup_id]);
    expect(await under.target.deletePoint(domainUuid, newest.backup_id, {})).toBeNull();
    expect(await under.target.finishDelete(domainUuid, newest.backup_id)).toBe('deleted');
  });

  it("sweeps this host's staging folders and leaves another host's", async () => {
    const domainUuid = nextDomain();
    const mine = await under.target.beginPoint(domainUuid, chainBackupId(60));
    await under.otherHost.beginPoint(domainUuid, chainBackupId(61));
    await writeFile(join(mine, 'vda.qcow2'), 'leftover');
    const report = await under.target.sweep();
    expect(report.kept.some((k) => k.path.includes(`.partial-${HOST_B}-${chainBackupId(61)}`))).toBe(true);
    const left = await under.entries(domainUuid);
    expect(left.some((n) => n.startsWith(`.partial-${HOST_A}-`))).toBe(false);
    expect(left).toContain(`.partial-${HOST_B}-${chainBackupId(61)}`);
    await under.otherHost.discardPartial(domainUuid, chainBackupId(61));
    expect(await under.entries(domainUuid)).toEqual([]);
  });

  it("reports its file system's free and total bytes, or null when it has no size (an object store)", async () => {
    const space = await under.target.freeSpace();
    const expected = await under.expectedSpace();
    if (expected === null) return expect(space).toBeNull();
    expect(space?.total_bytes).toBe(expected.total_bytes);
    expect(Math.abs(space!.free_bytes - expected.free_bytes)).toBeLessThan(256 << 20);
  });

  it('refuses ids and UUIDs that are not ones before any path is built', async () => {
    const domainUuid = nextDomain();
    await expect(under.target.getPoint(domainUuid, '../../etc')).rejects.toBeInstanceOf(InvalidArgument);
    expect(() => under.target.stagingFolder('../x', chainBackupId(1))).toThrow(InvalidArgument);
    expect(() => under.target.stagingFolder(domainUuid, 'a/b')).toThrow(InvalidArgument);
    await expect(under.target.deletePoint('not-a-uuid', chainBackupId(1), {})).rejects.toBeInstanceOf(InvalidArgument);
  });
});
