import type { Logger } from 'pino';
import { RepairPending } from '../errors.js';
import { parseDomainDisks } from '../libvirt/domain-xml.js';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import type { FileRepository } from '../repo/file-repository.js';
import { pointOf, type BackupKind, type BackupPoint, type Manifest, type PointDisk } from '../repo/point.js';
import type { BackupCheckpoint } from './checkpoint.js';
import type { ChainRecordStore } from './chain-record.js';
import { bytesToCopy, saveDisk } from './copy-disk.js';
import { preflightBackup } from './preflight.js';
import { planBackup, type BackupPlan, type RequestedMode } from './plan.js';
import { withConsistentPoint, type QuiescePolicy, type QuiesceSettings } from './quiesce.js';
import { selectDisks } from './select-disks.js';
import { settleBackup } from './settle.js';
import { diskSnapshotXml } from './snapshot-xml.js';

export interface BackupRequest {
  mode: RequestedMode;
  quiesce: QuiescePolicy;
  kind: BackupKind;
  excludeDisks: string[];
}

export interface BackupSettings extends QuiesceSettings {
  bandwidthBytesPerSecond: number;
}

/** What the job runner hands an operation: its own logger, signal, progress and journal. */
export interface OperationContext<Checkpoint> {
  log: Logger;
  signal: AbortSignal;
  progress: { setTotal(bytes: number): void; add(bytes: number): void };
  /** Persists recovery detail to the journal; resolves once it is on disk. */
  checkpoint(detail: Checkpoint): Promise<void>;
}

export interface BackupDeps {
  domain: HypervisorDomain;
  repo: FileRepository;
  chains: ChainRecordStore;
  settings: BackupSettings;
  newBackupId: () => string;
  now: () => Date;
}

/**
 * One backup, end to end: plan, stop the guest for a moment, snapshot, copy and verify
 * into a staged point, publish it, then merge the frozen layer so the host's chain stays
 * a base plus one overlay. Whatever happens after the snapshot, settleBackup leaves the
 * host and the repository consistent before this returns or throws.
 */
export async function runBackup(
  request: BackupRequest,
  deps: BackupDeps,
  ctx: OperationContext<BackupCheckpoint>,
): Promise<BackupPoint> {
  const { domain, repo, chains } = deps;
  const domainXml = await preflightBackup(domain, request);
  const allDisks = parseDomainDisks(domainXml);
  const disks = selectDisks(allDisks, request.excludeDisks);
  const [chain, latest] = await Promise.all([chains.load(domain.uuid), repo.latestPoint(domain.uuid)]);
  const plan = planBackup({ backupId: deps.newBackupId(), requested: request.mode, disks, chain, latestPoint: latest });
  ctx.log.info({ backup_id: plan.backupId, mode: plan.mode, parent: plan.parent, reason: plan.reason }, 'backup planned');

  const checkpoint: BackupCheckpoint = {
    phase: 'snapshotting',
    domain_uuid: domain.uuid,
    backup_id: plan.backupId,
    stopped_by: null,
    freeze_requested: false,
    disks: plan.disks.map((d) => ({ target: d.target, frozen: d.frozen, overlay: d.overlay, commit: d.commit })),
  };
  await ctx.checkpoint(checkpoint);
  const settle = (signal: AbortSignal) => settleBackup(checkpoint, { domain, repo, chains, log: ctx.log, signal });

  let manifest: Manifest;
  try {
    const staging = await repo.beginPoint(domain.uuid, plan.backupId);
    const planned = new Set(plan.disks.map((d) => d.target));
    const snapshotXml = diskSnapshotXml(
      plan.backupId,
      plan.disks,
      allDisks.map((d) => d.target).filter((t) => !planned.has(t)),
    );
    const createdAt = deps.now();
    const quiesce = await withConsistentPoint(
      domain,
      request.quiesce,
      deps.settings,
      ctx.log,
      async (method) => {
        checkpoint.stopped_by = method;
        // Kept when auto falls back to suspend: the failed freeze may still land late.
        if (method === 'agent') checkpoint.freeze_requested = true;
        await ctx.checkpoint(checkpoint);
      },
      () => domain.createDiskSnapshot(snapshotXml, { quiesce: false }),
    );
    ctx.log.info({ quiesce: quiesce.method, freeze_ms: quiesce.freezeMs }, 'snapshot taken');
    checkpoint.phase = 'copying';
    await ctx.checkpoint(checkpoint);

    const pointDisks = await copyDisks(plan, staging, latest, deps.settings.bandwidthBytesPerSecond, ctx);
    manifest = {
      manifest_version: 1,
      backup_id: plan.backupId,
      domain: domain.name,
      domain_uuid: domain.uuid,
      mode: plan.mode,
      kind: request.kind,
      tier: request.kind === 'manual' ? 'manual' : 'fast',
      parent: plan.parent,
      created_at: createdAt.toISOString(),
      quiesce: quiesce.method,
      freeze_ms: quiesce.freezeMs,
      bytes: pointDisks.reduce((sum, d) => sum + d.size, 0),
      disks: pointDisks,
      domain_xml: domainXml,
    };
    await repo.commitPoint(manifest);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'backup failed; restoring the disk chain');
    // The job's own signal may be what failed it; the repair gets a fresh deadline.
    await settle(AbortSignal.timeout(REPAIR_DEADLINE_MS)).catch((repairErr: unknown) => {
      throw new RepairPending(repairErr, err);
    });
    throw err;
  }

  checkpoint.phase = 'committing';
  await ctx.checkpoint(checkpoint);
  await settle(AbortSignal.timeout(REPAIR_DEADLINE_MS)).catch((repairErr: unknown) => {
    throw new RepairPending(repairErr);
  });
  ctx.log.info({ backup_id: manifest.backup_id, bytes: manifest.bytes }, 'backup point published');
  return pointOf(manifest);
}

const REPAIR_DEADLINE_MS = 30 * 60_000;

async function copyDisks(
  plan: BackupPlan,
  staging: string,
  parentPoint: Manifest | null,
  bandwidth: number,
  ctx: OperationContext<BackupCheckpoint>,
): Promise<PointDisk[]> {
  const totals = await Promise.all(plan.disks.map(bytesToCopy));
  ctx.progress.setTotal(totals.reduce((a, b) => a + b, 0));
  const saved: PointDisk[] = [];
  for (const [i, disk] of plan.disks.entries()) {
    const parentDisk = parentPoint?.disks.find((d) => d.target === disk.target) ?? null;
    const parent =
      plan.parent && parentDisk
        ? { backupId: plan.parent, file: parentDisk.file, format: parentDisk.format }
        : null;
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
