import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ChainRecordStore } from '../backup/snapshot/chain-record.js';
import type { OperationContext } from '../backup/operation-context.js';
import type { ProgressSink } from '../jobs/progress.js';
import { DomainExists, DomainNotFound } from '../errors.js';
import { imageOwnerUid, parseDomainDisks } from '../libvirt/domain-xml.js';
import { isAgentOverlay } from '../backup/snapshot/plan.js';
import type { HypervisorDomain, HypervisorSession } from '../libvirt/hypervisor.js';
import type { PointHolder } from '../tiers/point-holder.js';
import type { OpenedChain } from '../repo/point-lineage.js';
import { openChain } from '../repo/point-lineage.js';
import type { Manifest } from '../repo/point.js';
import { buildDisk, pointLayers } from './build-disk.js';
import { copyInBackground, createOverlay, endRepositoryRead, pendingOf, refuseCopiedForInstant, refuseRawForInstant } from './instant.js';
import type { PendingInstantStore } from './pending-instant.js';
import type { ImageLayer } from '../qemu/qemu-img.js';
import type { RestoreRecord } from './journal-record.js';
import { ownerDisksOf, type OwnerDisk } from './owner-disks.js';
import { planRestore, type RestoredIdentity, type RestorePlan } from './plan.js';
import { prepareFolders } from './prepare-folders.js';
import type { RestoreRequest } from './request.js';
import { restoredDomainXml } from './restore-xml.js';
import { stopDomain } from './stop-domain.js';
import { mapPath, type HostMapping } from '../failover/host-mapping.js';
import { discardStaged, removeReplacedDisks, swapInDisks, swapOutDisks } from './swap-disks.js';

export interface RestoreSettings {
  shutdownGraceMs: number;
  /** The instant restore's background copy rate in MiB/s; 0 is unlimited. */
  instantBandwidthMiBps: number;
  /** restore(target="new") puts each new domain's disks in a folder of its own here. */
  newDomainDir: string;
  /** Another host's paths, bridges and networks as this host names them (a DR node's failover). */
  mapping: HostMapping;
}

export interface RestoreDeps {
  /** The target a point is read from: its tier's, or the fast tier's once brought home from another target. */
  holderOf: PointHolder;
  session: HypervisorSession;
  chains: ChainRecordStore;
  pending: PendingInstantStore;
  settings: RestoreSettings;
}

/** The result of a restore job. */
export interface RestoreResult {
  backup_id: string;
  target: 'replace' | 'new';
  instant: boolean;
  domain: string;
  domain_uuid: string;
  disks: { target: string; file: string; virtual_size: number }[];
  /** Bytes written to the restored disks (their virtual sizes: the flattened point). */
  bytes: number;
  /** From the job's start to the domain running (or defined, when it stays off). */
  time_to_running_ms: number;
  duration_ms: number;
}

/**
 * A restore, normal or instant. Every disk is first staged beside its final path: a
 * normal restore builds and verifies a flattened copy there; an instant one creates an
 * empty overlay over the point. Only then is the domain stopped (a replace of a running
 * domain), the disks swap in (old ones kept aside), and the domain is defined from the
 * point's XML and started. An instant restore then pulls the point into its disks while
 * the guest runs. The old disks go last. The journal record (RestoreRecord) says at each
 * step whether a crash is undone (before the swap) or finished (from the swap on).
 */
export async function runRestore(
  source: { uuid: string; name: string },
  request: RestoreRequest,
  deps: RestoreDeps,
  ctx: OperationContext<RestoreRecord>,
): Promise<RestoreResult> {
  // Bytes move here only for a point another target holds (brought home, or copied here to be read).
  const transfer = { signal: ctx.signal, onBytes: () => ctx.progress.phase('fetching') };
  const repo = await deps.holderOf(source.uuid, request.backupId, transfer);
  if (request.instant) refuseCopiedForInstant(repo);
  const { chain, opened, disks } = await openChain(repo, source.uuid, request.backupId, transfer);
  try {
    return await restoreFromOpened(source, request, { chain, opened, disks }, deps, ctx);
  } finally {
    // An instant restore's domain keeps reading the points: they are the target's own files.
    if (!request.instant) await opened.release();
  }
}

async function restoreFromOpened(
  source: { uuid: string; name: string },
  request: RestoreRequest,
  { chain, opened, disks }: OpenedChain,
  deps: RestoreDeps,
  ctx: OperationContext<RestoreRecord>,
): Promise<RestoreResult> {
  const started = Date.now();
  // The data is chain[0]'s; the definition may be another point's (a failback's home XML).
  const point = request.definitionFrom === null ? chain[0]! : { ...chain[0]!, domain_xml: (await (await deps.holderOf(source.uuid, request.definitionFrom)).getPoint(source.uuid, request.definitionFrom)).domain_xml };
  const live = await lookupOrNull(deps.session, source.uuid);
  const identity = await identityFor(request, source, point, deps);
  const plan = planRestore({
    point,
    pointDir: opened.dirOf(point.backup_id),
    identity,
    owners: identity.kind === 'same' ? (await ownersFor(live, point)).map((o) => ({ ...o, file: mapPath(deps.settings.mapping, o.file) })) : [],
    jobTag: randomUUID().slice(0, 8),
  });
  if (request.instant) refuseRawForInstant(plan);
  const layers = new Map<string, ImageLayer[]>();
  for (const disk of plan.disks) layers.set(disk.target, await pointLayers(disk, disks));
  const wasRunning = live !== null && (await live.runState()) !== 'shutoff';
  const record: RestoreRecord = {
    action: 'restore',
    phase: 'building',
    source_uuid: source.uuid,
    plan,
    instant: request.instant,
    chain: chain.map((m) => m.backup_id),
    xml: restoredDomainXml(point.domain_xml, {
      disks: plan.disks.map((d) => ({
        target: d.target,
        file: d.final,
        format: d.format,
        // libvirt opens exactly these files, labelled for no one (see restore-xml.ts).
        ...(request.instant ? { backing: layers.get(d.target)! } : {}),
      })),
      identity: identity.kind === 'same' ? { kind: 'same' } : identity,
      mapping: deps.settings.mapping,
      // A new domain must not share a writable disk the point left out with the original.
      omitDisks: identity.kind === 'new' ? disksLeftOut(point, plan) : [],
    }),
    // A replaced domain runs again if it ran; one the host lost ran when the point was
    // taken; a new one and an instant restore run, since running is what they are for.
    start: request.instant || identity.kind === 'new' || live === null || wasRunning,
  };
  await ctx.checkpoint(record);
  ctx.progress.setTotal(plan.disks.reduce((sum, d) => sum + d.virtualSize, 0));
  const restoreDeps = { ...deps, log: ctx.log };
  try {
    // An instant restore's overlays take a moment; its copying comes once the domain runs.
    if (!request.instant) ctx.progress.phase('copying');
    await prepareFolders(plan, imageOwnerUid(point.domain_xml));
    for (const disk of plan.disks) {
      const diskLayers = layers.get(disk.target)!;
      if (request.instant) await createOverlay(disk, diskLayers, imageOwnerUid(point.domain_xml));
      else await buildDisk(disk, diskLayers, { signal: ctx.signal, disks, onBytes: (n) => ctx.progress.add(n) });
    }
    if (identity.kind === 'same' && live && wasRunning) {
      await ctx.checkpoint({ ...record, phase: 'stopping' });
      ctx.progress.phase('stopping');
      const how = await stopDomain(live, deps.settings.shutdownGraceMs, ctx);
      ctx.log.info({ how }, 'domain stopped for the restore');
    }
  } catch (err) {
    await rollBack(record, restoreDeps, wasRunning ? live : null);
    throw err;
  }
  const domain = await finishFromSwap(record, restoreDeps, (next) => ctx.checkpoint(next), ctx.progress);
  const runningAt = Date.now();
  if (request.instant) {
    await ctx.checkpoint({ ...record, phase: 'copying' });
    ctx.progress.phase('copying');
    await copyInBackground(domain, pendingOf(record), restoreDeps, ctx);
  }
  await cleanUp(record, deps, (next) => ctx.checkpoint(next));
  return {
    backup_id: point.backup_id,
    target: request.target,
    instant: request.instant,
    domain: domain.name,
    domain_uuid: domain.uuid,
    disks: plan.disks.map((d) => ({ target: d.target, file: d.final, virtual_size: d.virtualSize })),
    bytes: plan.disks.reduce((sum, d) => sum + d.virtualSize, 0),
    time_to_running_ms: runningAt - started,
    duration_ms: Date.now() - started,
  };
}

type Step = (record: RestoreRecord) => Promise<void>;

/**
 * From the swap on, the restore only moves forward: the staged disks are complete and
 * verified. If libvirt refuses the definition, the swap is undone instead, so the domain
 * is never left defined on disks it does not describe. A job reports its phases through
 * `progress`; a recovery has no job to report to.
 */
export async function finishFromSwap(
  record: RestoreRecord,
  deps: RestoreDeps & { log: Logger },
  step: Step,
  progress: Pick<ProgressSink, 'phase'> = { phase: () => undefined },
): Promise<HypervisorDomain> {
  progress.phase('defining');
  await step({ ...record, phase: 'swapping' });
  await swapInDisks(record.plan);
  await step({ ...record, phase: 'defining' });
  // Saved before the domain can first open the repository: from then on its points stay.
  if (record.instant) await deps.pending.save(pendingOf(record));
  let domain: HypervisorDomain;
  try {
    domain = await deps.session.define(record.xml);
  } catch (err) {
    deps.log.error({ err: (err as Error).message }, 'libvirt refused the restored definition; the old disks go back');
    await swapOutDisks(record.plan);
    if (record.instant) {
      await deps.pending.remove(record.plan.identity.uuid);
      await endRepositoryRead(pendingOf(record), deps);
    }
    throw err;
  }
  if (record.start && (await domain.runState()) === 'shutoff') {
    progress.phase('starting');
    await domain.start();
  }
  return domain;
}

/** The last step: old disks and agent overlays go; the snapshot engine's record with them. */
export async function cleanUp(record: RestoreRecord, deps: RestoreDeps, step: Step): Promise<void> {
  await step({ ...record, phase: 'cleaning' });
  const { identity } = record.plan;
  const chain = identity.kind === 'same' ? await deps.chains.load(identity.uuid) : null;
  await removeReplacedDisks(record.plan, chain ? Object.values(chain.disks).map((d) => d.overlay).filter(isAgentOverlay) : []);
  // The disks no longer carry the agent's overlays or bitmaps: the next backup is a full.
  if (identity.kind === 'same') await deps.chains.forget(identity.uuid);
}

/** Before the swap nothing but the staged files changed, and perhaps the domain's power. */
export async function rollBack(
  record: RestoreRecord,
  deps: RestoreDeps & { log: Logger },
  stoppedDomain: HypervisorDomain | null,
): Promise<void> {
  await discardStaged(record.plan);
  if (record.instant) await endRepositoryRead(pendingOf(record), deps);
  if (stoppedDomain && (await stoppedDomain.runState()) === 'shutoff') {
    deps.log.info('starting the domain again: the restore did not replace its disks');
    await stoppedDomain.start();
  }
}

async function identityFor(
  request: RestoreRequest,
  source: { uuid: string; name: string },
  point: Manifest,
  deps: RestoreDeps,
): Promise<RestoredIdentity> {
  if (request.target === 'replace') return { kind: 'same', uuid: source.uuid, name: source.name || point.domain };
  const name = request.newName!;
  if (await lookupOrNull(deps.session, name)) throw new DomainExists(`a domain named ${name} exists already`);
  const uuid = randomUUID();
  return { kind: 'new', name, uuid, folder: join(deps.settings.newDomainDir, `${name}-${uuid.slice(0, 8)}`) };
}

/** The point's writable disks that the point holds no copy of (excluded from its backup). */
function disksLeftOut(point: Manifest, plan: RestorePlan): string[] {
  return parseDomainDisks(point.domain_xml)
    .filter((d) => d.device === 'disk' && !d.readonly && !plan.disks.some((p) => p.target === d.target))
    .map((d) => d.target);
}

/** Today's disks where the domain has them; the point's own for disks it no longer has. */
async function ownersFor(live: HypervisorDomain | null, point: Manifest): Promise<OwnerDisk[]> {
  const today = live ? await ownerDisksOf(await live.xml()) : [];
  const then = await ownerDisksOf(point.domain_xml);
  return [...today, ...then.filter((d) => !today.some((t) => t.target === d.target))];
}

export async function lookupOrNull(session: HypervisorSession, nameOrUuid: string): Promise<HypervisorDomain | null> {
  try {
    return await session.lookup(nameOrUuid);
  } catch (err) {
    if (err instanceof DomainNotFound) return null;
    throw err;
  }
}

export type { RestorePlan };
