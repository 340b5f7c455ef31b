import type { Logger } from 'pino';
import type { HypervisorDomain } from '../../libvirt/hypervisor.js';
import type { Manifest } from '../../repo/point.js';
import type { RepositoryTarget } from '../../repo/target.js';
import { releaseGuest } from '../release-guest.js';
import { abortBackupJob } from './backup-job.js';
import type { CheckpointRecord } from './engine.js';
import { bitmapsInImages, tidyCheckpoints } from './tidy.js';

export interface CheckpointSettleDeps {
  /** Null when the domain no longer exists: only the repository is tidied then. */
  domain: HypervisorDomain | null;
  /** The target the record's point is published on. */
  repo: RepositoryTarget;
  /** The newest point of the domain's scheduled chain: its checkpoint's bitmap is the one that stays. */
  chainHead: () => Promise<Manifest | null>;
  log: Logger;
  signal: AbortSignal;
}

/**
 * Brings the domain and the repository into the one consistent state a journal record
 * implies, whichever step the backup reached; the end of every checkpoint-engine backup,
 * its failure path and crash recovery.
 *
 * - The guest is thawed or resumed.
 * - A backup job still writing into this job's staging folder is aborted (a job that
 *   writes elsewhere is someone else's and is left alone).
 * - The newest point of the scheduled chain decides which bitmap stays: its checkpoint's
 *   (a manual point is outside the chain and creates no bitmap). Every other
 *   agent bitmap this backup knows of (its own new one when unpublished, the previous
 *   point's when superseded, stale ones in the images) is removed, and no agent
 *   checkpoint metadata is left.
 * - The staging folder is discarded.
 */
export async function settleCheckpointBackup(
  record: CheckpointRecord,
  deps: CheckpointSettleDeps,
): Promise<{ pointPublished: boolean }> {
  const { domain, repo, chainHead, log, signal } = deps;
  // The guest first: a remote target that does not answer must not keep it frozen.
  if (domain) await releaseGuest(record, domain, log);
  const pointPublished = await repo.hasPoint(record.domain_uuid, record.backup_id);
  if (domain) {
    if (record.phase === 'copying' && (await writesInto(domain, record.staging))) {
      log.warn({ staging: record.staging }, 'aborting the backup job this backup left running');
      await abortBackupJob(domain, signal);
    }
    const latest = await chainHead();
    const keep = latest?.engine === 'checkpoint' ? (latest.checkpoint?.name ?? null) : null;
    const suspects = await bitmapsInImages(record.tracked).catch((err: Error) => {
      log.warn({ err: err.message }, 'could not list the bitmaps in the images');
      return new Map<string, string[]>();
    });
    const targets = record.tracked.map((d) => d.target);
    for (const name of [record.checkpoint, record.previous_checkpoint]) {
      if (name !== null && !suspects.has(name)) suspects.set(name, targets);
    }
    await tidyCheckpoints({ domain, keep, suspects, log });
  }
  await repo.discardPartial(record.domain_uuid, record.backup_id);
  return { pointPublished };
}

/** Whether the domain's running backup job writes into `staging` (so it is this backup's). */
async function writesInto(domain: HypervisorDomain, staging: string): Promise<boolean> {
  const xml = await domain.backupJobXml();
  return xml !== null && xml.includes(`file='${staging}/`);
}
