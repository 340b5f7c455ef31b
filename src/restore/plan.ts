import { join } from 'node:path';
import { UnsupportedDisk } from '../errors.js';
import type { ImageFormat } from '../qemu/qemu-img.js';
import type { Manifest } from '../repo/point.js';
import type { OwnerDisk } from './owner-disks.js';

/** The domain a restore defines: the same one (name and UUID kept), or a new one. */
export type RestoredIdentity =
  | { kind: 'same'; name: string; uuid: string }
  | { kind: 'new'; name: string; uuid: string; folder: string };

/** One disk of a restore: where it comes from in the repository, and where it goes. */
export interface RestoreDiskPlan {
  target: string;
  /** The point's file for this disk, absolute; the layers below come from its header. */
  pointFile: string;
  pointFormat: ImageFormat;
  virtualSize: number;
  /** Where the disk ends: the owner's path (replace) or the new domain's folder. */
  final: string;
  format: ImageFormat;
  /** Built beside `final` (same file system, so one rename puts it in place). */
  staged: string;
  /** Where a file already at `final` is kept until the restore is complete. */
  aside: string;
}

export interface RestorePlan {
  backupId: string;
  identity: RestoredIdentity;
  disks: RestoreDiskPlan[];
}

/** Marks the files a restore job makes beside a disk; the job's tag proves they are its own. */
export const STAGED_MARK = '.virtdr-restore-';
export const ASIDE_MARK = '.virtdr-old-';

/**
 * Where each disk of the point goes. A replace writes each disk at its owner's path
 * (today's XML, or the point's own XML when the domain is gone), in the owner's format:
 * Nova names the format in the XML it rebuilds, so a raw disk stays raw. A new domain gets
 * one qcow2 per disk in its own folder. Pure.
 */
export function planRestore(input: {
  point: Manifest;
  pointDir: string;
  identity: RestoredIdentity;
  /** Today's disks (or the point's, for a domain that is gone), for a replace. */
  owners: OwnerDisk[];
  jobTag: string;
}): RestorePlan {
  const { point, identity, jobTag } = input;
  const disks = point.disks.map((disk): RestoreDiskPlan => {
    const place = identity.kind === 'new' ? newPlace(identity.folder, disk.target) : ownerPlace(input.owners, disk.target);
    return {
      target: disk.target,
      pointFile: join(input.pointDir, disk.file),
      pointFormat: disk.format,
      virtualSize: disk.virtual_size,
      final: place.file,
      format: place.format,
      staged: `${place.file}${STAGED_MARK}${jobTag}`,
      aside: `${place.file}${ASIDE_MARK}${jobTag}`,
    };
  });
  const finals = new Set(disks.map((d) => d.final));
  if (finals.size !== disks.length) throw new UnsupportedDisk(`two disks of backup ${point.backup_id} would be restored to one file`);
  return { backupId: point.backup_id, identity, disks };
}

function newPlace(folder: string, target: string): Omit<OwnerDisk, 'target'> {
  return { file: join(folder, `${target}.qcow2`), format: 'qcow2' };
}

function ownerPlace(owners: OwnerDisk[], target: string): Omit<OwnerDisk, 'target'> {
  const owner = owners.find((o) => o.target === target);
  if (!owner) throw new UnsupportedDisk(`disk ${target} of the point has no file-backed disk to restore to`);
  return owner;
}
