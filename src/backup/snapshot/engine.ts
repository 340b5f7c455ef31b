import type { Manifest, PointDisk } from '../../repo/point.js';
import type { SnapshotRecord } from './journal-record.js';
import type { ChainRecordStore } from './chain-record.js';
import { bytesToCopy, saveDisk } from './copy-disk.js';
import { journalGuestStop, REPAIR_DEADLINE_MS, takeAndPublish, type BackupEngine, type EngineDeps, type EngineInput } from '../engine.js';
import { manifestOf } from '../manifest-of.js';
import type { OperationContext } from '../operation-context.js';
import { planBackup, type BackupPlan } from './plan.js';
import { withConsistentPoint } from '../quiesce.js';
import { settleBackup } from './settle.js';
import { diskSnapshotXml } from './snapshot-xml.js';

export interface SnapshotEngineDeps extends EngineDeps {
  chains: ChainRecordStore;
}

/**
 * The snapshot engine: one atomic external disk-only snapshot freezes each disk's active
 * layer, the agent copies that layer into the repository (the whole disk the first time,
 * then only the agent's own overlay) and merges it back, so the host's chain stays a base
 * plus one agent overlay. It works without libvirt's backup API and on raw disks, but it
 * leaves the domain on a file the agent created: never for Nova instances.
 */
export function snapshotEngine(deps: SnapshotEngineDeps): BackupEngine<SnapshotRecord> {
  const { places, chains, settings } = deps;
  return {
    name: 'snapshot',

    async run(input: EngineInput, ctx: OperationContext<SnapshotRecord>): Promise<Manifest> {
      const { domain, request, latest } = input;
      const repo = input.placement.target;
      const chain = await chains.load(domain.uuid);
      // A manual full resets the engine's own chain record, so the next scheduled backup is a full too.
      const plan = planBackup({ backupId: input.backupId, requested: request.mode, disks: input.disks, chain, latestPoint: latest, fullBecause: input.fullBecause });
      ctx.log.info({ backup_id: plan.backupId, mode: plan.mode, parent: plan.parent, reason: plan.reason }, 'backup planned');

      const record: SnapshotRecord = {
        engine: 'snapshot',
        phase: 'snapshotting',
        domain_uuid: domain.uuid,
        backup_id: plan.backupId,
        target: repo.name,
        stopped_by: null,
        freeze_requested: false,
        disks: plan.disks.map((d) => ({ target: d.target, frozen: d.frozen, overlay: d.overlay, commit: d.commit })),
      };
      await ctx.checkpoint(record);
      const settle = () =>
        settleBackup(record, { domain, repo, chains, log: ctx.log, signal: AbortSignal.timeout(REPAIR_DEADLINE_MS) });

      const take = async (): Promise<Manifest> => {
        const staging = await repo.beginPoint(domain.uuid, plan.backupId);
        const planned = new Set(plan.disks.map((d) => d.target));
        const snapshotXml = diskSnapshotXml(
          plan.backupId,
          plan.disks,
          input.allDisks.map((d) => d.target).filter((t) => !planned.has(t)),
        );
        const createdAt = input.now();
        const quiesce = await withConsistentPoint(
          domain,
          request.quiesce,
          settings,
          ctx.log,
          journalGuestStop(record, ctx),
          () => domain.createDiskSnapshot(snapshotXml, { quiesce: false }),
        );
        ctx.log.info({ quiesce: quiesce.method, freeze_ms: quiesce.freezeMs }, 'snapshot taken');
        record.phase = 'copying';
        await ctx.checkpoint(record);

        const disks = await copyDisks(plan, staging, latest, settings.bandwidthBytesPerSecond, ctx);
        return manifestOf({
          backupId: plan.backupId,
          host: settings.host,
          domain,
          domainXml: input.domainXml,
          request,
          tier: input.placement.tier,
          engine: 'snapshot',
          mode: plan.mode,
          parent: plan.parent,
          reason: plan.reason,
          createdAt,
          quiesce,
          disks,
          hostDisks: input.disks.map((d) => ({ target: d.target, file: d.file, format: d.format, bitmap: null })),
          checkpoint: null,
        });
      };
      return takeAndPublish(take, { repo, record, ctx, publishedPhase: 'committing', settle });
    },

    recover(record, { domain, log, signal }) {
      return settleBackup(record, { domain, repo: places.byName(record.target), chains, log, signal });
    },
  };
}

async function copyDisks(
  plan: BackupPlan,
  staging: string,
  parentPoint: Manifest | null,
  bandwidth: number,
  ctx: OperationContext<SnapshotRecord>,
): Promise<PointDisk[]> {
  const totals = await Promise.all(plan.disks.map(bytesToCopy));
  ctx.progress.setTotal(totals.reduce((a, b) => a + b, 0));
  const saved: PointDisk[] = [];
  for (const [i, disk] of plan.disks.entries()) {
    const parentDisk = parentPoint?.disks.find((d) => d.target === disk.target) ?? null;
    const parent =
      plan.parent && parentDisk ? { backupId: plan.parent, file: parentDisk.file, format: parentDisk.format } : null;
    const started = performance.now();
    const pointDisk = await saveDisk(disk, staging, parent, {
      signal: ctx.signal,
      bandwidth,
      plannedBytes: totals[i]!,
      onBytes: (n) => ctx.progress.add(n),
    });
    const ms = Math.round(performance.now() - started);
    ctx.log.info({ disk: disk.target, copy: disk.copy, bytes: pointDisk.size, ms }, 'disk saved and verified');
    saved.push(pointDisk);
  }
  return saved;
}
