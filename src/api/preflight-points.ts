import type { BackupPlaces } from '../backup/placement.js';
import { BackupInUse, BackupNotFound, DomainExists, InvalidArgument, RestoreIncomplete } from '../errors.js';
import { pointIn, type TieredPoint, type TieredScan } from '../tiers/tier-view.js';
import type { PendingInstantStore } from '../restore/pending-instant.js';
import type { RestoreRequest } from '../restore/request.js';
import { refuseCopiedForInstant } from '../restore/instant.js';
import type { DomainRef } from './resolve-domain.js';

/**
 * What restore, verify and delete_backup can be refused for before a job exists, so the
 * caller hears at once (the job checks again when it runs). Nothing here changes anything.
 */
export interface PointPreflightDeps {
  /** The domain's points across its tiers. */
  places: Pick<BackupPlaces, 'scan' | 'tierTargets'>;
  pending: PendingInstantStore;
  /** Whether a secondary target holds the point (a restore brings a point the primary lacks home first). */
  onSecondary: (domainUuid: string, backupId: string) => Promise<boolean>;
  /** Whether libvirt has a domain of this name. */
  isDefined(name: string): Promise<boolean>;
}

/**
 * A restore needs a trusted point of the domain (or, to resume, the domain's unfinished
 * instant restore of that point), a free `new_name`, and no instant restore of the
 * domain still copying: that one must finish first.
 */
export async function preflightRestore(domain: DomainRef, request: RestoreRequest, deps: PointPreflightDeps): Promise<void> {
  const pending = await deps.pending.load(domain.uuid);
  if (request.resume) {
    if (pending?.backup_id !== request.backupId) {
      throw new InvalidArgument(`restore(): domain ${domain.name} has no unfinished instant restore of backup ${request.backupId}`);
    }
    return;
  }
  if (pending) {
    throw new RestoreIncomplete(`domain ${domain.name} still runs on the instant restore of backup ${pending.backup_id}; finish it with resume=true`);
  }
  const scan = await deps.places.scan(domain.uuid);
  const found = await findPoint(domain, request.backupId, scan, deps);
  // A point only another target holds is brought into the fast tier first: QEMU reads it there.
  if (request.instant) refuseCopiedForInstant(found?.target ?? (await deps.places.tierTargets(domain.uuid)).fast);
  if (request.definitionFrom !== null) await findPoint(domain, request.definitionFrom, scan, deps);
  if (request.newName !== null && (await deps.isDefined(request.newName))) {
    throw new DomainExists(`restore(): a domain named ${request.newName} exists already`);
  }
}

/** A point to verify must be there; an untrusted one is verified too (and reported corrupt). */
export async function preflightVerify(domain: DomainRef, backupId: string | null, deps: PointPreflightDeps): Promise<void> {
  if (backupId === null) return;
  const scan = await deps.places.scan(domain.uuid);
  const known = scan.points.some((p) => p.manifest.backup_id === backupId) || scan.invalid.some((p) => p.backup_id === backupId);
  if (!known) throw new BackupNotFound(`no backup ${backupId} for domain ${domain.name}`);
}

/** A point to delete must be trusted, and read by no unfinished instant restore. */
export async function preflightDelete(domain: DomainRef, backupId: string, deps: PointPreflightDeps): Promise<void> {
  if (!(await findPoint(domain, backupId, await deps.places.scan(domain.uuid), { onSecondary: async () => false }))) {
    throw new BackupNotFound(`no backup ${backupId} for domain ${domain.name} in its tiers`);
  }
  const user = await deps.pending.userOf(domain.uuid, backupId);
  if (user) {
    throw new BackupInUse(`backup ${backupId} is read by the unfinished instant restore of ${user.domain_name}; it can be deleted once that copy ends`);
  }
}

/**
 * The point's copy that counts in the domain's tiers; null when only another target holds
 * it (the caller brings it home). InvalidRepositoryEntry when a tier keeps it untrusted,
 * BackupNotFound when no target has it.
 */
async function findPoint(
  domain: DomainRef,
  backupId: string,
  scan: TieredScan,
  deps: Pick<PointPreflightDeps, 'onSecondary'>,
): Promise<TieredPoint | null> {
  const found = pointIn(scan, backupId, domain.name);
  if (found) return found;
  if (await deps.onSecondary(domain.uuid, backupId)) return null;
  throw new BackupNotFound(`no backup ${backupId} for domain ${domain.name}`);
}
