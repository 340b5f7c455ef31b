import type { Logger } from 'pino';
import type { OperationContext } from '../backup/operation-context.js';
import { InvalidArgument, PointCorrupt, RestoreIncomplete, UnsupportedDisk } from '../errors.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import { createQcow2, imageInfo, rebaseKeepingContent, type ImageLayer } from '../qemu/qemu-img.js';
import { chainDisks, openChain } from '../repo/point-lineage.js';
import { flatDefinitionXml } from './restore-xml.js';
import { imageOwnerUid, parseDomainDisks } from '../libvirt/domain-xml.js';
import { letQemuRead, revokeQemuRead } from '../repo/qemu-access.js';
import { filesMatch, fractionAsBytes, fsyncInPlace, takeOwnership } from './build-disk.js';
import type { RestoreRecord } from './journal-record.js';
import type { PendingInstantRestore } from './pending-instant.js';
import type { RestoreDiskPlan, RestorePlan } from './plan.js';
import type { RestoreDeps } from './run-restore.js';

/**
 * Instant restore: the domain runs at once on an empty local overlay whose backing chain
 * is the point in the repository (opened read-only by QEMU, never written), and a block
 * pull then copies the point into the overlay while the guest runs and writes. The
 * overlay sits at the disk's final path from the start, so a restart of the domain (by
 * Nova, say) finds the same file and chain, and the guest's writes are in that file
 * whatever happens to the copy. The chain is recorded in the overlay's header (with each
 * layer's format), not in the domain XML, exactly as for a disk Nova made over its base
 * image, so any definition of the domain finds it. Until the pull ends the domain depends on the repository:
 * a PendingInstantRestore says so, and the next start of the agent resumes the copy.
 */

/** A raw disk cannot have a backing file, and its owner (Nova) expects it raw: no overlay. */
export function refuseRawForInstant(plan: RestorePlan): void {
  const raw = plan.disks.find((d) => d.format !== 'qcow2');
  if (raw) {
    throw new UnsupportedDisk(`disk ${raw.target} is ${raw.format} at ${raw.final}; an instant restore needs a qcow2 disk (use a normal restore)`);
  }
}

/**
 * The domain reads the point until its copy ends, so the point must be the target's own
 * files: a target whose points are fetched into a local copy first cannot serve one.
 */
export function refuseCopiedForInstant(repo: Pick<RepositoryTarget, 'opensInPlace' | 'location'>): void {
  if (!repo.opensInPlace) {
    throw new InvalidArgument(`restore(instant=true) needs a repository QEMU can open in place; ${repo.location} is copied to this host first: restore with instant=false`);
  }
}

/** The overlay over the point, at the staged path; QEMU's user may read the point's files. */
export async function createOverlay(disk: RestoreDiskPlan, layers: readonly ImageLayer[], qemuUid: number | null): Promise<void> {
  await letQemuRead(layers.map((l) => l.file), qemuUid);
  await createQcow2(disk.staged, disk.virtualSize, { file: disk.pointFile, format: disk.pointFormat });
  await takeOwnership(disk);
  await fsyncInPlace(disk.staged);
}

export function pendingOf(record: RestoreRecord): PendingInstantRestore {
  return {
    domain_uuid: record.plan.identity.uuid,
    domain_name: record.plan.identity.name,
    source_uuid: record.source_uuid,
    backup_id: record.plan.backupId,
    chain: record.chain,
    plan: record.plan,
    created_at: new Date().toISOString(),
  };
}

/**
 * Pulls the point into each disk while the guest runs, and checks meanwhile that every
 * file read from the repository matches its manifest. A pull already running (the agent
 * restarted while QEMU went on) is followed, not started again. A shut-off domain's disks
 * are flattened offline. Resolves once no disk reads from the repository, and removes the
 * pending record then. A cancel or failure leaves the domain running on its overlay and
 * the record in place: the guest's writes are in the overlay, and a resume finishes.
 */
export async function copyInBackground(
  domain: HypervisorDomain,
  pending: PendingInstantRestore,
  deps: RestoreDeps & { log: Logger },
  ctx: Pick<OperationContext<unknown>, 'signal' | 'progress' | 'log'>,
): Promise<void> {
  const { opened, disks } = await openChain(await deps.holderOf(pending.source_uuid, pending.backup_id), pending.source_uuid, pending.backup_id);
  const [hashes] = await Promise.all([
    filesMatch([...disks.keys()], { signal: ctx.signal, disks }),
    pullAll(domain, pending.plan, deps, ctx),
  ]).finally(() => opened.release());
  // The copy is in the disks; from here they are cut loose from the repository.
  ctx.progress.phase('pivoting');
  const stillBacked = await disksWithBacking(pending.plan);
  if (stillBacked.length > 0) {
    throw new RestoreIncomplete(`disk(s) ${stillBacked.join(', ')} of ${domain.name} still read from the repository after the copy`);
  }
  await defineWithoutBacking(domain, pending.plan, deps);
  // The domain no longer reads the repository, whatever the checksums say.
  await deps.pending.remove(pending.domain_uuid);
  await endRepositoryRead(pending, deps);
  if (hashes !== true) {
    throw new PointCorrupt(
      `${hashes}: the domain runs on a copy of it that may not be exact; the disks it had are kept beside its disks (${pending.plan.disks.map((d) => d.aside).join(', ')})`,
    );
  }
}

async function pullAll(
  domain: HypervisorDomain,
  plan: RestorePlan,
  deps: RestoreDeps,
  ctx: Pick<OperationContext<unknown>, 'signal' | 'progress' | 'log'>,
): Promise<void> {
  if ((await domain.runState()) === 'shutoff') {
    ctx.log.info('the domain is off: its disks are flattened offline');
    for (const disk of plan.disks) await rebaseKeepingContent({ file: disk.final, format: 'qcow2' }, null, { signal: ctx.signal });
    return;
  }
  for (const disk of plan.disks) {
    const progress = fractionAsBytes(disk.virtualSize, (bytes) => ctx.progress.add(bytes));
    await domain.pullBacking(disk.target, {
      bandwidthMiBps: deps.settings.instantBandwidthMiBps,
      signal: ctx.signal,
      onProgress: ({ cur, end }) => progress(end > 0 ? cur / end : 0),
    });
  }
}

/**
 * The definition names the repository chain (so libvirt opens exactly those files, and
 * relabels none of them); a pull clears it from the running domain's definitions, but an
 * offline flatten does not. Either way the persistent definition must name none.
 */
async function defineWithoutBacking(domain: HypervisorDomain, plan: RestorePlan, deps: RestoreDeps): Promise<void> {
  const persistent = await domain.persistentXml();
  const backed = parseDomainDisks(persistent).filter((d) => d.backing.length > 0 && plan.disks.some((p) => p.target === d.target));
  if (backed.length === 0) return;
  await deps.session.define(
    flatDefinitionXml(persistent, plan.disks.map((d) => ({ target: d.target, file: d.final, format: d.format }))),
  );
}

/**
 * QEMU's read access goes from the point files of a restore that no longer reads them
 * (its copy ended, or it was undone), except from those another unfinished instant
 * restore still reads. Call after the restore's own pending record is gone.
 */
export async function endRepositoryRead(
  done: Pick<PendingInstantRestore, 'source_uuid' | 'backup_id' | 'chain'>,
  deps: RestoreDeps & { log: Logger },
): Promise<void> {
  try {
    await revokeFromReleasedPoints(done, deps);
  } catch (err) {
    // Failing here leaves QEMU's user able to read the point, no more: the undo or the
    // copy it follows must still report its own outcome.
    deps.log.warn({ err: (err as Error).message, backup_id: done.backup_id }, 'QEMU keeps read access to the point');
  }
}

async function revokeFromReleasedPoints(done: Pick<PendingInstantRestore, 'source_uuid' | 'backup_id' | 'chain'>, deps: RestoreDeps): Promise<void> {
  const { chain, opened } = await openChain(await deps.holderOf(done.source_uuid, done.backup_id), done.source_uuid, done.backup_id);
  const stillRead = new Set((await deps.pending.list()).filter((r) => r.source_uuid === done.source_uuid).flatMap((r) => r.chain));
  const released = chain.filter((point) => !stillRead.has(point.backup_id));
  const files = [...chainDisks(opened, released).keys()];
  await revokeQemuRead(files, imageOwnerUid(chain[0]!.domain_xml)).finally(() => opened.release());
}

/**
 * The restored disks whose image still names a backing file. The header is the truth:
 * QEMU rewrites it when a pull ends, and it is what a restarted domain opens.
 */
async function disksWithBacking(plan: RestorePlan): Promise<string[]> {
  const backed: string[] = [];
  for (const disk of plan.disks) {
    if ((await imageInfo(disk.final, 'qcow2')).backingFile !== null) backed.push(disk.target);
  }
  return backed;
}
