/**
 * The start-up sweep on a real temporary folder shared by hosts: it removes this host's
 * staging folders and nothing else, and never follows a symlink out of the repository.
 * Staging folders are named by host; a backup never writes through a symlink.
 */
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgument, InvalidRepositoryEntry } from '../../src/errors.js';
import { FileRepository } from '../../src/repo/file-repository.js';
import { backupIdAt, existsNoFollow, missingPaths, plantHostileRepository, pointManifest, releaseFifoReaders, writePoint } from '../support/hostile-repo.js';

const UUID = '0b5c3f5e-0000-4000-8000-0000000000dd';
let root: string;
let repoPath: string;
let outside: string;
let fifos: string[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'vdr-sweep-'));
  repoPath = join(root, 'repo');
  outside = join(root, 'outside');
  fifos = [];
});

afterEach(async () => {
  await releaseFifoReaders(fifos);
  await rm(root, { recursive: true, force: true });
});

async function stagingWithFile(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'vda.qcow2'), 'being written');
  return join(dir, 'vda.qcow2');
}

describe('staging folders are named by host', () => {
  it('partialDir names the host and the backup', () => {
    const repo = new FileRepository(repoPath, 'compute-01.example.org');
    expect(repo.partialDir(UUID, backupIdAt(1))).toBe(join(repoPath, UUID, `.partial-compute-01.example.org-${backupIdAt(1)}`));
  });

  it.each(['', '.', '..', 'a/b', '-lead', 'x'.repeat(129), 'host name'])('refuses the host name %j', (host) => {
    expect(() => new FileRepository(repoPath, host)).toThrow(InvalidArgument);
  });
});

describe('the start-up sweep', () => {
  it("removes this host's staging folder and keeps another host's in flight", async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    const own = repo.partialDir(UUID, backupIdAt(1));
    await stagingWithFile(own);
    // host-a's prefix is a prefix of host-a-b's: names must still never be confused.
    const others = [
      join(repoPath, UUID, `.partial-host-b-${backupIdAt(2)}`),
      join(repoPath, UUID, `.partial-host-a-b-${backupIdAt(3)}`),
      join(repoPath, UUID, `.partial-${backupIdAt(4)}`),
    ];
    const otherFiles = await Promise.all(others.map(stagingWithFile));

    const report = await repo.sweep();

    expect(report.removed).toEqual([own]);
    expect(await existsNoFollow(own)).toBe(false);
    expect(await missingPaths(otherFiles)).toEqual([]);
    expect(report.kept.map((k) => k.path).sort()).toEqual([...others].sort());
  });

  it('does not follow a symlinked domain folder out of the repository', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    const target = join(outside, 'domain');
    const outsideFiles = [
      await stagingWithFile(join(target, `.partial-host-a-${backupIdAt(1)}`)),
      await stagingWithFile(join(target, backupIdAt(2))),
    ];
    await mkdir(repoPath, { recursive: true });
    await symlink(target, join(repoPath, UUID));

    const report = await repo.sweep();

    expect(report.removed).toEqual([]);
    expect(report.invalid).toEqual([{ domain_uuid: UUID, backup_id: null, reason: expect.stringMatching(/symlink/) }]);
    expect(await missingPaths([join(repoPath, UUID), ...outsideFiles])).toEqual([]);
    expect(await repo.scanPoints(UUID)).toEqual({ points: [], invalid: report.invalid });
  });

  it('neither follows nor deletes a staging entry of its own name that is a symlink', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    const outsideFile = await stagingWithFile(join(outside, 'elsewhere'));
    const own = repo.partialDir(UUID, backupIdAt(1));
    await mkdir(join(repoPath, UUID), { recursive: true });
    await symlink(join(outside, 'elsewhere'), own);

    const report = await repo.sweep();
    await repo.discardPartial(UUID, backupIdAt(1));

    expect(report.removed).toEqual([]);
    expect(report.kept).toEqual([{ path: own, reason: expect.stringMatching(/symlink/) }]);
    expect(await missingPaths([own, outsideFile])).toEqual([]);
  });

  it('keeps every planted entry of a hostile repository and reports every bad point', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    const planted = await plantHostileRepository(repoPath, outside, 'host-a', 'host-b');
    fifos = planted.fifos;

    const report = await repo.sweep();

    expect(report.removed).toEqual([planted.ownStaging]);
    expect(await missingPaths(planted.mustSurvive)).toEqual([]);
    const reported = report.invalid.map((i) => i.backup_id);
    expect(reported).toEqual(expect.arrayContaining([null, ...planted.invalid.map((i) => i.backup_id)]));
    expect(reported).toHaveLength(planted.invalid.length + 1);
    expect((await repo.listPoints(planted.domainUuid)).map((p) => p.backup_id)).toEqual(planted.good);
  }, 10_000);
});

describe('a backup never writes through a symlink', () => {
  it('refuses to stage into a domain folder that is a symlink', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    await mkdir(join(outside, 'domain'), { recursive: true });
    await mkdir(repoPath, { recursive: true });
    await symlink(join(outside, 'domain'), join(repoPath, UUID));

    await expect(repo.beginPoint(UUID, backupIdAt(1))).rejects.toBeInstanceOf(InvalidRepositoryEntry);
    expect(await missingPaths([join(outside, 'domain', `.partial-host-a-${backupIdAt(1)}`)])).toHaveLength(1);
  });

  it('replaces a leftover staging folder of the same id with an empty one', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    const leftover = await stagingWithFile(repo.partialDir(UUID, backupIdAt(1)));
    const staging = await repo.beginPoint(UUID, backupIdAt(1));
    expect(staging).toBe(repo.partialDir(UUID, backupIdAt(1)));
    expect(await existsNoFollow(leftover)).toBe(false);
    expect(await existsNoFollow(staging)).toBe(true);
  });
});

describe('removing a point (delete)', () => {
  it('takes the folder away through this host\'s staging name, leaving nothing behind', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    await writePoint(repo.pointDir(UUID, backupIdAt(1)), pointManifest(UUID, backupIdAt(1), null));
    await writePoint(repo.pointDir(UUID, backupIdAt(2)), pointManifest(UUID, backupIdAt(2), null));
    await repo.removePoint(UUID, backupIdAt(1));
    expect(await readdir(join(repoPath, UUID))).toEqual([backupIdAt(2)]);
    // Again, and after a crash that left only the staging folder: nothing to do, nothing else touched.
    await stagingWithFile(repo.partialDir(UUID, backupIdAt(1)));
    await repo.removePoint(UUID, backupIdAt(1));
    expect(await readdir(join(repoPath, UUID))).toEqual([backupIdAt(2)]);
  });

  it('refuses a point folder that is a symlink, and leaves it and its target', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    const target = await stagingWithFile(join(outside, 'point'));
    await mkdir(join(repoPath, UUID), { recursive: true });
    await symlink(join(outside, 'point'), repo.pointDir(UUID, backupIdAt(1)));
    await expect(repo.removePoint(UUID, backupIdAt(1))).rejects.toThrow(/symlink; it is kept/);
    expect(await missingPaths([repo.pointDir(UUID, backupIdAt(1)), target])).toEqual([]);
  });

  it('tells a point that lost a disk file from one planted or damaged', async () => {
    const repo = new FileRepository(repoPath, 'host-a');
    await writePoint(repo.pointDir(UUID, backupIdAt(1)), pointManifest(UUID, backupIdAt(1), null));
    await rm(join(repo.pointDir(UUID, backupIdAt(1)), 'vda.qcow2'));
    expect((await repo.scanPoints(UUID)).invalid).toEqual([
      { domain_uuid: UUID, backup_id: backupIdAt(1), reason: 'vda.qcow2 is missing', files_missing: true },
    ]);
  });
});
