/**
 * The root of every error the agent raises on purpose.
 *
 * `retryable` steers control flow: the job runner and the bus retry only what says so
 * (a dropped AMQP channel), and fail fast on the rest (an unknown domain).
 * The class name is what an oslo failure reply reports as `class`, in module
 * `virt_dr.errors` (shared/PROTOCOL.md), so renaming a subclass is a protocol change.
 */
export abstract class VirtDrError extends Error {
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Structured detail for logs and the `error` field of a job; never holds secrets. */
  toJSON(): { class: string; message: string } {
    return { class: this.name, message: this.message };
  }
}

/** A request the agent refuses because of what it says: wrong types, hostile names. */
export class InvalidArgument extends VirtDrError {
  readonly retryable = false;
}

/** The message could not be parsed at all (not JSON, not an oslo envelope). */
export class MalformedMessage extends VirtDrError {
  readonly retryable = false;
}

/** The caller's API version is newer than ours, or of another major. */
export class UnsupportedVersion extends VirtDrError {
  readonly retryable = false;
}

/** The method is not part of RPC API 1.0. Reported with oslo's own class and module. */
export class NoSuchMethod extends VirtDrError {
  readonly retryable = false;
}

export class DomainNotFound extends VirtDrError {
  readonly retryable = false;
}

export class JobNotFound extends VirtDrError {
  readonly retryable = false;
}

export class BackupNotFound extends VirtDrError {
  readonly retryable = false;
}

/** The operation needs a running (or paused) domain; offline backup is not supported yet. */
export class DomainNotRunning extends VirtDrError {
  readonly retryable = false;
}

/** Another job already holds the domain; at most one job runs per domain. */
export class DomainBusy extends VirtDrError {
  readonly retryable = true;
}

/** The guest agent did not answer and the quiesce policy was `agent`. */
export class GuestAgentUnavailable extends VirtDrError {
  readonly retryable = true;
}

/** A disk the agent cannot back up yet (block or network storage). */
export class UnsupportedDisk extends VirtDrError {
  readonly retryable = false;
}

/** The disk chain is not the one the agent left: an operator's snapshot, a missing overlay. */
export class ChainMismatch extends VirtDrError {
  readonly retryable = false;
}

/**
 * The bitmap an incremental needs did not validate: it is missing (the disk was replaced
 * or converted), or inconsistent (QEMU was killed). mode=auto takes a full instead.
 */
export class CheckpointInvalid extends VirtDrError {
  readonly retryable = false;
}

/** The requested backup engine cannot run on this host (no backup API in libvirt or QEMU). */
export class EngineUnavailable extends VirtDrError {
  readonly retryable = false;
}

/**
 * The requested backup engine is not safe for this domain: the snapshot engine leaves a
 * domain on an overlay Nova did not create, and Nova's next restart would drop it.
 */
export class EngineNotAllowed extends VirtDrError {
  readonly retryable = false;
}

/** libvirt's backup job ended without success (failed or cancelled inside QEMU). */
export class BackupJobFailed extends VirtDrError {
  readonly retryable = true;
}

/**
 * A repository entry the agent does not trust: an unreadable or unknown manifest, a point
 * filed under another domain, a symlink where a folder or file belongs.
 */
export class InvalidRepositoryEntry extends VirtDrError {
  readonly retryable = false;
}

/** A copied file did not read back with the checksum it was written with. */
export class VerificationFailed extends VirtDrError {
  readonly retryable = true;
}

/**
 * A point's stored bytes are not what its manifest says (a checksum or `qemu-img check`
 * failed, or a parent it needs is gone): it cannot be restored exactly.
 */
export class PointCorrupt extends VirtDrError {
  readonly retryable = false;
}

/**
 * A policy file the agent stored cannot be used: damaged on disk, or naming what the
 * configuration no longer has (a removed target). The domain or project is run by no
 * guess in its place; set_policy replaces the file.
 */
export class PolicyCorrupt extends VirtDrError {
  readonly retryable = false;
}

/**
 * A manual backup for a domain whose manual tier is full. Manual points are never pruned
 * automatically, so the tier cannot make room by itself: an operator deletes one, or
 * raises the tier's capacity.
 */
export class TierFull extends VirtDrError {
  readonly retryable = false;
}

/** restore(target="new") to a name that a domain already has. */
export class DomainExists extends VirtDrError {
  readonly retryable = false;
}

/**
 * A point that a running instant restore still reads from (a domain's disk has it as its
 * backing file until the background copy ends): deleting it would pull the disk out from
 * under the guest.
 */
export class BackupInUse extends VirtDrError {
  readonly retryable = true;
}

/**
 * The domain still runs on an instant restore whose copy has not finished: its disk
 * depends on the repository. `restore(..., instant=true, resume=true)` finishes it.
 */
export class RestoreIncomplete extends VirtDrError {
  readonly retryable = false;
}

/**
 * Something the restore did not make is where it would write (a folder or a link at a
 * disk's path, a second old disk): it stops rather than overwrite what it cannot prove
 * is its own.
 */
export class RestoreConflict extends VirtDrError {
  readonly retryable = false;
}

/**
 * A failover of a domain whose home host's agent says it still runs there: two copies of
 * one guest writing to two disks is the split brain a failover must never cause.
 * `force=true` overrides it, for an operator who knows the home copy is fenced.
 */
export class DomainRunningElsewhere extends VirtDrError {
  readonly retryable = false;
}

/** A method of a role this agent does not have (`failover` on a compute-only agent). */
export class RoleMissing extends VirtDrError {
  readonly retryable = false;
}

/** A libvirt call failed; carries libvirt's own code, domain and message. */
export class HypervisorError extends VirtDrError {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly libvirt: { code: number; domain: number; message: string } | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A repository target's SSH host key is not the one its known_hosts file records for it:
 * unknown, changed or revoked. Nothing is written to a host the agent cannot identify.
 */
export class HostKeyRejected extends VirtDrError {
  readonly retryable = false;
}

/**
 * A repository target answered and refused the agent, and will go on refusing until the
 * operator acts: an S3 service rejected its keys, denied access, or has no such bucket.
 */
export class TargetRefused extends VirtDrError {
  readonly retryable = false;
}

/** A repository target cannot be reached: the connection failed, timed out or dropped. */
export class TargetUnreachable extends VirtDrError {
  readonly retryable = true;
}

/**
 * A file operation on a remote repository target failed (permission denied, no space, a
 * refused rename): the target answered, but did not do what was asked.
 */
export class TargetOperationFailed extends VirtDrError {
  readonly retryable = true;
}

/** An external tool (qemu-img) exited non-zero. */
export class ToolFailed extends VirtDrError {
  readonly retryable = false;
}

/** Who cancelled a job: a caller (`cancel_job`), or the agent stopping (SIGTERM). */
export type CancelReason = 'request' | 'shutdown';

/**
 * The job was cancelled. It is the abort reason of the job's AbortController, so any step
 * that stops on the signal rejects with it, and the job's error says who cancelled.
 */
export class JobCancelled extends VirtDrError {
  readonly retryable = false;

  constructor(readonly reason: CancelReason) {
    super(`cancelled by ${reason}`);
  }
}

/** cancel_job on a job that has already finished. */
export class JobNotCancellable extends VirtDrError {
  readonly retryable = false;
}

/**
 * Not a failure of its own: an operation rejects with this when the job failed and the
 * repair of what the job changed on the host failed too. The runner then reports
 * `failure` as the job's error, keeps the job's checkpoint in the journal, and retries the
 * repair (every few minutes, and at each start) until it succeeds.
 */
export class RepairPending extends VirtDrError {
  readonly retryable = false;
  /** What the job reports: its own error, or the repair's when the job had nothing else go wrong. */
  readonly failure: VirtDrError;

  constructor(repairError: unknown, jobError?: unknown) {
    const repair = asVirtDrError(repairError);
    super(`the repair failed (${repair.message}); the agent retries it`, { cause: repairError });
    this.failure = jobError === undefined ? repair : asVirtDrError(jobError);
  }
}

/** The agent stopped (crash, kill, power loss) while the job ran; recovery repaired what it could. */
export class AgentRestarted extends VirtDrError {
  readonly retryable = true;
}

/** Anything we did not anticipate, reported as such rather than as a raw stack. */
export class InternalError extends VirtDrError {
  readonly retryable = false;
}

/** Wraps an unknown thrown value into the VirtDrError the bus and the journal report. */
export function asVirtDrError(err: unknown): VirtDrError {
  if (err instanceof VirtDrError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err });
}
