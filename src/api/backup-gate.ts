import type { BackupPlaces } from '../backup/placement.js';
import { preflightBackup } from '../backup/preflight.js';
import type { BackupRequest, EngineChoice } from '../backup/request.js';
import { RestoreIncomplete } from '../errors.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { Hypervisor, HypervisorDomain } from '../libvirt/hypervisor.js';
import type { PendingInstantStore } from '../restore/pending-instant.js';

export interface BackupGateDeps {
  hypervisor: Hypervisor;
  jobs: Pick<JobRunner, 'assertCanAccept'>;
  pending: PendingInstantStore;
  places: Pick<BackupPlaces, 'admit'>;
  /** `backup.engine`, for the preflight of a request that names no engine. */
  defaultEngine: EngineChoice;
}

/**
 * The checks every backup passes before its job exists, whoever asks (a bus request, the
 * scheduler), so a refusal comes at once and says why: the domain is free, reads no
 * repository, has a tier that takes the point, and can be backed up as asked. Resolves to
 * the domain; the job checks again when it runs.
 */
export async function acceptBackup(deps: BackupGateDeps, domainName: string, request: BackupRequest, uniqueId: string | null): Promise<HypervisorDomain> {
  const domain = await deps.hypervisor.lookup(domainName);
  // A busy domain is refused before the preflight's libvirt calls: a scheduler that
  // sends again while a backup runs costs one lookup (bench/, bus cost).
  deps.jobs.assertCanAccept(domain, uniqueId);
  await refuseWhileInstantPending(deps.pending, domain);
  await deps.places.admit(domain.uuid, request.kind);
  await preflightBackup(domain, request, { backupApi: await deps.hypervisor.supportsBackupApi(), defaultEngine: deps.defaultEngine });
  return domain;
}

/** A domain that still reads from the repository takes no backup until its copy ends. */
export async function refuseWhileInstantPending(pending: PendingInstantStore, domain: { uuid: string; name: string }): Promise<void> {
  const record = await pending.load(domain.uuid);
  if (record) {
    throw new RestoreIncomplete(
      `domain ${domain.name} still runs on the instant restore of backup ${record.backup_id}; finish it (restore with instant=true, resume=true) before backing it up`,
    );
  }
}
