import { CheckpointInvalid } from '../../errors.js';
import { imageOwnerUid } from '../../libvirt/domain-xml.js';
import type { HypervisorDomain } from '../../libvirt/hypervisor.js';
import type { Manifest } from '../../repo/point.js';
import { letQemuReach, revokeQemuAccess } from '../../repo/qemu-access.js';
import {
  journalGuestStop,
  REPAIR_DEADLINE_MS,
  takeAndPublish,
  type BackupEngine,
  type EngineDeps,
  type EngineInput,
  type EngineJournalRecord,
} from '../engine.js';
import { manifestOf } from '../manifest-of.js';
import type { OperationContext } from '../operation-context.js';
import { withConsistentPoint } from '../quiesce.js';
import { waitForBackupJob } from './backup-job.js';
import { planCheckpointBackup, type CheckpointPlan } from './plan.js';
import { sealDisks } from './seal-disks.js';
import { createTargets } from './targets.js';
import { settleCheckpointBackup } from './settle.js';
import { isAgentCheckpoint } from './tidy.js';
import { backupXml, checkpointXml, redefinableXml } from './xml.js';

/** What a running checkpoint-engine backup journals before each step that changes the host. */
export interface CheckpointRecord extends EngineJournalRecord {
  engine: 'checkpoint';
  /** preparing: redefining the parent; copying: QEMU may be writing; settling: the point is published. */
  phase: 'preparing' | 'copying' | 'settling';
  /** The staging folder QEMU writes into: a running backup job that targets it is this job's. */
  staging: string;
  /** The checkpoint this backup creates. */
  checkpoint: string | null;
  /**
   * The newest point's checkpoint when this backup began (whether or not it builds on it):
   * its bitmap goes once this point is published, and stays for the next incremental if not.
   */
  previous_checkpoint: string | null;
  /** The disks that carry agent bitmaps. */
  tracked: { target: string; file: string }[];
}

/**
 * The checkpoint engine: libvirt's backup API in push mode. QEMU copies a point-in-time
 * view of each disk (copy-before-write) straight into the point's staging file, the whole
 * disk or only the clusters a persistent dirty bitmap marked since the parent's
 * checkpoint. The domain's disks stay exactly where their owner put them, and between
 * backups no libvirt checkpoint metadata remains, only one bitmap per disk inside the
 * qcow2 image: a domain Nova restarts, resizes or migrates loses nothing.
 */
export function checkpointEngine(deps: EngineDeps): BackupEngine<CheckpointRecord> {
  const { places, settings } = deps;
  const settleDeps = (record: CheckpointRecord) => ({ repo: places.byName(record.target), chainHead: () => places.chainHead(record.domain_uuid) });
  return {
    name: 'checkpoint',

    async run(input: EngineInput, ctx: OperationContext<CheckpointRecord>): Promise<Manifest> {
      const { domain, request } = input;
      const repo = input.placement.target;
      const record: CheckpointRecord = {
        engine: 'checkpoint',
        phase: 'preparing',
        domain_uuid: domain.uuid,
        backup_id: input.backupId,
        target: repo.name,
        stopped_by: null,
        freeze_requested: false,
        staging: repo.stagingFolder(domain.uuid, input.backupId),
        checkpoint: null,
        previous_checkpoint: input.latest?.checkpoint?.name ?? null,
        tracked: input.disks.filter((d) => d.format === 'qcow2').map((d) => ({ target: d.target, file: d.file })),
      };
      await ctx.checkpoint(record);
      const settle = () =>
        settleCheckpointBackup(record, { domain, ...settleDeps(record), log: ctx.log, signal: AbortSignal.timeout(REPAIR_DEADLINE_MS) });

      const take = async (): Promise<Manifest> => {
        const plan = await planWithParent(input, ctx);
        ctx.log.info(
          { backup_id: plan.backupId, engine: 'checkpoint', mode: plan.mode, parent: plan.parent?.backupId ?? null, reason: plan.reason },
          'backup planned',
        );
        record.checkpoint = plan.checkpointName;
        const staging = await repo.beginPoint(domain.uuid, plan.backupId);
        await createTargets(plan, staging);
        const qemuUid = imageOwnerUid(input.domainXml);
        await letQemuReach(staging, qemuUid);
        record.phase = 'copying';
        await ctx.checkpoint(record);

        const planned = new Set(plan.disks.map((d) => d.target));
        const others = input.allDisks.map((d) => d.target).filter((t) => !planned.has(t));
        const backupRequest = backupXml(plan, staging, others);
        const checkpointRequest = plan.checkpointName ? checkpointXml(plan.checkpointName, plan.backupId, plan.disks, others) : null;
        const createdAt = input.now();
        const quiesce = await withConsistentPoint(
          domain,
          request.quiesce,
          settings,
          ctx.log,
          journalGuestStop(record, ctx),
          // The point in time is fixed once the job starts; QEMU copies the rest after the guest goes on.
          () => domain.beginBackup(backupRequest, checkpointRequest),
        );
        ctx.log.info({ quiesce: quiesce.method, freeze_ms: quiesce.freezeMs }, 'backup job started');
        const jobStarted = performance.now();
        const reported = await followJob(domain, ctx);
        await revokeQemuAccess(staging, qemuUid);
        const sealStarted = performance.now();
        const disks = await sealDisks(plan, staging, ctx.signal);
        ctx.log.info(
          {
            bytes: disks.reduce((sum, d) => sum + d.size, 0),
            job_ms: Math.round(sealStarted - jobStarted),
            seal_ms: Math.round(performance.now() - sealStarted),
          },
          'backup job finished; files relinked, flushed and verified',
        );
        if (reported === 0) {
          // The job ended before the first poll saw it: account for what it wrote.
          const written = disks.reduce((sum, d) => sum + d.size, 0);
          ctx.progress.setTotal(written);
          ctx.progress.add(written);
        }
        return manifestOf({
          backupId: plan.backupId,
          host: settings.host,
          domain,
          domainXml: input.domainXml,
          request,
          tier: input.placement.tier,
          engine: 'checkpoint',
          mode: plan.mode,
          parent: plan.parent?.backupId ?? null,
          reason: plan.reason,
          createdAt,
          quiesce,
          disks,
          hostDisks: plan.disks.map((d) => ({
            target: d.target,
            file: d.source,
            format: d.sourceFormat,
            bitmap: d.tracked ? plan.checkpointName : null,
          })),
          checkpoint: plan.checkpointName
            ? { name: plan.checkpointName, xml: redefinableXml(await domain.checkpointXml(plan.checkpointName)) }
            : null,
        });
      };
      return takeAndPublish(take, { repo, record, ctx, publishedPhase: 'settling', settle });
    },

    recover(record, { domain, log, signal }) {
      return settleCheckpointBackup(record, { domain, ...settleDeps(record), log, signal });
    },
  };
}

/**
 * Plans the backup and, for an incremental, gives libvirt back the parent's checkpoint
 * with validation: a bitmap that is missing (the disk was replaced or converted) or
 * inconsistent (QEMU was killed) makes mode=auto a full that says why, and
 * mode=incremental a CheckpointInvalid.
 */
async function planWithParent(input: EngineInput, ctx: OperationContext<CheckpointRecord>): Promise<CheckpointPlan> {
  const { domain, request } = input;
  const base = {
    backupId: input.backupId,
    requested: request.mode,
    disks: input.disks,
    latest: input.latest,
    fullBecause: input.fullBecause,
    standalone: input.standalone,
  };
  const plan = planCheckpointBackup(base);
  if (!plan.parent) return plan;
  // Metadata an interrupted run left would make the redefinition fail as a duplicate.
  await dropAgentMetadata(domain);
  try {
    await domain.redefineCheckpoint(plan.parent.checkpointXml, { validate: true });
    return plan;
  } catch (err) {
    if (!(err instanceof CheckpointInvalid)) throw err;
    if (request.mode === 'incremental') {
      throw new CheckpointInvalid(
        `checkpoint ${plan.parent.checkpointName} of point ${plan.parent.backupId} is not usable: ${err.message}; take a full backup`,
        { cause: err },
      );
    }
    ctx.log.warn({ checkpoint: plan.parent.checkpointName, err: err.message }, 'parent checkpoint did not validate; taking a full');
    return planCheckpointBackup({ ...base, parentUnusable: err.message });
  }
}

async function dropAgentMetadata(domain: HypervisorDomain): Promise<void> {
  for (const name of (await domain.checkpoints()).filter(isAgentCheckpoint)) {
    await domain.deleteCheckpoint(name, { metadataOnly: true });
  }
}

/** Polls the job to its end, turning its byte counters into the job's progress; returns the bytes reported. */
async function followJob(domain: HypervisorDomain, ctx: OperationContext<CheckpointRecord>): Promise<number> {
  let totalSet = false;
  let reported = 0;
  await waitForBackupJob(domain, {
    signal: ctx.signal,
    onProgress: ({ bytesTotal, bytesDone }) => {
      if (!totalSet && bytesTotal > 0) {
        ctx.progress.setTotal(bytesTotal);
        totalSet = true;
      }
      if (bytesDone > reported) ctx.progress.add(bytesDone - reported);
      reported = Math.max(reported, bytesDone);
    },
  });
  return reported;
}

