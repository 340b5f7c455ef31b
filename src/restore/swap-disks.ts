import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RestoreConflict } from '../errors.js';
import { fsyncDirectory } from '../util/atomic-file.js';
import { entryKind } from '../util/no-follow-fs.js';
import type { RestorePlan } from './plan.js';

/**
 * Puts each staged disk at its final path, moving a file already there aside first. Safe
 * to repeat after a crash at any rename: a disk whose staged file is gone is in place.
 * Refuses (and changes nothing more) when something the restore did not make sits where
 * it would overwrite it.
 */
export async function swapInDisks(plan: RestorePlan): Promise<void> {
  for (const disk of plan.disks) {
    if ((await entryKind(disk.staged)) === 'missing') continue;
    const final = await entryKind(disk.final);
    if (final !== 'missing') {
      if (final !== 'file') throw new RestoreConflict(`disk ${disk.target}: ${disk.final} is a ${final}, not a disk file`);
      if ((await entryKind(disk.aside)) !== 'missing') {
        throw new RestoreConflict(`disk ${disk.target}: both ${disk.final} and the old disk kept at ${disk.aside} exist`);
      }
      await rename(disk.final, disk.aside);
    }
    await rename(disk.staged, disk.final);
    await fsyncDirectory(dirname(disk.final));
  }
}

/**
 * Undoes a swap whose definition libvirt refused: each restored disk goes back to its
 * staged name (and is removed with the others), and the old disk kept aside, if any, back
 * to its path. A new domain's disks are all the restore's own.
 */
export async function swapOutDisks(plan: RestorePlan): Promise<void> {
  for (const disk of plan.disks) {
    const hasAside = (await entryKind(disk.aside)) === 'file';
    if (!hasAside && plan.identity.kind === 'same') continue;
    if ((await entryKind(disk.final)) === 'file') await rename(disk.final, disk.staged);
    if (hasAside) await rename(disk.aside, disk.final);
    await fsyncDirectory(dirname(disk.final));
  }
  await discardStaged(plan);
}

/** Before the swap, a failed restore removes what it built; nothing else was changed. */
export async function discardStaged(plan: RestorePlan): Promise<void> {
  for (const disk of plan.disks) await removeOwnFile(disk.staged);
}

/**
 * Once the restored disks are in place and in use: the old disks kept aside go, and so do
 * the snapshot engine's overlays the agent recorded for the domain (it is defined without
 * them now, and their data is what the restore replaced).
 */
export async function removeReplacedDisks(plan: RestorePlan, agentOverlays: readonly string[]): Promise<void> {
  for (const disk of plan.disks) await removeOwnFile(disk.aside);
  for (const overlay of agentOverlays) await removeOwnFile(overlay);
}

/** Removes a file the restore named itself; a symlink or folder in its place stays. */
async function removeOwnFile(path: string): Promise<void> {
  if ((await entryKind(path)) === 'file') await rm(path);
}
