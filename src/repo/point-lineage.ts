import { join } from 'node:path';
import { BackupNotFound, InvalidRepositoryEntry, PointCorrupt } from '../errors.js';
import type { FileRepository } from './file-repository.js';
import type { Manifest, PointDisk } from './point.js';

/**
 * A point and the points it builds on, the point first and its full last. Each must be a
 * trusted point of the same domain; a parent that is gone or untrusted makes the point
 * unrestorable (PointCorrupt), since its files are only the differences to that parent.
 */
export async function pointChain(repo: FileRepository, domainUuid: string, backupId: string): Promise<Manifest[]> {
  const chain = [await repo.getPoint(domainUuid, backupId)];
  for (let parent = chain[0]!.parent; parent !== null; parent = chain.at(-1)!.parent) {
    if (chain.some((m) => m.backup_id === parent)) throw new PointCorrupt(`the chain of backup ${backupId} loops at ${parent}`);
    try {
      chain.push(await repo.getPoint(domainUuid, parent));
    } catch (err) {
      if (err instanceof BackupNotFound) throw new PointCorrupt(`backup ${backupId} needs ${parent}, which is not in the repository`);
      if (err instanceof InvalidRepositoryEntry) throw new PointCorrupt(`backup ${backupId} needs ${parent}: ${err.message}`);
      throw err;
    }
  }
  return chain;
}

/** Every disk file of a chain of points, by absolute path, with what its manifest recorded. */
export function chainDisks(repo: FileRepository, domainUuid: string, chain: readonly Manifest[]): Map<string, PointDisk> {
  const disks = new Map<string, PointDisk>();
  for (const point of chain) {
    for (const disk of point.disks) disks.set(join(repo.pointDir(domainUuid, point.backup_id), disk.file), disk);
  }
  return disks;
}
