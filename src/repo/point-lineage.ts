import { join } from 'node:path';
import { BackupNotFound, InvalidRepositoryEntry, PointCorrupt } from '../errors.js';
import type { OpenedPoints, RepositoryTarget, TransferOptions } from './target.js';
import type { Manifest, PointDisk } from './point.js';

/**
 * A point and the points it builds on, the point first and its full last. Each must be a
 * trusted point of the same domain; a parent that is gone or untrusted makes the point
 * unrestorable (PointCorrupt), since its files are only the differences to that parent.
 */
export async function pointChain(repo: Pick<RepositoryTarget, 'getPoint'>, domainUuid: string, backupId: string): Promise<Manifest[]> {
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

/** Every disk file of a chain of opened points, by local path, with what its manifest recorded. */
export function chainDisks(opened: OpenedPoints, chain: readonly Manifest[]): Map<string, PointDisk> {
  const disks = new Map<string, PointDisk>();
  for (const point of chain) {
    for (const disk of point.disks) disks.set(join(opened.dirOf(point.backup_id), disk.file), disk);
  }
  return disks;
}

/** A point's chain opened for reading: the manifests (the point first) and the local files. */
export interface OpenedChain {
  chain: Manifest[];
  opened: OpenedPoints;
  disks: Map<string, PointDisk>;
}

export async function openChain(repo: RepositoryTarget, domainUuid: string, backupId: string, options?: TransferOptions): Promise<OpenedChain> {
  const chain = await pointChain(repo, domainUuid, backupId);
  const opened = await repo.openPoints(domainUuid, chain.map((m) => m.backup_id), options);
  return { chain, opened, disks: chainDisks(opened, chain) };
}
