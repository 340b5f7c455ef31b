import type { Logger } from 'pino';
import { DomainNotFound } from '../errors.js';
import type { JobOperation } from '../jobs/job-runner.js';
import type { Hypervisor, HypervisorDomain } from '../libvirt/hypervisor.js';
import type { FileRepository } from '../repo/file-repository.js';
import { newBackupId } from '../util/ids.js';
import { freezeMayLinger, type BackupCheckpoint } from './checkpoint.js';
import type { ChainRecordStore } from './chain-record.js';
import { runBackup, type BackupRequest, type BackupSettings } from './run-backup.js';
import { settleBackup } from './settle.js';

export interface BackupOperationDeps {
  hypervisor: Hypervisor;
  repo: FileRepository;
  chains: ChainRecordStore;
  settings: BackupSettings;
}

const RECOVERY_DEADLINE_MS = 30 * 60_000;

/**
 * The backup action as the job runner sees it. Each run opens its own libvirt
 * connection, so a slow freeze in one job never queues another job's calls.
 * The job's args were parsed into a BackupRequest when the request was accepted.
 */
export function backupOperation(deps: BackupOperationDeps): JobOperation {
  return {
    async run(job, ctx) {
      const session = await deps.hypervisor.openSession();
      try {
        const domain = await session.lookup(job.domain_uuid);
        return await runBackup(
          job.request.args as unknown as BackupRequest,
          {
            domain,
            repo: deps.repo,
            chains: deps.chains,
            settings: deps.settings,
            newBackupId: () => newBackupId(new Date()),
            now: () => new Date(),
          },
          ctx,
        );
      } finally {
        await session.close();
      }
    },

    async recover(job, log: Logger) {
      const checkpoint = job.checkpoint as BackupCheckpoint | null;
      if (!checkpoint) return 'it had not touched the domain yet';
      // The thaw guard of the process that asked for the freeze died with it, and settle
      // only thaws when the guest was left frozen (stopped_by 'agent'). A freeze that
      // timed out before quiesce=auto paused the guest instead may still land, now or
      // after this repair: this agent's guard thaws now and keeps thawing for a while.
      if (freezeMayLinger(checkpoint)) deps.settings.thawGuard.watch(job.domain_uuid);
      const session = await deps.hypervisor.openSession();
      try {
        const domain = await lookupOrNull(session, job.domain_uuid);
        const { pointPublished } = await settleBackup(checkpoint, {
          domain,
          repo: deps.repo,
          chains: deps.chains,
          log,
          signal: AbortSignal.timeout(RECOVERY_DEADLINE_MS),
        });
        return pointPublished
          ? `backup point ${checkpoint.backup_id} was complete and is kept; the disk chain was merged`
          : `the partial backup ${checkpoint.backup_id} was discarded and the disk chain restored`;
      } finally {
        await session.close();
      }
    },
  };
}

async function lookupOrNull(
  session: { lookup(id: string): Promise<HypervisorDomain> },
  uuid: string,
): Promise<HypervisorDomain | null> {
  try {
    return await session.lookup(uuid);
  } catch (err) {
    if (err instanceof DomainNotFound) return null;
    throw err;
  }
}
