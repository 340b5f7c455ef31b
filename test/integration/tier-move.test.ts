/**
 * A chain's move from the fast tier to the slow one, on REAL repositories (real qcow2
 * chains made with qemu-img and qemu-io, two file targets): copy, verify, switch, remove.
 * The move is interrupted after every step it can be interrupted at; each time the tier
 * view shows the chain whole in exactly one tier, never in neither and never half in
 * both, and running the move again finishes it with every point's content unchanged.
 * No libvirt, no bus.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRepository } from '../../src/repo/file-repository.js';
import type { Manifest } from '../../src/repo/point.js';
import type { RepositoryTarget } from '../../src/repo/target.js';
import { moveChain } from '../../src/tiers/move-chain.js';
import { scanTiers, type TierTargets } from '../../src/tiers/tier-view.js';
import { buildRepoChain, flattenedSha256 } from '../support/repo-chain.js';

const WORK = '/var/lib/virt-dr-test/tier-move';
const HOST = 'tier-move-test';

/** A target whose publishPoint and deletePoint fail once `budget` of them have run: a crash between steps. */
function failingAfter(target: FileRepository, budget: number): RepositoryTarget {
  let left = budget;
  const step = <A extends unknown[], R>(run: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (left-- <= 0) throw new Error('crash between steps');
      return run(...args);
    };
  return Object.assign(Object.create(target) as FileRepository, {
    publishPoint: step(target.publishPoint.bind(target)),
    deletePoint: step(target.deletePoint.bind(target)),
  });
}

/** Where the view says each point is: 'fast' or 'slow' by the target its counting copy is on. */
async function placesOf(tiers: TierTargets, domainUuid: string): Promise<Record<string, string>> {
  const scan = await scanTiers(tiers, domainUuid);
  return Object.fromEntries(scan.points.map((p) => [p.manifest.backup_id, p.target === tiers.fast ? `fast/${p.manifest.tier}` : `slow/${p.manifest.tier}`]));
}

let run = 0;

async function twoTiersWithChains() {
  run += 1;
  const fast = new FileRepository(path.join(WORK, `fast-${run}`), HOST, { name: 'ssd' });
  const slow = new FileRepository(path.join(WORK, `slow-${run}`), HOST, { name: 'hdd' });
  const domainUuid = `71e40000-0000-4000-8000-${String(run).padStart(12, '0')}`;
  // Two chains: the old one (3 points) moves; the open one (2 points) stays in fast.
  const points = await buildRepoChain(fast, { domainUuid, parents: [null, 0, 1, null, 3], seed: run });
  const content = new Map<string, Record<string, string>>();
  for (const point of points) content.set(point.backup_id, await flattenedSha256(fast, domainUuid, point.backup_id));
  return { fast, slow, domainUuid, points, content, tiers: { fast, slow, manual: fast } satisfies TierTargets };
}

beforeAll(async () => {
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
});

afterAll(() => rm(WORK, { recursive: true, force: true }));

describe('moving a chain from fast to slow', () => {
  it('moves the whole chain, oldest copied first and newest removed first, keeping every point\'s content', async () => {
    const { fast, slow, domainUuid, points, content, tiers } = await twoTiersWithChains();
    const old = points.slice(0, 3) as Manifest[];
    const report = await moveChain(fast, slow, domainUuid, old, 'slow');
    expect(report.copied).toEqual(old.map((p) => p.backup_id));
    expect(report.removed).toEqual(old.map((p) => p.backup_id).reverse());
    expect(report.bytes).toBeGreaterThan(0);
    const ids = points.map((p) => p.backup_id);
    expect(await placesOf(tiers, domainUuid)).toEqual({
      [ids[0]!]: 'slow/slow',
      [ids[1]!]: 'slow/slow',
      [ids[2]!]: 'slow/slow',
      // Built by the test support as manual points; a move never touches them.
      [ids[3]!]: 'fast/manual',
      [ids[4]!]: 'fast/manual',
    });
    for (const point of old) expect(await flattenedSha256(slow, domainUuid, point.backup_id)).toEqual(content.get(point.backup_id));
    expect((await fast.listPoints(domainUuid)).map((p) => p.backup_id)).toEqual(ids.slice(3));
  });

  // Three copies, then three removals: a crash after 0..5 of them.
  it.each([0, 1, 2, 3, 4, 5])('after a crash %i steps in, the chain is whole in one tier, and the move finishes', async (steps) => {
    const { fast, slow, domainUuid, points, content, tiers } = await twoTiersWithChains();
    const old = points.slice(0, 3) as Manifest[];
    const oldIds = old.map((p) => p.backup_id);
    const crashingFast = failingAfter(fast, Math.max(0, steps - 3));
    const crashingSlow = failingAfter(slow, Math.min(steps, 3));
    await expect(moveChain(crashingFast, crashingSlow, domainUuid, old, 'slow')).rejects.toThrow('crash between steps');

    const places = await placesOf(tiers, domainUuid);
    const tiersOfOld = new Set(oldIds.map((id) => places[id]?.split('/')[0]));
    expect(oldIds.every((id) => places[id] !== undefined)).toBe(true);
    expect(tiersOfOld.size).toBe(1);
    // Until the last copy the chain is in fast; from it on, in slow.
    expect([...tiersOfOld][0]).toBe(steps >= 3 ? 'slow' : 'fast');

    const finished = await moveChain(fast, slow, domainUuid, old, 'slow');
    expect(finished.copied).toEqual(oldIds.slice(Math.min(steps, 3)));
    expect(Object.values(await placesOf(tiers, domainUuid)).slice(0, 3)).toEqual(['slow/slow', 'slow/slow', 'slow/slow']);
    for (const point of old) expect(await flattenedSha256(slow, domainUuid, point.backup_id)).toEqual(content.get(point.backup_id));
    expect((await fast.listPoints(domainUuid)).map((p) => p.backup_id)).toEqual(points.slice(3).map((p) => p.backup_id));
  });
});
