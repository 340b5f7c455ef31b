/**
 * verify and delete on a REAL repository: chains of real qcow2 and raw files made with
 * qemu-img and qemu-io, real manifests, the real qemu-img for every check and merge, and
 * a real SIGKILL of a process in the middle of a merge. No libvirt, no bus.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupNotFound, InvalidArgument, InvalidRepositoryEntry, PointCorrupt } from '../../src/errors.js';
import { imageInfo } from '../../src/qemu/qemu-img.js';
import { deletePoint, finishDelete } from '../../src/repo/delete-point.js';
import { FileRepository } from '../../src/repo/file-repository.js';
import { verifyPoints } from '../../src/repo/verify-points.js';
import { KILL_MOMENTS, type KillMoment } from '../support/delete-point-process.js';
import { projectRoot } from '../support/project-root.js';
import { buildRepoChain, dataOffsetOf, fileSums, flattenedChain, flipByte, sha256Of, type ChainDisk, type RepoChainSpec } from '../support/repo-chain.js';

const WORK = '/var/lib/virt-dr-test/repo-ops-verify-delete';
const HOST = 'repo-ops-test';
/** Two qcow2 chains and a raw disk copied whole into every point. */
const DISKS: ChainDisk[] = [
  { target: 'vda', format: 'qcow2' },
  { target: 'vdb', format: 'qcow2' },
  { target: 'vdc', format: 'raw' },
];
const ROOT = projectRoot(import.meta.url);
const KILL_SCRIPT = path.join(ROOT, 'dist/test/support/delete-point-process.js');

let repoCount = 0;

/** A fresh repository holding one chain (default: 4 points, DISKS, 16 MiB each). */
async function freshChain(spec: Partial<RepoChainSpec> = {}) {
  repoCount += 1;
  const repo = new FileRepository(path.join(WORK, `repo-${repoCount}`), HOST);
  const domainUuid = `5e1f0000-0000-4000-8000-${String(repoCount).padStart(12, '0')}`;
  const points = await buildRepoChain(repo, { domainUuid, disks: DISKS, seed: repoCount, ...spec });
  const ids = points.map((p) => p.backup_id);
  const fileOf = (index: number, target = 'vda') => path.join(repo.pointDir(domainUuid, ids[index]!), points[index]!.disks.find((d) => d.target === target)!.file);
  return { repo, domainUuid, points, ids, fileOf };
}

/** Work files and staging folders anywhere in a repository: none may outlive a settled delete. */
async function leftovers(root: string): Promise<string[]> {
  const names = await readdir(root, { recursive: true });
  return names.filter((n) => n.includes('.virtdr-merge') || n.includes('.partial-'));
}

const statusById = (report: Awaited<ReturnType<typeof verifyPoints>>) => Object.fromEntries(report.points.map((p) => [p.backup_id, p.status]));

beforeAll(async () => {
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
});

afterAll(() => rm(WORK, { recursive: true, force: true }));

describe('verifyPoints', () => {
  it('says ok of every point of a fresh chain, and hashes each file once with its progress', async () => {
    const { repo, domainUuid, points } = await freshChain();
    const totals: number[] = [];
    let heard = 0;
    const report = await verifyPoints(repo, domainUuid, null, { onTotal: (n) => totals.push(n), onBytes: (n) => (heard += n) });
    const bytes = points.flatMap((p) => p.disks).reduce((sum, d) => sum + d.size, 0);
    expect(report).toEqual({
      points: points.map((p) => ({ backup_id: p.backup_id, status: 'ok', problems: [] })),
      ok: 4,
      corrupt: 0,
      missing: 0,
      bytes_read: bytes,
    });
    expect(totals).toEqual([bytes]);
    expect(heard).toBe(bytes);
  });

  it('verifies one point with its ancestors only', async () => {
    const { repo, domainUuid, ids } = await freshChain();
    const report = await verifyPoints(repo, domainUuid, ids[2]!, {});
    expect(report.points.map((p) => [p.backup_id, p.status])).toEqual(ids.slice(0, 3).map((id) => [id, 'ok']));
  });

  it('finds a byte flipped in one point: that point and its descendants are corrupt, the others ok', async () => {
    const { repo, domainUuid, ids, fileOf } = await freshChain();
    await flipByte(fileOf(1), await dataOffsetOf(fileOf(1)));
    const report = await verifyPoints(repo, domainUuid, null, {});
    expect(statusById(report)).toEqual({ [ids[0]!]: 'ok', [ids[1]!]: 'corrupt', [ids[2]!]: 'corrupt', [ids[3]!]: 'corrupt' });
    expect(report.points[1]!.problems).toEqual([expect.stringMatching(/^vda\.qcow2 reads as sha256 [0-9a-f]{64}, its manifest says/)]);
    expect(report.points[3]!.problems).toEqual([`ancestor ${ids[1]} is corrupt: restoring this point would not give exact data`]);
    expect(report).toMatchObject({ ok: 1, corrupt: 3, missing: 0 });
    // A single point's verify names the same damage.
    expect(statusById(await verifyPoints(repo, domainUuid, ids[2]!, {}))).toEqual({ [ids[0]!]: 'ok', [ids[1]!]: 'corrupt', [ids[2]!]: 'corrupt' });
  });

  it('finds a parent folder removed by hand: its child and theirs are missing', async () => {
    const { repo, domainUuid, ids } = await freshChain();
    await rm(repo.pointDir(domainUuid, ids[1]!), { recursive: true });
    const report = await verifyPoints(repo, domainUuid, null, {});
    expect(statusById(report)).toEqual({ [ids[0]!]: 'ok', [ids[2]!]: 'missing', [ids[3]!]: 'missing' });
    expect(report.points[1]!.problems).toEqual([`parent ${ids[1]} is not in the repository`]);
    expect(report).toMatchObject({ ok: 1, corrupt: 0, missing: 2 });
  });

  it('finds a disk file removed by hand: that point is missing, its children too', async () => {
    const { repo, domainUuid, ids, fileOf } = await freshChain();
    await rm(fileOf(2, 'vdc'));
    const report = await verifyPoints(repo, domainUuid, null, {});
    expect(statusById(report)).toEqual({ [ids[0]!]: 'ok', [ids[1]!]: 'ok', [ids[3]!]: 'missing', [ids[2]!]: 'missing' });
    expect(report.points.find((p) => p.backup_id === ids[2])!.problems).toEqual(['vdc.raw is missing']);
  });

  it('finds a full whose header names a backing file, and a disk backing onto the wrong file', async () => {
    const { repo, domainUuid, ids } = await freshChain({ points: 3 });
    // Headers only (rebase -u), so the sha256 check alone would miss neither: update the manifests' sums.
    await relinkAndReseal(repo, domainUuid, ids[0]!, 'vda', `../${ids[2]}/vda.qcow2`);
    await relinkAndReseal(repo, domainUuid, ids[2]!, 'vdb', `../${ids[0]}/vdb.qcow2`);
    const report = await verifyPoints(repo, domainUuid, null, {});
    expect(report.points[0]).toEqual({ backup_id: ids[0], status: 'corrupt', problems: [`vda.qcow2 names backing file "../${ids[2]}/vda.qcow2", but the point is a full`] });
    expect(report.points[2]!.problems).toContain(`vdb.qcow2 names backing file "../${ids[0]}/vdb.qcow2", not ../${ids[1]}/vdb.qcow2`);
  });

  it('reports an untrusted entry as corrupt, refuses an unknown id and a path trick', async () => {
    const { repo, domainUuid, ids } = await freshChain({ points: 2 });
    const planted = '20260301T000000900Z-badbad';
    await mkdir(repo.pointDir(domainUuid, planted));
    await writeFile(path.join(repo.pointDir(domainUuid, planted), 'manifest.json'), '{"manifest_version": 1,');
    const all = await verifyPoints(repo, domainUuid, null, {});
    expect(all.points.at(-1)).toEqual({ backup_id: planted, status: 'corrupt', problems: [expect.stringMatching(/not JSON/)] });
    expect(statusById(all)).toMatchObject({ [ids[0]!]: 'ok', [ids[1]!]: 'ok' });
    expect((await verifyPoints(repo, domainUuid, planted, {})).points).toEqual([all.points.at(-1)]);
    await expect(verifyPoints(repo, domainUuid, '20260301T000000999Z-000000', {})).rejects.toBeInstanceOf(BackupNotFound);
    await expect(verifyPoints(repo, domainUuid, `../${ids[0]}`, {})).rejects.toBeInstanceOf(InvalidArgument);
  });

  it('stops when its signal is aborted, with the signal reason', async () => {
    const { repo, domainUuid } = await freshChain({ points: 2 });
    const abort = new AbortController();
    const reason = new Error('stop verifying');
    await expect(verifyPoints(repo, domainUuid, null, { signal: abort.signal, onBytes: () => abort.abort(reason) })).rejects.toBe(reason);
  });
});

describe('deletePoint: every other point restores exactly as before', () => {
  it.each([
    ['the first (a full)', 0],
    ['a middle one', 1],
    ['the last', 3],
  ])('deletes %s of a chain of 4', async (_name, index) => {
    const { repo, domainUuid, ids, points } = await freshChain();
    const before = await flattenedChain(repo, domainUuid);
    const report = await deletePoint(repo, domainUuid, ids[index]!, {});
    const child = ids[index + 1];
    expect(report).toMatchObject({ backup_id: ids[index], merged_into: child ? [child] : [] });
    expect(report.bytes_written > 0).toBe(child !== undefined);
    delete before[ids[index]!];
    expect(await flattenedChain(repo, domainUuid)).toEqual(before);
    expect(await verifyPoints(repo, domainUuid, null, {})).toMatchObject({ ok: 3, corrupt: 0, missing: 0 });
    expect(existsSync(repo.pointDir(domainUuid, ids[index]!))).toBe(false);
    expect(await leftovers(repo.root)).toEqual([]);
    if (child) {
      const merged = await repo.getPoint(domainUuid, child);
      expect(merged.parent).toBe(ids[index - 1] ?? null);
      expect(merged.mode).toBe(index === 0 ? 'full' : 'incremental');
      if (index === 0) expect(merged.reason).toBe(`merged with the deleted full ${ids[0]}`);
      expect((await imageInfo(path.join(repo.pointDir(domainUuid, child), 'vda.qcow2'), 'qcow2')).backingFile).toBe(index === 0 ? null : `../${ids[index - 1]}/vda.qcow2`);
      // The raw disk is a whole copy in every point: nothing of it is merged.
      expect(merged.disks.find((d) => d.target === 'vdc')).toEqual(points[index + 1]!.disks.find((d) => d.target === 'vdc'));
    }
  });

  it('deletes the first, a middle and the last of one chain in turn', async () => {
    const { repo, domainUuid, ids } = await freshChain({ points: 5 });
    const before = await flattenedChain(repo, domainUuid);
    for (const id of [ids[0]!, ids[2]!, ids[4]!]) {
      await deletePoint(repo, domainUuid, id, {});
      delete before[id];
      expect(await flattenedChain(repo, domainUuid)).toEqual(before);
    }
    expect((await repo.listPoints(domainUuid)).map((p) => [p.backup_id, p.parent])).toEqual([
      [ids[1], null],
      [ids[3], ids[1]],
    ]);
    expect(await verifyPoints(repo, domainUuid, null, {})).toMatchObject({ ok: 2, corrupt: 0, missing: 0 });
  });

  it('merges a point into each of its two children', async () => {
    const { repo, domainUuid, ids } = await freshChain({ parents: [null, 0, 1, 1] });
    const before = await flattenedChain(repo, domainUuid);
    expect((await deletePoint(repo, domainUuid, ids[1]!, {})).merged_into).toEqual([ids[2], ids[3]]);
    delete before[ids[1]!];
    expect(await flattenedChain(repo, domainUuid)).toEqual(before);
    expect(await verifyPoints(repo, domainUuid, null, {})).toMatchObject({ ok: 3, corrupt: 0, missing: 0 });
  });

  it('refuses, changing nothing: an unknown id, an untrusted point, damaged data to merge, a planted work file', async () => {
    const { repo, domainUuid, ids, fileOf } = await freshChain();
    const untouched = async () => expect(await fileSums(repo.root)).toEqual(sums);
    let sums = await fileSums(repo.root);
    await expect(deletePoint(repo, domainUuid, '20260301T000000999Z-000000', {})).rejects.toBeInstanceOf(BackupNotFound);
    await expect(deletePoint(repo, domainUuid, '../../etc', {})).rejects.toBeInstanceOf(InvalidArgument);
    await untouched();

    const damaged = await dataOffsetOf(fileOf(1));
    await flipByte(fileOf(1), damaged);
    sums = await fileSums(repo.root);
    await expect(deletePoint(repo, domainUuid, ids[1]!, {})).rejects.toThrow(PointCorrupt);
    await expect(deletePoint(repo, domainUuid, ids[0]!, {})).rejects.toThrow(/vda\.qcow2 reads as sha256/);
    await untouched();
    await flipByte(fileOf(1), damaged);

    const outside = path.join(WORK, 'outside-target');
    await writeFile(outside, 'not a merge file');
    await symlink(outside, `${fileOf(3)}.virtdr-merge`);
    sums = await fileSums(repo.root);
    await expect(deletePoint(repo, domainUuid, ids[2]!, {})).rejects.toThrow(InvalidRepositoryEntry);
    expect((await readFile(outside, 'utf8'))).toBe('not a merge file');
    expect(existsSync(`${fileOf(3)}.virtdr-merge`)).toBe(true);
    await untouched();
    await rm(`${fileOf(3)}.virtdr-merge`);

    await writeFile(path.join(repo.pointDir(domainUuid, ids[3]!), 'manifest.json'), '{');
    await expect(deletePoint(repo, domainUuid, ids[3]!, {})).rejects.toThrow(InvalidRepositoryEntry);
    // The untrusted point backs onto ids[2]: that one is kept as well.
    await expect(deletePoint(repo, domainUuid, ids[2]!, {})).rejects.toThrow(/depend on it/);
    expect(existsSync(repo.pointDir(domainUuid, ids[2]!))).toBe(true);
  });

  it('stops when aborted mid-merge and leaves the child as it was', async () => {
    const { repo, domainUuid, ids, fileOf } = await freshChain();
    const before = await flattenedChain(repo, domainUuid);
    const sums = await fileSums(repo.root);
    const abort = new AbortController();
    const reason = new Error('stop deleting');
    // Once the child's first work file is being written.
    const onBytes = () => {
      if (existsSync(`${fileOf(2)}.virtdr-merge`)) abort.abort(reason);
    };
    await expect(deletePoint(repo, domainUuid, ids[1]!, { signal: abort.signal, onBytes })).rejects.toBe(reason);
    expect(await fileSums(repo.root)).toEqual(sums);
    expect(await flattenedChain(repo, domainUuid)).toEqual(before);
  });
});

describe('deletePoint killed (SIGKILL) mid-merge, then finishDelete', () => {
  beforeAll(() => {
    // The kill runs the agent's code from the build: it must be the code of this tree.
    const source = path.join(ROOT, 'src/repo/merge-child.ts');
    const built = path.join(ROOT, 'dist/src/repo/merge-child.js');
    if (!existsSync(KILL_SCRIPT) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(`${path.relative(ROOT, KILL_SCRIPT)} is missing or older than the source: run npm run build first`);
    }
  });

  const cases = (Object.keys(KILL_MOMENTS) as KillMoment[]).flatMap((moment) => [[moment, 1] as const, ...(moment === 'committed' ? [[moment, 0] as const] : [])]);

  it.each(cases)('killed at %s while deleting point %i: the repository settles and verifies', async (moment, index) => {
    const { repo, domainUuid, ids } = await freshChain();
    const before = await flattenedChain(repo, domainUuid);
    const { stderr, signal } = await runKilled([repo.root, HOST, domainUuid, ids[index]!, moment]);
    expect(stderr).toContain(`KILLED AT ${moment}`);
    expect(signal).toBe('SIGKILL');

    const outcome = await finishDelete(repo, domainUuid, ids[index]!);
    expect(outcome).toBe(KILL_MOMENTS[moment]);
    expect(await finishDelete(repo, domainUuid, ids[index]!)).toBe(outcome);
    expect(await leftovers(repo.root)).toEqual([]);
    if (outcome === 'deleted') delete before[ids[index]!];
    expect(await flattenedChain(repo, domainUuid)).toEqual(before);
    expect(await verifyPoints(repo, domainUuid, null, {})).toMatchObject({ ok: Object.keys(before).length, corrupt: 0, missing: 0 });

    if (outcome === 'kept') {
      await deletePoint(repo, domainUuid, ids[index]!, {});
      delete before[ids[index]!];
      expect(await flattenedChain(repo, domainUuid)).toEqual(before);
    }
  });
});

/** Runs the kill script in its own process group; resolves with how it ended. */
function runKilled(args: string[]): Promise<{ stderr: string; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KILL_SCRIPT, ...args], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ stderr, signal }));
  });
}

/** Changes one disk's recorded backing (rebase -u), then its manifest's sums, as a careless tool might. */
async function relinkAndReseal(repo: FileRepository, domainUuid: string, backupId: string, target: string, backing: string) {
  const dir = repo.pointDir(domainUuid, backupId);
  const manifest = await repo.getPoint(domainUuid, backupId);
  const disk = manifest.disks.find((d) => d.target === target)!;
  execFileSync('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', backing, '-F', 'qcow2', path.join(dir, disk.file)]);
  disk.sha256 = await sha256Of(path.join(dir, disk.file));
  disk.size = (await stat(path.join(dir, disk.file))).size;
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}
