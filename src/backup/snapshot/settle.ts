import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parseDomainDisks } from '../../libvirt/domain-xml.js';
import type { HypervisorDomain } from '../../libvirt/hypervisor.js';
import type { RepositoryTarget } from '../../repo/target.js';
import { sleep } from '../../util/abortable-sleep.js';
import type { SnapshotRecord } from './journal-record.js';
import type { ChainRecordStore } from './chain-record.js';
import { isAgentOverlay } from './plan.js';
import { releaseGuest } from '../release-guest.js';

export interface SettleDeps {
  /** Null when the domain no longer exists: only the repository is tidied then. */
  domain: HypervisorDomain | null;
  repo: RepositoryTarget;
  chains: ChainRecordStore;
  log: Logger;
  signal: AbortSignal;
}

/**
 * Brings a domain's disks and the repository into the one consistent state a checkpoint
 * implies, whichever step the backup reached. It is the end of every backup: the normal
 * path, the failure path and crash recovery at start-up all call it, so they cannot drift.
 *
 * - The point was published: merge each frozen agent overlay into the layer below, delete
 *   it, and record the new overlays as the chain to follow.
 * - The point was not published: the backup never happened. Merge each new overlay back
 *   into the layer it froze (active commit with pivot), so the chain is exactly what the
 *   last good backup left and the next incremental stays correct.
 *
 * Only files named as agent overlays are ever deleted.
 */
export async function settleBackup(checkpoint: SnapshotRecord, deps: SettleDeps): Promise<{ pointPublished: boolean }> {
  const { domain, repo, chains, log, signal } = deps;
  if (domain) await releaseGuest(checkpoint, domain, log);
  const pointPublished = await repo.hasPoint(checkpoint.domain_uuid, checkpoint.backup_id);

  if (domain) {
    for (const disk of checkpoint.disks) {
      const layers = await diskLayers(domain, disk.target);
      if (!layers) continue;
      await waitForNoBlockJob(domain, disk.target, signal);
      let leftOver: string | null = null;
      if (pointPublished) {
        if (disk.commit && layers.includes(disk.commit.top)) {
          log.info({ disk: disk.target, top: disk.commit.top, base: disk.commit.base }, 'merging frozen overlay');
          await domain.commitIntermediate(disk.target, disk.commit.base, disk.commit.top, { signal });
        }
        leftOver = disk.commit?.top ?? null;
      } else {
        if (layers[0] === disk.overlay) {
          log.info({ disk: disk.target, overlay: disk.overlay }, 'undoing snapshot: merging new overlay back');
          await domain.commitActive(disk.target, { signal });
        }
        leftOver = disk.overlay;
      }
      if (leftOver !== null) await removeUnusedOverlay(domain, disk.target, leftOver, log);
    }
  }

  if (pointPublished) {
    // A disk left out of this backup (exclude_disks) keeps its record: its agent overlay
    // is still on the disk, and a later backup that includes the disk again must know the
    // overlay as the agent's own, to merge it rather than stack another on top.
    const previous = await chains.load(checkpoint.domain_uuid);
    await chains.save({
      domain_uuid: checkpoint.domain_uuid,
      last_backup_id: checkpoint.backup_id,
      disks: {
        ...previous?.disks,
        ...Object.fromEntries(
          checkpoint.disks.map((d) => [d.target, { overlay: d.overlay, base: d.commit?.base ?? d.frozen }]),
        ),
      },
    });
  }
  await repo.discardPartial(checkpoint.domain_uuid, checkpoint.backup_id);
  return { pointPublished };
}

/** The disk's files from the active layer down, or null when the disk is gone. */
export async function diskLayers(domain: HypervisorDomain, target: string): Promise<(string | null)[] | null> {
  const disk = parseDomainDisks(await domain.xml()).find((d) => d.target === target);
  return disk ? [disk.source.file, ...disk.backing.map((l) => l.file)] : null;
}

/** A block job left by an earlier run (the agent died mid-commit) finishes first. */
async function waitForNoBlockJob(domain: HypervisorDomain, target: string, signal: AbortSignal): Promise<void> {
  while ((await domain.blockJob(target)) !== null) await sleep(250, signal);
}

/** Deletes an overlay once no layer of the disk uses it, and only if the agent named it. */
export async function removeUnusedOverlay(domain: HypervisorDomain, target: string, path: string, log: Logger): Promise<void> {
  if (!isAgentOverlay(path)) {
    log.error({ path }, 'refusing to delete a file the agent did not create');
    return;
  }
  if ((await diskLayers(domain, target))?.includes(path)) {
    log.error({ path }, 'overlay is still part of the disk chain; leaving it');
    return;
  }
  await rm(path, { force: true });
}
