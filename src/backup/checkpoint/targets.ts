import { join } from 'node:path';
import { createQcow2, imageInfo } from '../../qemu/qemu-img.js';
import type { CheckpointPlan } from './plan.js';

/**
 * The files QEMU writes into: empty qcow2 images of each disk's size, made before the
 * guest is frozen. Left to libvirt, creating them (a file and a format job per disk) runs
 * inside virDomainBackupBegin, and so inside the freeze; with them in place libvirt is
 * told to reuse them (VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL).
 */
export async function createTargets(plan: CheckpointPlan, staging: string): Promise<void> {
  for (const disk of plan.disks) {
    const { virtualSize } = await imageInfo(disk.source, disk.sourceFormat);
    await createQcow2(join(staging, disk.pointFile), virtualSize);
  }
}
