import type { Logger } from 'pino';
import { DomainNotFound } from '../errors.js';
import type { JobOperation } from '../jobs/job-runner.js';
import type { Hypervisor, HypervisorDomain } from '../libvirt/hypervisor.js';
import { newBackupId } from '../util/ids.js';
import type { ChainRecordStore } from './snapshot/chain-record.js';
import { checkpointEngine, type CheckpointRecord } from './checkpoint/engine.js';
import type { SnapshotRecord } from './snapshot/journal-record.js';
import { freezeMayLinger, REPAIR_DEADLINE_MS, type BackupSettings } from './engine.js';
import type { EngineChoice } from './request.js';
import type { BackupPlaces } from './placement.js';
import { runBackup, type BackupRequest, type Engines } from './run-backup.js';
import { snapshotEngine } from './snapshot/engine.js';

export interface BackupOperationDeps {
  hypervisor: Hypervisor;
  places: BackupPlaces;
  chains: ChainRecordStore;
  settings: BackupSettings;
  /** `backup.engine`: the engine a request without `engine` gets. */
  defaultEngine: EngineChoice;
}

/**
 * The backup action as the job runner sees it. Each run opens its own libvirt
 * connection, so a slow freeze in one job never queues another job's calls.
 * The job's args were parsed into a BackupRequest when the request was accepted.
 */
export function backupOperation(deps: BackupOperationDeps): JobOperation {
  const engines: Engines = {
    snapshot: snapshotEngine({ places: deps.places, chains: deps.chains, settings: deps.settings }),
    checkpoint: checkpointEngine({ places: deps.places, settings: deps.settings }),
  };
  return {
    async run(job, ctx) {
      const session = await deps.hypervisor.openSession();
      try {
        const domain = await session.lookup(job.domain_uuid);
        // A job accepted by an agent from before `engine` existed has none: the default applies.
        const request = job.request.args as unknown as BackupRequest;
        return await runBackup(
          { ...request, engine: request.engine ?? null },
          {
            domain,
            places: deps.places,
            chains: deps.chains,
            engines,
            engineSettings: { backupApi: await deps.hypervisor.supportsBackupApi(), defaultEngine: deps.defaultEngine },
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
      const record = engineRecordOf(job.checkpoint);
      if (!record) return 'it had not touched the domain yet';
      // The thaw guard of the process that asked for the freeze died with it, and the
      // repair only thaws when the guest was left frozen (stopped_by 'agent'). A freeze
      // that timed out before quiesce=auto paused the guest instead may still land, now or
      // after this repair: this agent's guard thaws now and keeps thawing for a while.
      if (freezeMayLinger(record)) deps.settings.thawGuard.watch(job.domain_uuid);
      const session = await deps.hypervisor.openSession();
      try {
        const domain = await lookupOrNull(session, job.domain_uuid);
        const input = { domain, log, signal: AbortSignal.timeout(REPAIR_DEADLINE_MS) };
        const { pointPublished } =
          record.engine === 'checkpoint'
            ? await engines.checkpoint.recover(record, input)
            : await engines.snapshot.recover(record, input);
        return pointPublished
          ? `backup point ${record.backup_id} was complete and is kept; the domain was tidied`
          : `the partial backup ${record.backup_id} was discarded and the domain left as before it`;
      } finally {
        await session.close();
      }
    },
  };
}

/** A journal record from before the checkpoint engine has no `engine`: it is the snapshot engine's. */
function engineRecordOf(detail: unknown): SnapshotRecord | CheckpointRecord | null {
  if (typeof detail !== 'object' || detail === null) return null;
  const record = detail as Partial<SnapshotRecord | CheckpointRecord>;
  return (record.engine === 'checkpoint' ? record : { ...record, engine: 'snapshot' }) as SnapshotRecord | CheckpointRecord;
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
