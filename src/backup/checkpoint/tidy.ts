import type { Logger } from 'pino';
import type { HypervisorDomain } from '../../libvirt/hypervisor.js';
import { listBitmaps } from '../../qemu/qemu-img.js';
import { bitmapOnlyCheckpointXml } from './xml.js';

const AGENT_CHECKPOINT = /^virtdr-\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** Whether a checkpoint or bitmap name is one the agent made; nothing else is ever touched. */
export function isAgentCheckpoint(name: string): boolean {
  return AGENT_CHECKPOINT.test(name);
}

export interface TidyInput {
  domain: HypervisorDomain;
  /** The one checkpoint whose bitmaps the next incremental needs: the newest point's. */
  keep: string | null;
  /** Agent bitmaps that may be in the images without libvirt metadata, each with the disks that may carry it. */
  suspects: Map<string, string[]>;
  log: Logger;
}

/**
 * Leaves the domain as Nova may find it between backups: no libvirt checkpoint metadata
 * of the agent's (Nova undefines without the checkpoint flag, and libvirt refuses that
 * while metadata exists), and exactly one agent bitmap per tracked disk, `keep`'s, which
 * lives in the qcow2 image and survives any restart. Every other agent bitmap goes, so
 * they never pile up. Checkpoints and bitmaps the agent did not create are not touched.
 * Idempotent: the normal path, the failure path and crash recovery all end here.
 */
export async function tidyCheckpoints({ domain, keep, suspects, log }: TidyInput): Promise<void> {
  const withMetadata = (await domain.checkpoints()).filter(isAgentCheckpoint);
  for (const name of withMetadata.filter((n) => n !== keep)) await removeCheckpoint(domain, name, log);
  for (const [name, targets] of suspects) {
    if (name === keep || withMetadata.includes(name) || !isAgentCheckpoint(name)) continue;
    try {
      // No metadata, maybe a bitmap: give libvirt just enough to find and remove it.
      await domain.redefineCheckpoint(bitmapOnlyCheckpointXml(name, targets, Date.now() / 1000), { validate: false });
    } catch (err) {
      log.debug({ checkpoint: name, err: (err as Error).message }, 'no stale bitmap to remove');
      continue;
    }
    await removeCheckpoint(domain, name, log);
  }
  if (keep !== null && withMetadata.includes(keep)) await domain.deleteCheckpoint(keep, { metadataOnly: true });
}

/** Deletes a checkpoint with its bitmaps; when a bitmap is already gone, its metadata alone. */
async function removeCheckpoint(domain: HypervisorDomain, name: string, log: Logger): Promise<void> {
  try {
    await domain.deleteCheckpoint(name, { metadataOnly: false });
    log.info({ checkpoint: name }, 'removed an old checkpoint and its bitmaps');
  } catch (err) {
    log.warn({ checkpoint: name, err: (err as Error).message }, 'bitmap not removable; dropping the checkpoint metadata only');
    await domain.deleteCheckpoint(name, { metadataOnly: true });
  }
}

/** Agent bitmaps each disk image holds, by name, with the disks that hold them. */
export async function bitmapsInImages(disks: { target: string; file: string }[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  for (const disk of disks) {
    for (const name of (await listBitmaps(disk.file)).filter(isAgentCheckpoint)) {
      found.set(name, [...(found.get(name) ?? []), disk.target]);
    }
  }
  return found;
}
