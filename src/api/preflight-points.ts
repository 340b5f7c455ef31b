import { BackupInUse, BackupNotFound, DomainExists, InvalidArgument, RestoreIncomplete } from '../errors.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { PendingInstantStore } from '../restore/pending-instant.js';
import type { RestoreRequest } from '../restore/request.js';
import { refuseCopiedForInstant } from '../restore/instant.js';
import type { DomainRef } from './resolve-domain.js';

/**
 * What restore, verify and delete_backup can be refused for before a job exists, so the
 * caller hears at once (the job checks again when it runs). Nothing here changes anything.
 */
export interface PointPreflightDeps {
  repo: RepositoryTarget;
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
  if (request.instant) refuseCopiedForInstant(deps.repo);
  await deps.repo.getPoint(domain.uuid, request.backupId).catch(async (err: unknown) => {
    if (!(err instanceof BackupNotFound && (await deps.onSecondary(domain.uuid, request.backupId)))) throw err;
  });
  if (request.definitionFrom !== null) await deps.repo.getPoint(domain.uuid, request.definitionFrom);
  if (request.newName !== null && (await deps.isDefined(request.newName))) {
    throw new DomainExists(`restore(): a domain named ${request.newName} exists already`);
  }
}

/** A point to verify must be there; an untrusted one is verified too (and reported corrupt). */
export async function preflightVerify(domain: DomainRef, backupId: string | null, deps: PointPreflightDeps): Promise<void> {
  if (backupId === null || (await deps.repo.hasPoint(domain.uuid, backupId))) return;
  const untrusted = (await deps.repo.listInvalidPoints(domain.uuid)).some((p) => p.backup_id === backupId);
  if (!untrusted) throw new BackupNotFound(`no backup ${backupId} for domain ${domain.name}`);
}

/** A point to delete must be trusted, and read by no unfinished instant restore. */
export async function preflightDelete(domain: DomainRef, backupId: string, deps: PointPreflightDeps): Promise<void> {
  await deps.repo.getPoint(domain.uuid, backupId);
  const user = await deps.pending.userOf(domain.uuid, backupId);
  if (user) {
    throw new BackupInUse(`backup ${backupId} is read by the unfinished instant restore of ${user.domain_name}; it can be deleted once that copy ends`);
  }
}
