import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { imageInfo, relinkBacking } from '../../qemu/qemu-img.js';
import type { PointDisk } from '../../repo/point.js';
import { flushAndHash } from '../snapshot/copy-disk.js';
import type { CheckpointPlan } from './plan.js';

/**
 * Turns the files QEMU wrote into a point's disks: each incremental is relinked onto the
 * parent point's file by a relative path (so the repository format is the snapshot
 * engine's, and any point opens with plain qemu-img), then every file is made durable and
 * read back for the sha256 the manifest records.
 */
export async function sealDisks(plan: CheckpointPlan, staging: string, signal: AbortSignal): Promise<PointDisk[]> {
  const sealed: PointDisk[] = [];
  for (const disk of plan.disks) {
    const file = join(staging, disk.pointFile);
    const parentFile = disk.incremental ? plan.parent?.files[disk.target] : undefined;
    if (parentFile) {
      await relinkBacking({ file, format: 'qcow2' }, { file: `../${plan.parent!.backupId}/${parentFile.file}`, format: parentFile.format });
    }
    const sha256 = await flushAndHash(file, signal);
    const [info, { size }] = await Promise.all([imageInfo(file, 'qcow2'), stat(file)]);
    sealed.push({ target: disk.target, file: disk.pointFile, format: 'qcow2', virtual_size: info.virtualSize, size, sha256 });
  }
  return sealed;
}
