import type { Logger } from 'pino';
import type { HypervisorDomain } from '../../libvirt/hypervisor.js';
import type { ChainRecordStore } from './chain-record.js';
import { isAgentOverlay } from './plan.js';
import type { BackupDisk } from '../select-disks.js';
import { removeUnusedOverlay } from './settle.js';

/**
 * Moves a domain off the overlays an earlier snapshot-engine backup left on it, before
 * the checkpoint engine takes over: each agent overlay that is a disk's active layer is
 * merged into the layer below (active commit with pivot) and deleted, so the domain runs
 * on its owner's files again (for a Nova instance, before Nova's next restart drops the
 * overlay). Returns whether any disk changed. Layers the agent did not name are never
 * touched.
 */
export async function leaveAgentOverlays(
  domain: HypervisorDomain,
  disks: BackupDisk[],
  chains: ChainRecordStore,
  log: Logger,
  signal: AbortSignal,
): Promise<boolean> {
  const onOverlay = disks.filter((d) => isAgentOverlay(d.file) && d.backing.length > 0);
  for (const disk of onOverlay) {
    log.info({ disk: disk.target, overlay: disk.file }, 'merging the snapshot engine overlay back into the disk');
    await domain.commitActive(disk.target, { signal });
    await removeUnusedOverlay(domain, disk.target, disk.file, log);
  }
  if (onOverlay.length > 0) await chains.forget(domain.uuid);
  return onOverlay.length > 0;
}
