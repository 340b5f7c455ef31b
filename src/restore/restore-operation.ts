import type { Logger } from 'pino';
import type { ChainRecordStore } from '../backup/snapshot/chain-record.js';
import { RestoreIncomplete } from '../errors.js';
import type { JobOperation } from '../jobs/job-runner.js';
import type { Hypervisor } from '../libvirt/hypervisor.js';
import { copyInBackground } from './instant.js';
import { isPastTheSwap, type RestoreRecord } from './journal-record.js';
import type { PendingInstantStore } from './pending-instant.js';
import type { RestoreRequest } from './request.js';
import {
  cleanUp,
  finishFromSwap,
  lookupOrNull,
  rollBack,
  runRestore,
  type RestoreDeps,
  type RestoreResult,
  type RestoreSettings,
} from './run-restore.js';

export interface RestoreOperationDeps {
  hypervisor: Hypervisor;
  holderOf: RestoreDeps['holderOf'];
  chains: ChainRecordStore;
  pending: PendingInstantStore;
  settings: RestoreSettings;
}

/**
 * The restore action as the job runner sees it. Each run opens its own libvirt
 * connection; the job's args were parsed into a RestoreRequest when it was accepted.
 */
export function restoreOperation(deps: RestoreOperationDeps): JobOperation {
  const withSession = async <T>(use: (restoreDeps: RestoreDeps) => Promise<T>): Promise<T> => {
    const session = await deps.hypervisor.openSession();
    try {
      return await use({ ...deps, session });
    } finally {
      await session.close();
    }
  };
  return {
    run: (job, ctx) =>
      withSession((restoreDeps) => {
        const request = job.request.args as unknown as RestoreRequest;
        return request.resume
          ? resumeInstant(job.domain_uuid, restoreDeps, ctx)
          : runRestore({ uuid: job.domain_uuid, name: job.domain_name }, request, restoreDeps, ctx);
      }),

    recover: (job, log: Logger) =>
      withSession(async (restoreDeps) => {
        const record = job.checkpoint as RestoreRecord | null;
        if (!record) return 'it had not changed anything yet';
        const repair = { ...restoreDeps, log };
        const noJournal = async () => {};
        if (!isPastTheSwap(record.phase)) {
          const live = await lookupOrNull(restoreDeps.session, record.plan.identity.uuid);
          await rollBack(record, repair, record.phase === 'stopping' && record.start ? live : null);
          return 'the restore was undone before it replaced any disk; the domain is as it was';
        }
        if (record.phase === 'swapping' || record.phase === 'defining') await finishFromSwap(record, repair, noJournal);
        // The copy goes on inside QEMU; the agent resumes following it once it has started.
        if (record.instant && record.phase !== 'cleaning') {
          return `the domain runs on backup ${record.plan.backupId}; the agent resumes its background copy`;
        }
        await cleanUp(record, restoreDeps, noJournal);
        return `the restore of backup ${record.plan.backupId} was finished`;
      }),
  };
}

/**
 * Finishes an instant restore whose copy stopped (failed, cancelled, or the agent
 * restarted): follows a pull still running in QEMU, or starts one again, then removes
 * the old disks once the copy is verified.
 */
async function resumeInstant(
  domainUuid: string,
  deps: RestoreDeps,
  ctx: Parameters<JobOperation['run']>[1],
): Promise<RestoreResult> {
  const started = Date.now();
  const pending = await deps.pending.load(domainUuid);
  if (!pending) throw new RestoreIncomplete(`domain ${domainUuid} has no unfinished instant restore`);
  const domain = await lookupOrNull(deps.session, domainUuid);
  if (!domain) {
    throw new RestoreIncomplete(
      `domain ${pending.domain_name} is not defined; its disks (${pending.plan.disks.map((d) => d.final).join(', ')}) hold its data over backup ${pending.backup_id}`,
    );
  }
  ctx.progress.setTotal(pending.plan.disks.reduce((sum, d) => sum + d.virtualSize, 0));
  ctx.progress.phase('copying');
  await copyInBackground(domain, pending, { ...deps, log: ctx.log }, ctx);
  const record: RestoreRecord = {
    action: 'restore',
    phase: 'cleaning',
    source_uuid: pending.source_uuid,
    plan: pending.plan,
    instant: true,
    chain: pending.chain,
    xml: '',
    start: true,
  };
  await cleanUp(record, deps, (next) => ctx.checkpoint(next));
  return {
    backup_id: pending.backup_id,
    target: pending.plan.identity.kind === 'new' ? 'new' : 'replace',
    instant: true,
    domain: domain.name,
    domain_uuid: domain.uuid,
    disks: pending.plan.disks.map((d) => ({ target: d.target, file: d.final, virtual_size: d.virtualSize })),
    bytes: pending.plan.disks.reduce((sum, d) => sum + d.virtualSize, 0),
    time_to_running_ms: 0,
    duration_ms: Date.now() - started,
  };
}

