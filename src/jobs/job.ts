import { JobCancelled, RepairPending, asVirtDrError } from '../errors.js';

/** A job's life, as the protocol names it. Only `queued` and `running` are unfinished. */
export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Actions have notification families of their own: virt_dr.<action>.start|progress|end|error. */
export const JOB_ACTIONS = ['backup', 'restore', 'verify', 'delete', 'failover', 'failback', 'prune'] as const;
export type JobAction = (typeof JOB_ACTIONS)[number];

/**
 * The steps of a job an operator waits through, in one closed vocabulary for every
 * action; which action passes through which, in what order, is in docs/ARCHITECTURE.md
 * ("Job phases"). An action without steps of its own (backup, verify, ...) has none.
 * - `fetching`: the point is brought to this host from the target that holds it.
 * - `copying`: disk data moves (a restore's disks are built; an instant restore's are
 *   pulled from the point while the guest runs; a failback's backup of the running copy).
 * - `stopping`: a domain is shut down (the one a restore replaces; failback's DR copy).
 * - `defining`: the restored disks move into place and the domain is defined.
 * - `starting`: the domain is started.
 * - `pivoting`: an instant restore's disks stop reading the repository: the pull ended,
 *   and the definition and QEMU's access no longer name the point.
 * - `syncing`: failback's DR copy is paused and what it wrote last is backed up.
 * - `handing_over`: failback waits for the home host to restore and start the domain.
 */
export const JOB_PHASES = ['fetching', 'copying', 'stopping', 'defining', 'starting', 'pivoting', 'syncing', 'handing_over'] as const;
export type JobPhase = (typeof JOB_PHASES)[number];

export interface JobProgress {
  bytes_done: number;
  bytes_total: number;
  /** The step the job is in; null before its first, and for an action without steps. */
  phase: JobPhase | null;
}

/**
 * A job as the journal keeps it: the protocol's job object plus what the agent needs to
 * run it again (request) or repair after a crash (checkpoint).
 */
export interface JobRecord {
  job_id: string;
  action: JobAction;
  /** The domain as the caller named it. */
  domain: string;
  domain_uuid: string;
  domain_name: string;
  state: JobState;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: JobProgress;
  result: unknown;
  error: { class: string; message: string } | null;
  request: {
    args: Record<string, unknown>;
    context: Record<string, unknown>;
    request_id: string | null;
    unique_id: string | null;
  };
  /** Recovery detail written by the operation before each step that changes the host. */
  checkpoint: unknown;
  /**
   * The job has finished but its repair has not: `checkpoint` is kept, the domain takes
   * no new job, and the runner retries the repair at every start until it succeeds.
   */
  repair_pending: boolean;
}

export type PublicJob = Omit<JobRecord, 'request' | 'checkpoint' | 'repair_pending'>;

/** The job object of the protocol: what get_job, list_jobs and `wait: true` return. */
export function publicJob(job: JobRecord): PublicJob {
  const { request: _request, checkpoint: _checkpoint, repair_pending: _repairPending, ...visible } = job;
  return visible;
}

export function isFinished(state: JobState): boolean {
  return state !== 'queued' && state !== 'running';
}

/**
 * Sets a failed job's state and error. A job whose signal was aborted is `cancelled`, by
 * the abort's reason, whatever error the abort surfaced as; a RepairPending reports the
 * job's own failure and marks the record so its checkpoint is kept.
 */
export function recordFailure(job: JobRecord, err: unknown, signal: AbortSignal): void {
  const failure = err instanceof RepairPending ? err.failure : asVirtDrError(err);
  const cancelled =
    signal.aborted && signal.reason instanceof JobCancelled ? signal.reason : failure instanceof JobCancelled ? failure : null;
  const reported = (cancelled ?? failure).toJSON();
  job.state = cancelled ? 'cancelled' : 'failed';
  job.repair_pending = err instanceof RepairPending;
  job.error = err instanceof RepairPending ? { ...reported, message: `${reported.message}; ${err.message}` } : reported;
}
