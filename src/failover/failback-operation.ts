import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { OperationContext } from '../backup/operation-context.js';
import type { BackupRequest } from '../backup/request.js';
import type { CallAgent } from '../bus/agent-call.js';
import { InvalidArgument, TargetOperationFailed } from '../errors.js';
import type { JobOperation } from '../jobs/job-runner.js';
import type { JobRecord } from '../jobs/job.js';
import type { Hypervisor, HypervisorDomain } from '../libvirt/hypervisor.js';
import type { PlacedPoint } from '../repo/point.js';
import { lookupOrNull } from '../restore/run-restore.js';
import type { DomainRecordStore } from '../util/domain-records.js';
import type { FailoverRecord } from './failover-record.js';

/**
 * What a failback journals. `backup` holds the nested backup's own record while one
 * runs, so a crash in it is repaired by the backup's recovery first.
 */
export interface FailbackRecord {
  action: 'failback';
  phase: 'precopy' | 'final' | 'home' | 'stopping';
  /** This job paused the DR copy: whatever goes wrong before the home host runs it, it resumes. */
  paused: boolean;
  final_backup_id: string | null;
  backup: unknown;
}

export interface FailbackResult {
  domain: string;
  domain_uuid: string;
  home_host: string;
  /** The point the home host restored: the DR copy's last state. */
  backup_id: string;
  /** How long the guest was paused: the final backup, the copy home and the home restore. */
  paused_ms: number;
  duration_ms: number;
}

export interface FailbackDeps {
  hypervisor: Hypervisor;
  /** The backup action itself: failback takes two backups as steps of its own job. */
  backup: JobOperation;
  records: DomainRecordStore<FailoverRecord>;
  callAgent: CallAgent;
  /** How long the home host may take to restore the domain (it copies the point home first). */
  homeRestoreTimeoutMs: number;
}

/**
 * failback(domain), on the DR node: the domain goes home with everything written here.
 *
 * 1. A backup of the running DR copy (the bulk, while the guest works on).
 * 2. The DR copy is paused, and a second backup takes what it wrote meanwhile: a paused
 *    guest writes nothing, so nothing written on the DR side is left behind.
 * 3. The home agent restores that point (`restore` on its queue, waiting): it copies the
 *    point home from its DR target, defines the domain from its own point's XML (the
 *    one the failover started from), and starts it.
 * 4. Only once the home domain runs is the DR copy stopped, undefined, and its disks
 *    (the failover's, and nothing else) removed.
 *
 * Until step 4 the DR copy is only paused: a failure, or a crash before the home host
 * was asked, resumes it, and the failback can be asked again. A crash while the home host
 * restores leaves it paused (that restore goes on without us): recovery stops it if the
 * home copy runs by then, and otherwise leaves the choice to the operator.
 */
export function failbackOperation(deps: FailbackDeps): JobOperation {
  return {
    async run(job, ctx) {
      const started = Date.now();
      const failover = await failoverOf(deps, job.domain_uuid);
      const home = failover.home_host!;
      const record: FailbackRecord = { action: 'failback', phase: 'precopy', paused: false, final_backup_id: null, backup: null };
      await ctx.checkpoint(record);
      const session = await deps.hypervisor.openSession();
      try {
        const domain = await session.lookup(job.domain_uuid);
        ctx.progress.phase('copying');
        await backupStep(deps, job, ctx, record, { quiesce: 'auto' });
        record.phase = 'final';
        ctx.progress.phase('syncing');
        let pausedAt = Date.now();
        try {
          if ((await domain.runState()) === 'running') {
            record.paused = true;
            await ctx.checkpoint(record);
            pausedAt = Date.now();
            await domain.suspend();
          }
          // Paused: the guest writes nothing, and the point is consistent without a freeze.
          const final = await backupStep(deps, job, ctx, record, { quiesce: 'none' });
          record.phase = 'home';
          record.final_backup_id = final.backup_id;
          await ctx.checkpoint(record);
          ctx.progress.phase('handing_over');
          ctx.log.info({ home, backup_id: final.backup_id }, 'the home host restores the DR copy\'s last point');
          await restoreAtHome(deps, failover, final.backup_id);
        } catch (err) {
          if (record.paused) await domain.resume();
          throw err;
        }
        const pausedMs = Date.now() - pausedAt;
        record.phase = 'stopping';
        await ctx.checkpoint(record);
        ctx.progress.phase('stopping');
        await stopDrCopy(domain, failover, deps);
        return {
          domain: failover.domain_name,
          domain_uuid: job.domain_uuid,
          home_host: home,
          backup_id: record.final_backup_id!,
          paused_ms: pausedMs,
          duration_ms: Date.now() - started,
        } satisfies FailbackResult;
      } finally {
        await session.close();
      }
    },

    async recover(job, log: Logger) {
      const record = job.checkpoint as FailbackRecord | null;
      if (!record) return 'it had not changed anything yet';
      if (record.backup) log.info({ outcome: await deps.backup.recover({ ...job, action: 'backup', checkpoint: record.backup }, log) }, 'the failback\'s backup step settled');
      const failover = await deps.records.load(job.domain_uuid);
      const session = await deps.hypervisor.openSession();
      try {
        const domain = await lookupOrNull(session, job.domain_uuid);
        if (!domain || !failover) return 'the DR copy is gone already';
        const homeRuns = record.phase === 'stopping' || (record.phase === 'home' && (await homeState(deps, failover)) === 'running');
        if (homeRuns) {
          await stopDrCopy(domain, failover, deps);
          return `the home host runs the domain: the DR copy was stopped`;
        }
        if (record.phase === 'home') {
          // The home host may still be restoring (its job outlives this agent's wait): a
          // resumed DR copy could then run beside the home one. Paused, it writes nothing.
          return 'the home host was restoring the domain and does not run it yet: the DR copy stays paused; check the home host, then ask for the failback again (or resume the DR copy by hand)';
        }
        if (record.paused && (await domain.runState()) === 'paused') await domain.resume();
        return 'the home host does not run the domain: the DR copy runs on; ask for the failback again';
      } finally {
        await session.close();
      }
    },
  };
}

/** The failover this node keeps for the domain; a failback needs one, with a home host. */
export async function failoverOf(deps: Pick<FailbackDeps, 'records'>, domainUuid: string): Promise<FailoverRecord> {
  const failover = await deps.records.load(domainUuid);
  if (!failover) throw new InvalidArgument(`failback(): domain ${domainUuid} was not failed over to this node`);
  if (failover.home_host === null) {
    throw new InvalidArgument(`failback(): the point domain ${failover.domain_name} was failed over from does not name its home host`);
  }
  return failover;
}

/** One backup as a step of this job: its journal record lives inside the failback's. */
async function backupStep(
  deps: FailbackDeps,
  job: JobRecord,
  ctx: OperationContext<FailbackRecord>,
  record: FailbackRecord,
  overrides: Pick<BackupRequest, 'quiesce'>,
): Promise<PlacedPoint> {
  // Scheduled, not manual: the final backup must build on the precopy's point, and a manual point is a standalone full.
  const request: BackupRequest = { mode: 'auto', kind: 'scheduled', engine: null, excludeDisks: [], ...overrides };
  const nested = {
    ...ctx,
    checkpoint: (detail: unknown) => {
      record.backup = detail;
      return ctx.checkpoint(record);
    },
  };
  const point = (await deps.backup.run({ ...job, action: 'backup', request: { ...job.request, args: { ...request } } }, nested)) as PlacedPoint;
  record.backup = null;
  await ctx.checkpoint(record);
  return point;
}

async function restoreAtHome(deps: FailbackDeps, failover: FailoverRecord, backupId: string): Promise<void> {
  const args = { domain: failover.domain_uuid, backup_id: backupId, definition_from: failover.home_backup_id, wait: true };
  const homeJob = await deps.callAgent<{ state: string; error: { class: string; message: string } | null }>(
    failover.home_host!,
    'restore',
    args,
    deps.homeRestoreTimeoutMs,
  );
  if (homeJob.state !== 'succeeded') {
    throw new TargetOperationFailed(`the home host ${failover.home_host} did not restore the domain: ${homeJob.error?.class}: ${homeJob.error?.message}`);
  }
  const state = await homeState(deps, failover);
  if (state !== 'running') throw new TargetOperationFailed(`the home host ${failover.home_host} restored the domain, which is ${state} there, not running`);
}

async function homeState(deps: FailbackDeps, failover: FailoverRecord): Promise<string> {
  return (await deps.callAgent<{ state: string }>(failover.home_host!, 'domain_state', { domain: failover.domain_uuid }, 30_000)).state;
}

/** The DR copy goes: forced off, undefined, its disks (the failover's own files) removed. */
async function stopDrCopy(domain: HypervisorDomain, failover: FailoverRecord, deps: Pick<FailbackDeps, 'records'>): Promise<void> {
  if ((await domain.runState()) !== 'shutoff') await domain.destroy();
  await domain.undefine();
  for (const disk of failover.disks) await rm(disk, { force: true });
  await deps.records.remove(failover.domain_uuid);
}
