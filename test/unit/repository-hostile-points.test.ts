/**
 * Each bad point a review planted, on a real temporary folder: the repository lists it as
 * untrusted with a reason, keeps the good point beside it, refuses to hand it out, and the
 * start-up sweep leaves every file of it in place. No read may hang (a FIFO) or throw
 * (a directory named manifest.json).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidRepositoryEntry } from '../../src/errors.js';
import { FileRepository } from '../../src/repo/file-repository.js';
import { backupIdAt, HOSTILE_POINTS, missingPaths, pointManifest, releaseFifoReaders, writePoint } from '../support/hostile-repo.js';

const UUID = '0b5c3f5e-0000-4000-8000-0000000000cc';
const GOOD = backupIdAt(1);
const BAD = backupIdAt(2);
// A FIFO read as a file would block forever; the bound turns that into a failure.
const NO_HANG_MS = 5_000;

let root: string;

async function plantedRepository(hostile: (typeof HOSTILE_POINTS)[number]) {
  root = await mkdtemp(join(tmpdir(), 'vdr-hostile-'));
  const repo = new FileRepository(join(root, 'repo'), 'host-a');
  const domainDir = repo.domainDir(UUID);
  await writePoint(join(domainDir, GOOD), pointManifest(UUID, GOOD, null));
  await hostile.plant(join(domainDir, BAD), { domainUuid: UUID, backupId: BAD, outside: join(root, 'outside') });
  const planted = ['manifest.json', 'vda.qcow2'].map((f) => join(domainDir, BAD, f));
  return { repo, survivors: [join(domainDir, BAD), ...(await presentOf(planted))] };
}

async function presentOf(paths: string[]): Promise<string[]> {
  const missing = await missingPaths(paths);
  return paths.filter((p) => !missing.includes(p));
}

afterEach(async () => {
  await releaseFifoReaders([join(root, 'repo', UUID, BAD, 'manifest.json')]);
  await rm(root, { recursive: true, force: true });
});

describe.each(HOSTILE_POINTS)('$name', (hostile) => {
  it(
    'is listed as untrusted, with its reason, next to the good point',
    async () => {
      const { repo } = await plantedRepository(hostile);
      const scan = await repo.scanPoints(UUID);
      expect(scan.points.map((p) => p.backup_id)).toEqual([GOOD]);
      expect(scan.invalid).toEqual([{ domain_uuid: UUID, backup_id: BAD, reason: expect.stringMatching(hostile.reason) }]);
      expect(await repo.listInvalidPoints(UUID)).toEqual(scan.invalid);
      expect((await repo.latestPoint(UUID))?.backup_id).toBe(GOOD);
    },
    NO_HANG_MS,
  );

  it(
    'is refused by getPoint and is no published point',
    async () => {
      const { repo } = await plantedRepository(hostile);
      await expect(repo.getPoint(UUID, BAD)).rejects.toBeInstanceOf(InvalidRepositoryEntry);
      expect(await repo.hasPoint(UUID, BAD)).toBe(false);
      expect((await repo.getPoint(UUID, GOOD)).backup_id).toBe(GOOD);
    },
    NO_HANG_MS,
  );

  it(
    'survives the start-up sweep, which reports it',
    async () => {
      const { repo, survivors } = await plantedRepository(hostile);
      const report = await repo.sweep();
      expect(report.removed).toEqual([]);
      expect(report.invalid.map((i) => i.backup_id)).toEqual([BAD]);
      expect(await missingPaths(survivors)).toEqual([]);
    },
    NO_HANG_MS,
  );
});
