import { basename, dirname, join } from 'node:path';
import { ChainMismatch } from '../../errors.js';
import { BACKUP_ID_SOURCE } from '../../util/ids.js';
import type { BackupMode } from '../../repo/point.js';
import type { ChainRecord } from './chain-record.js';
import type { BackupDisk } from '../select-disks.js';

export type RequestedMode = 'auto' | BackupMode;

/**
 * How one disk is saved:
 * - `file`: a full of a layer without backing: copy its bytes as they are.
 * - `flatten`: a full of a layer with backing: qemu-img convert the whole chain into one file.
 * - `delta`: an incremental: copy the frozen overlay (only the writes since the last
 *   backup) and relink it onto the parent point's file.
 */
export type CopyKind = 'file' | 'flatten' | 'delta';

export interface DiskPlan {
  target: string;
  /** The active layer now; the snapshot freezes it and it is what gets copied. */
  frozen: string;
  frozenFormat: 'qcow2' | 'raw';
  /** The new overlay the snapshot creates; the disk's active layer afterwards. */
  overlay: string;
  copy: CopyKind;
  /** The file name in the point folder. */
  pointFile: string;
  pointFormat: 'qcow2' | 'raw';
  /**
   * After the point is safe: merge the frozen layer into the layer below, so the host's
   * chain stays a base plus one overlay. Null when the frozen layer is not the agent's
   * own overlay: an operator's layer is never committed behind the operator's back.
   */
  commit: { top: string; base: string } | null;
}

export interface BackupPlan {
  backupId: string;
  mode: BackupMode;
  /** The point the incremental builds on; null for a full. */
  parent: string | null;
  /** Why the plan is a full when an incremental was possible in principle; for logs. */
  reason: string;
  disks: DiskPlan[];
}

export interface PlanInput {
  backupId: string;
  requested: RequestedMode;
  disks: BackupDisk[];
  chain: ChainRecord | null;
  /** Set: mode=auto is a full for this reason (the chain reached its length; a manual point). */
  fullBecause?: string | null;
  /** The newest point of the scheduled chain, if any. */
  latestPoint: { backup_id: string; disks: { target: string; file: string; format: string }[] } | null;
}

/** Decides full or incremental, and what happens to each disk. Pure: no I/O. */
export function planBackup(input: PlanInput): BackupPlan {
  const { backupId, requested, disks, chain, latestPoint } = input;
  const incrementalBlocker = (requested === 'auto' ? input.fullBecause : null) ?? whyNoIncremental(disks, chain, latestPoint);
  if (requested === 'incremental' && incrementalBlocker !== null) {
    throw new ChainMismatch(`an incremental backup is not possible: ${incrementalBlocker}; take a full backup`);
  }
  const mode: BackupMode = requested === 'full' || incrementalBlocker !== null ? 'full' : 'incremental';
  const parent = mode === 'incremental' && latestPoint ? latestPoint.backup_id : null;

  return {
    backupId,
    mode,
    parent,
    reason: requested === 'full' ? 'full backup requested' : (incrementalBlocker ?? 'incremental on the agent overlay'),
    disks: disks.map((disk) => {
      const ownOverlay = chain?.disks[disk.target]?.overlay === disk.file;
      const below = disk.backing[0]?.file ?? null;
      const copy: CopyKind = mode === 'incremental' ? 'delta' : disk.backing.length === 0 ? 'file' : 'flatten';
      const pointFormat = copy === 'file' ? disk.format : 'qcow2';
      return {
        target: disk.target,
        frozen: disk.file,
        frozenFormat: disk.format,
        overlay: overlayPath(disk.file, backupId),
        copy,
        pointFile: `${disk.target}.${pointFormat}`,
        pointFormat,
        commit: ownOverlay && below !== null ? { top: disk.file, base: below } : null,
      };
    }),
  };
}

function whyNoIncremental(
  disks: BackupDisk[],
  chain: ChainRecord | null,
  latestPoint: PlanInput['latestPoint'],
): string | null {
  if (latestPoint === null) return 'the domain has no backup yet';
  if (chain === null) return 'the agent has no record of the disk chain';
  if (chain.last_backup_id !== latestPoint.backup_id) {
    return `the newest point ${latestPoint.backup_id} is not the one the disk overlays follow (${chain.last_backup_id})`;
  }
  const pointTargets = latestPoint.disks.map((d) => d.target).sort().join(',');
  const diskTargets = disks.map((d) => d.target).sort().join(',');
  if (pointTargets !== diskTargets) return `the disks (${diskTargets}) differ from the last point's (${pointTargets})`;
  for (const disk of disks) {
    const recorded = chain.disks[disk.target];
    if (!recorded) return `disk ${disk.target} has no agent overlay`;
    if (recorded.overlay !== disk.file) {
      return `disk ${disk.target}'s active layer ${disk.file} is not the agent's overlay ${recorded.overlay} (a foreign snapshot?)`;
    }
  }
  return null;
}

const OVERLAY_SUFFIX = new RegExp(`\\.virtdr-${BACKUP_ID_SOURCE}\\.qcow2$`);

/** `/images/disk.qcow2` → `/images/disk.virtdr-<id>.qcow2`, next to the disk it covers. */
export function overlayPath(activeLayer: string, backupId: string): string {
  const stem = basename(activeLayer).replace(OVERLAY_SUFFIX, '').replace(/\.(qcow2|raw|img)$/, '');
  return join(dirname(activeLayer), `${stem}.virtdr-${backupId}.qcow2`);
}

export function isAgentOverlay(path: string): boolean {
  return OVERLAY_SUFFIX.test(path);
}
