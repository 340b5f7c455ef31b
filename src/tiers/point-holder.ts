import type { BackupPlaces } from '../backup/placement.js';
import { BackupNotFound } from '../errors.js';
import type { RepositoryTarget, TransferOptions } from '../repo/target.js';
import { pointIn } from './tier-view.js';

/** The target to read a point from: a tier's, or the fast tier's once the point is brought home. */
export type PointHolder = (domainUuid: string, backupId: string, options?: TransferOptions) => Promise<RepositoryTarget>;

/**
 * Where restore and verify read a point: the tier target whose copy counts (a point in
 * the slow tier is read there, copied to this host first when the target is remote);
 * else a point only another target holds (a failback's point from the DR node) is first
 * brought into the fast tier by `fetchHome`. BackupNotFound when no target has it, and
 * InvalidRepositoryEntry when a tier keeps it untrusted.
 */
export function pointHolder(
  places: Pick<BackupPlaces, 'scan' | 'tierTargets'>,
  fetchHome: (domainUuid: string, backupId: string, options: TransferOptions) => Promise<boolean>,
): PointHolder {
  return async (domainUuid, backupId, options = {}) => {
    const found = pointIn(await places.scan(domainUuid), backupId, domainUuid);
    if (found) return found.target;
    if (await fetchHome(domainUuid, backupId, options)) return (await places.tierTargets(domainUuid)).fast;
    throw new BackupNotFound(`no backup ${backupId} of domain ${domainUuid} on any target`);
  };
}
