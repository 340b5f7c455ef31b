import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { backingPathOf } from '../src/repo/point-chain.js';
import type { PointView } from '../test/support/backup-api.js';
import { run } from '../test/support/guest.js';
import { measureCommand } from './measure.js';

/**
 * The merge an operator would run by hand instead of a prune's, the prune suite's
 * baseline: the child's disk copied, rebased in safe mode onto what the pruned point
 * backed onto, and flushed. It checks nothing (no sha256, no compare) and swaps nothing in.
 */
export const HAND_MERGE =
  "`cp --sparse=always` of the child's disk, `qemu-img rebase -f qcow2 -F qcow2 -b <the pruned point's backing, or ''>` (safe mode), `sync -f`, on copies of the same two points";

/** A point as list_backups shows it: the parts the hand-run merge reads. */
export type ChainPoint = Pick<PointView, 'backup_id' | 'parent'> & { disks: Pick<PointView['disks'][number], 'target' | 'file'>[] };

/** One disk of the child, as paths relative to the domain's folder (`<backup_id>/<file>`). */
export interface HandMergeDisk {
  child: string;
  /** Beside the child's disk, so the relative backing its header names still resolves. */
  copy: string;
  /** The copy's new backing as a point's header names its parent's file, or '' for none (the pruned point was a full). */
  backing: string;
}

export interface HandMergePlan {
  /** Every file the rebase reads, relative to the domain's folder: the child's, then the pruned point's chain down to its full. */
  aside: string[];
  disks: HandMergeDisk[];
}

/** What to copy aside and run to merge `prunedId` into its one child, from list_backups' points. Pure. */
export function handMergePlan(points: readonly ChainPoint[], prunedId: string): HandMergePlan {
  const byId = new Map(points.map((p) => [p.backup_id, p]));
  const pruned = byId.get(prunedId);
  if (!pruned) throw new Error(`no point ${prunedId} to merge`);
  const children = points.filter((p) => p.parent === prunedId);
  if (children.length !== 1) throw new Error(`point ${prunedId} has ${children.length} children; the hand-run merge takes one`);
  const child = children[0]!;
  const chain: ChainPoint[] = [];
  for (let point: ChainPoint | undefined = pruned; point; point = point.parent === null ? undefined : byId.get(point.parent)) {
    if (chain.includes(point)) throw new Error(`the chain below ${prunedId} loops at ${point.backup_id}`);
    chain.push(point);
  }
  const bottom = chain.at(-1)!;
  if (bottom.parent !== null) throw new Error(`the chain below ${prunedId} misses ${bottom.parent}`);
  const grandparent = chain[1] ?? null;
  const fileOf = (point: ChainPoint, disk: { file: string }) => `${point.backup_id}/${disk.file}`;
  const disks = child.disks.map((disk): HandMergeDisk => {
    const below = grandparent?.disks.find((d) => d.target === disk.target);
    if (grandparent && !below) throw new Error(`point ${grandparent.backup_id} has no disk ${disk.target}`);
    return { child: fileOf(child, disk), copy: `${fileOf(child, disk)}.hand-merge`, backing: grandparent && below ? backingPathOf(grandparent.backup_id, below) : '' };
  });
  return { aside: [child, ...chain].flatMap((p) => p.disks.map((d) => fileOf(p, d))), disks };
}

/** The safe-mode rebase, both formats named; `-b ''` makes the copy self-contained. */
export function handRebaseArgv(copy: string, backing: string): string[] {
  return ['qemu-img', 'rebase', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, copy];
}

/**
 * Copies the plan's files from the domain's folder into `asideDir` (untimed, then flushed,
 * so the timed `sync -f` flushes only the merge), times the merge of each disk there, and
 * removes the folder. Returns the seconds and the merged copies' bytes.
 */
export async function handMerge(domainDir: string, asideDir: string, plan: HandMergePlan): Promise<{ seconds: number; bytes: number }> {
  await rm(asideDir, { recursive: true, force: true });
  try {
    for (const file of plan.aside) {
      await mkdir(path.dirname(path.join(asideDir, file)), { recursive: true });
      await run('cp', ['--sparse=always', path.join(domainDir, file), path.join(asideDir, file)], { timeoutMs: 600_000 });
    }
    await run('sync', ['-f', asideDir]);
    let seconds = 0;
    let bytes = 0;
    for (const disk of plan.disks) {
      const copy = path.join(asideDir, disk.copy);
      const steps = [['cp', '--sparse=always', path.join(asideDir, disk.child), copy], handRebaseArgv(copy, disk.backing), ['sync', '-f', copy]];
      for (const argv of steps) seconds += (await measureCommand(argv)).seconds;
      bytes += (await stat(copy)).size;
    }
    return { seconds, bytes };
  } finally {
    await rm(asideDir, { recursive: true, force: true });
  }
}
