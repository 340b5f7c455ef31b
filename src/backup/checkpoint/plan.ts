import { ChainMismatch } from '../../errors.js';
import type { BackupMode, Manifest } from '../../repo/point.js';
import { STANDALONE_REASON } from '../placement.js';
import type { RequestedMode } from '../request.js';
import type { BackupDisk } from '../select-disks.js';

/** The agent's checkpoints and bitmaps are named after the backup that made them. */
export function checkpointNameOf(backupId: string): string {
  return `virtdr-${backupId}`;
}

export interface CheckpointDiskPlan {
  target: string;
  /** The disk's active layer, exactly where its owner put it; never replaced. */
  source: string;
  sourceFormat: 'qcow2' | 'raw';
  /** qcow2 can carry a persistent dirty bitmap; raw cannot, so a raw disk is always a full. */
  tracked: boolean;
  /** Only the clusters dirtied since the parent's checkpoint; else the whole disk. */
  incremental: boolean;
  /** The file in the point folder: always qcow2, which QEMU writes sparsely. */
  pointFile: string;
}

/** The point an incremental builds on, and the checkpoint to redefine for it. */
export interface CheckpointParent {
  backupId: string;
  checkpointName: string;
  checkpointXml: string;
  /** Each tracked disk's file in the parent point, to relink the new overlay onto. */
  files: Record<string, { file: string; format: 'qcow2' | 'raw' }>;
}

export interface CheckpointPlan {
  backupId: string;
  mode: BackupMode;
  /** The checkpoint this backup creates; null when no disk can carry a bitmap. */
  checkpointName: string | null;
  parent: CheckpointParent | null;
  /** Why the plan is a full; null for an incremental. */
  reason: string | null;
  disks: CheckpointDiskPlan[];
}

export interface CheckpointPlanInput {
  backupId: string;
  requested: RequestedMode;
  disks: BackupDisk[];
  latest: Manifest | null;
  /** Set when the parent's checkpoint was tried and did not validate: the reason. */
  parentUnusable?: string;
  /** Set: mode=auto is a full for this reason, whatever the chain allows (an explicit incremental is still tried). */
  fullBecause?: string | null;
  /** A manual point outside the chain: a full that creates no checkpoint, so the chain's bitmap is all that stays. */
  standalone?: boolean;
}

/**
 * Full or incremental, per disk. Pure. The chain state comes from the newest point's
 * manifest alone (its checkpoint, its disks' files and formats), never from this host's
 * state folder, so it survives a lost state folder and a move to another host.
 */
export function planCheckpointBackup(input: CheckpointPlanInput): CheckpointPlan {
  const { backupId, requested, disks, latest } = input;
  const standalone = input.standalone ?? false;
  const anyTracked = !standalone && disks.some((d) => d.format === 'qcow2');
  const blocker = standalone
    ? STANDALONE_REASON
    : requested === 'full'
      ? 'full backup requested'
      : ((requested === 'auto' ? input.fullBecause : null) ?? whyNoIncremental(disks, latest, input.parentUnusable));
  if (requested === 'incremental' && blocker !== null) {
    throw new ChainMismatch(`an incremental backup is not possible: ${blocker}; take a full backup`);
  }
  const parent = blocker === null && latest?.checkpoint ? parentOf(latest) : null;
  return {
    backupId,
    mode: parent ? 'incremental' : 'full',
    checkpointName: anyTracked ? checkpointNameOf(backupId) : null,
    parent,
    reason: blocker,
    disks: disks.map((disk) => {
      const tracked = anyTracked && disk.format === 'qcow2';
      return {
        target: disk.target,
        source: disk.file,
        sourceFormat: disk.format,
        tracked,
        incremental: parent !== null && tracked,
        pointFile: `${disk.target}.qcow2`,
      };
    }),
  };
}

function whyNoIncremental(disks: BackupDisk[], latest: Manifest | null, parentUnusable: string | undefined): string | null {
  if (!disks.some((d) => d.format === 'qcow2')) return 'no disk can carry a dirty bitmap (none is qcow2)';
  if (latest === null) return 'the domain has no backup yet';
  if (latest.engine !== 'checkpoint' || latest.checkpoint === null) {
    return `the newest point ${latest.backup_id} has no checkpoint (taken by the ${latest.engine} engine)`;
  }
  const pointTargets = latest.disks.map((d) => d.target).sort().join(',');
  const diskTargets = disks.map((d) => d.target).sort().join(',');
  if (pointTargets !== diskTargets) return `the disks (${diskTargets}) differ from the newest point's (${pointTargets})`;
  for (const disk of disks.filter((d) => d.format === 'qcow2')) {
    const before = latest.host_disks.find((h) => h.target === disk.target);
    if (!before || before.bitmap === null) return `disk ${disk.target} has no bitmap in the newest point`;
    if (before.file !== disk.file || before.format !== disk.format) {
      return `disk ${disk.target} is now ${disk.file} (${disk.format}), the newest point's was ${before.file} (${before.format})`;
    }
  }
  if (parentUnusable !== undefined) return `checkpoint ${latest.checkpoint.name} did not validate: ${parentUnusable}`;
  return null;
}

function parentOf(latest: Manifest): CheckpointParent {
  const checkpoint = latest.checkpoint!;
  return {
    backupId: latest.backup_id,
    checkpointName: checkpoint.name,
    checkpointXml: checkpoint.xml,
    files: Object.fromEntries(latest.disks.map((d) => [d.target, { file: d.file, format: d.format }])),
  };
}
