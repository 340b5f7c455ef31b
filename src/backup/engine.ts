import type { Logger } from 'pino';
import { HypervisorError, RepairPending, TargetUnreachable } from '../errors.js';
import type { DomainDisk } from '../libvirt/domain-xml.js';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { EngineName, Manifest } from '../repo/point.js';
import type { BackupPlaces, PointPlacement } from './placement.js';
import type { OperationContext } from './operation-context.js';
import { sleep } from '../util/abortable-sleep.js';
import type { QuiesceSettings } from './quiesce.js';
import type { BackupRequest } from './request.js';
import type { BackupDisk } from './select-disks.js';

export type { EngineName };

export interface BackupSettings extends QuiesceSettings {
  bandwidthBytesPerSecond: number;
  /** This agent's host name, recorded in each point as where the domain ran. */
  host: string;
}

/** What either engine gets for one backup, after the shared preflight. */
export interface EngineInput {
  request: BackupRequest;
  domain: HypervisorDomain;
  /** The live XML the preflight read; it goes into the manifest. */
  domainXml: string;
  /** Every disk of the domain, and the ones this backup takes. */
  allDisks: DomainDisk[];
  disks: BackupDisk[];
  /** Where the point goes: its tier's target. */
  placement: PointPlacement;
  /** The newest point of the domain's scheduled chain: the parent of an incremental, and the bitmap that stays. */
  latest: Manifest | null;
  /** Set: a full for this reason even where an incremental would be possible (the chain reached its length). */
  fullBecause: string | null;
  /**
   * A manual point: a self-contained full outside the chain. It builds on nothing and
   * nothing builds on it, so it leaves the chain's bitmap in place and creates none.
   */
  standalone: boolean;
  backupId: string;
  now: () => Date;
}

/** What an engine's recovery gets: the domain (null when it is gone) and a deadline. */
export interface RecoveryInput {
  domain: HypervisorDomain | null;
  log: Logger;
  signal: AbortSignal;
}

/**
 * A way of taking a consistent backup point. Both engines write the same repository
 * format (a full, then qcow2 overlays relinked onto the parent point's file) and the same
 * manifest, so the job, the repository and the notifications do not care which one ran.
 *
 * - `run` takes one backup and publishes its point; before it returns or throws, the
 *   domain and the repository are in the one consistent state its journal record implies.
 * - `recover` does the same from the journal record a crash left.
 */
export interface BackupEngine<Record extends EngineJournalRecord = EngineJournalRecord> {
  readonly name: EngineName;
  run(input: EngineInput, ctx: OperationContext<Record>): Promise<Manifest>;
  recover(record: Record, input: RecoveryInput): Promise<{ pointPublished: boolean }>;
}

/** The fields every engine's journal record has: which engine, which point, how the guest was stopped. */
export interface EngineJournalRecord {
  engine: EngineName;
  domain_uuid: string;
  backup_id: string;
  /** The target the point is published on; records from before tiers have none (the primary). */
  target?: string;
  /** How the guest was stopped, so recovery thaws or resumes it. */
  stopped_by: 'agent' | 'suspend' | null;
  /**
   * A guest-agent freeze was asked for, even when the guest was then paused instead
   * (quiesce=auto fell back to suspend and `stopped_by` says 'suspend'). A freeze that
   * timed out may still land in the guest later, and the thaw guard that would undo it
   * lives only in the process that asked; so crash recovery hands the domain to its own
   * thaw guard whenever this is set.
   */
  freeze_requested: boolean;
}

/** Whether a guest-agent freeze was asked for, so the guest may be (or become) frozen. */
export function freezeMayLinger(record: EngineJournalRecord): boolean {
  return record.stopped_by === 'agent' || record.freeze_requested;
}

/**
 * The callback withConsistentPoint awaits before it freezes or pauses the guest: the
 * journal says how the guest is about to be stopped before it is, so a crash in between
 * is repaired. A freeze asked for stays recorded when quiesce=auto then falls back to
 * suspend: the failed freeze may still land late.
 */
export function journalGuestStop<R extends EngineJournalRecord>(
  record: R,
  ctx: OperationContext<R>,
): (method: 'agent' | 'suspend') => Promise<void> {
  return async (method) => {
    record.stopped_by = method;
    if (method === 'agent') record.freeze_requested = true;
    await ctx.checkpoint(record);
  };
}

/**
 * The frame of every engine's backup: `take` stages and verifies the point and returns its
 * manifest; the repository publishes it (manifest last, one rename); the journal record
 * moves to `publishedPhase`; then `settle` tidies the domain. A failure before the point is published runs
 * `settle` as the repair (the function crash recovery runs) and rethrows the backup's own
 * error. A repair that cannot reach libvirt is run again (repairWhileUnreachable); one
 * that fails for good, on either path, rejects with RepairPending, so the runner keeps
 * the journal record and retries it.
 */
export async function takeAndPublish<R extends EngineJournalRecord & { phase: string }>(
  take: () => Promise<Manifest>,
  steps: {
    repo: RepositoryTarget;
    record: R;
    ctx: OperationContext<R>;
    publishedPhase: R['phase'];
    settle: () => Promise<unknown>;
  },
): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = await take();
    await steps.repo.publishPoint(manifest, steps.repo.stagingFolder(manifest.domain_uuid, manifest.backup_id), { signal: steps.ctx.signal });
  } catch (err) {
    steps.ctx.log.warn({ err: (err as Error).message }, 'backup failed; repairing the domain and the repository');
    await repairWhileUnreachable(steps.settle, steps.ctx.log).catch((repairErr: unknown) => {
      throw new RepairPending(repairErr, err);
    });
    throw err;
  }
  steps.record.phase = steps.publishedPhase;
  await steps.ctx.checkpoint(steps.record);
  await repairWhileUnreachable(steps.settle, steps.ctx.log).catch((repairErr: unknown) => {
    throw new RepairPending(repairErr);
  });
  return manifest;
}

/** The longest a repair may take; it gets its own deadline, since the job's signal may be what failed it. */
export const REPAIR_DEADLINE_MS = 30 * 60_000;
/** Pauses between repairs that could not reach libvirt: 1 s, doubling up to a minute. */
export const FIRST_REPAIR_RETRY_MS = 1000;
export const LONGEST_REPAIR_RETRY_MS = 60_000;

/**
 * Runs a repair, and runs it again while it fails only because libvirt or the repository
 * target could not be reached: libvirtd stayed away longer than the reconnect timeout, a
 * call with a side effect (a commit, an abort) lost its connection, or a remote target
 * (SSH, S3) does not answer, so whether the point was published is unknown. Repeating is
 * safe because a repair reads the domain's and the target's state before it changes
 * anything. It gives up at REPAIR_DEADLINE_MS with the last error, and the job runner
 * keeps the repair pending from there.
 */
export async function repairWhileUnreachable<T>(
  repair: () => Promise<T>,
  log: Logger,
  deadline: AbortSignal = AbortSignal.timeout(REPAIR_DEADLINE_MS),
): Promise<T> {
  for (let pause = FIRST_REPAIR_RETRY_MS; ; pause = Math.min(pause * 2, LONGEST_REPAIR_RETRY_MS)) {
    try {
      return await repair();
    } catch (err) {
      const unreachable = (err instanceof HypervisorError && err.retryable) || err instanceof TargetUnreachable;
      if (!unreachable || deadline.aborted) throw err;
      log.warn({ err: err.message, retry_in_ms: pause }, `the repair could not reach ${err instanceof TargetUnreachable ? 'the repository target' : 'libvirt'}; retrying`);
      await sleep(pause, deadline).catch(() => {
        throw err;
      });
    }
  }
}

/** What both engines need besides the domain: where points go, and the settings. */
export interface EngineDeps {
  places: BackupPlaces;
  settings: BackupSettings;
}
