import type { Logger } from 'pino';
import {
  AgentRestarted,
  DomainBusy,
  JobCancelled,
  JobNotCancellable,
  JobNotFound,
  type CancelReason,
} from '../errors.js';
import { jobLogger } from '../log.js';
import { newJobId } from '../util/ids.js';
import { every, type Periodic } from '../util/periodic.js';
import { isFinished, recordFailure, type JobAction, type JobRecord, type JobState } from './job.js';
import type { JobJournal } from './journal.js';
import { ProgressTracker, type ProgressReport, type ProgressSink } from './progress.js';

const PRUNE_BATCH = 50;
/** How often a running agent retries the repairs left pending (a start retries them too). */
export const REPAIR_RETRY_MS = 5 * 60_000;

/** What an operation gets to run with; see OperationContext in backup/run-backup.ts. */
export interface JobContext {
  log: Logger;
  signal: AbortSignal;
  progress: ProgressSink;
  checkpoint(detail: unknown): Promise<void>;
}

/**
 * What an action does, as the runner sees it: two calls.
 *
 * - `run` does the job and resolves with its result. It stops early when `ctx.signal`
 *   aborts; the abort reason is a JobCancelled naming who cancelled. It rejects with the
 *   job's error, or with RepairPending when the job failed and repairing what it changed
 *   on the host failed too: the runner then keeps the last checkpoint in the journal,
 *   marked `repair_pending`, and the domain takes no new job until `recover` succeeds.
 * - `recover` repairs what the job left, from its last checkpoint (thaw, resume, chain,
 *   partial files): after a crash interrupted the job, and at each start while a repair
 *   is pending. It must be safe to repeat. It resolves with a sentence for the job's error
 *   message, and rejects when the repair failed (it is then retried every repairRetryMs and
 *   at each start).
 */
export interface JobOperation {
  run(job: JobRecord, ctx: JobContext): Promise<unknown>;
  recover(job: JobRecord, log: Logger): Promise<string>;
}

/** Where job lifecycle events go: the notifier, in the agent. */
export interface JobEvents {
  started(job: JobRecord): void;
  progressed(job: JobRecord, report: ProgressReport): void;
  finished(job: JobRecord): void;
}

export interface JobSubmission {
  action: JobAction;
  domain: { requested: string; uuid: string; name: string };
  args: Record<string, unknown>;
  context: Record<string, unknown>;
  requestId: string | null;
  uniqueId: string | null;
}

export interface JobRunnerOptions {
  journal: JobJournal;
  operations: Record<JobAction, JobOperation>;
  events: JobEvents;
  log: Logger;
  concurrency: number;
  keepFinished: number;
  progressIntervalMs: number;
  /** Default REPAIR_RETRY_MS. */
  repairRetryMs?: number;
}

/**
 * Accepts, schedules and tracks jobs. A job is journaled before `submit` resolves; at
 * most one unfinished job exists per domain; at most `concurrency` run at once, taken
 * from a FIFO queue. Each running job owns an AbortController, aborted with a typed
 * JobCancelled on `cancel` (reason `request`) or `stop` (reason `shutdown`). After
 * `stop` no queued job starts: it stays queued in the journal and runs after the next start.
 */
export class JobRunner {
  private readonly jobs = new Map<string, JobRecord>();
  /** Per domain, the job that holds it: an unfinished one, or one whose repair is pending. */
  private readonly claims = new Map<string, string>();
  private readonly queue: JobRecord[] = [];
  private readonly controllers = new Map<string, AbortController>();
  private readonly waiters = new Map<string, ((job: JobRecord) => void)[]>();
  /** Jobs whose final state is set but not yet journaled: their waiters wait for the write. */
  private readonly finishing = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private repairRetries: Periodic | null = null;
  /** The last `created_at` given, in ms: each job's is later, so the journal's order is the order of submission. */
  private lastCreatedMs = 0;

  constructor(private readonly options: JobRunnerOptions) {}

  /**
   * Loads the journal (quarantining what does not parse); repairs and fails the jobs a
   * crash interrupted; retries the repairs still pending; queues again the jobs that were
   * accepted but never started.
   */
  async start(): Promise<void> {
    const { journal, log } = this.options;
    await journal.open();
    const jobs = await journal.loadAll(({ file, problem, movedTo }) =>
      log.error({ file, problem, quarantined_as: movedTo }, movedTo ? 'journal entry quarantined' : 'journal entry skipped'),
    );
    for (const job of jobs) {
      this.jobs.set(job.job_id, job);
      if (!isFinished(job.state) || job.repair_pending) this.claimAtStart(job);
    }
    const pendingRepairs = jobs.filter((j) => isFinished(j.state) && j.repair_pending);
    for (const job of jobs.filter((j) => j.state === 'running')) await this.recoverInterrupted(job);
    for (const job of pendingRepairs) await this.retryRepair(job);
    for (const job of jobs.filter((j) => j.state === 'queued')) {
      if (this.claims.get(job.domain_uuid) !== job.job_id) {
        await this.refuseAtStart(job);
        continue;
      }
      this.loggerFor(job).info('requeueing a job accepted before the restart');
      this.queue.push(job);
    }
    this.pump();
    await this.prune();
    // A domain whose repair is pending takes no job, so waiting for the next start could
    // hold it for weeks; libvirtd that came back after the job's own retries gave up is
    // the usual case.
    this.repairRetries = every(this.options.repairRetryMs ?? REPAIR_RETRY_MS, () => this.retryPendingRepairs());
  }

  /**
   * Throws DomainBusy when the domain has an unfinished job or a pending repair, unless
   * the request is a redelivery (submit then hands back the job it made). Lets a request
   * be refused before its slower checks run; submit checks again, since the answer can
   * change meanwhile.
   */
  assertCanAccept(domain: { uuid: string; name: string }, uniqueId: string | null): void {
    if (uniqueId && this.findByUniqueId(uniqueId)) return;
    const holder = this.claims.get(domain.uuid);
    if (!holder) return;
    const other = this.jobs.get(holder);
    if (other?.repair_pending) {
      throw new DomainBusy(
        `domain ${domain.name} has a repair pending from job ${holder} (${other.action}); the agent retries it`,
      );
    }
    throw new DomainBusy(
      `domain ${domain.name} already has job ${holder} (${other?.action ?? 'unknown'}, ${other?.state ?? 'unknown'}); one job per domain at a time`,
    );
  }

  async submit(submission: JobSubmission): Promise<JobRecord> {
    const redelivered = submission.uniqueId ? this.findByUniqueId(submission.uniqueId) : undefined;
    if (redelivered) return redelivered;
    this.assertCanAccept(submission.domain, null);
    const job: JobRecord = {
      job_id: newJobId(),
      action: submission.action,
      domain: submission.domain.requested,
      domain_uuid: submission.domain.uuid,
      domain_name: submission.domain.name,
      state: 'queued',
      created_at: this.nextCreatedAt(),
      started_at: null,
      finished_at: null,
      progress: { bytes_done: 0, bytes_total: 0, phase: null },
      result: null,
      error: null,
      request: {
        args: submission.args,
        context: submission.context,
        request_id: submission.requestId,
        unique_id: submission.uniqueId,
      },
      checkpoint: null,
      repair_pending: false,
    };
    // Claimed before the first await, so two requests racing for one domain cannot both win.
    this.claims.set(job.domain_uuid, job.job_id);
    try {
      await this.options.journal.save(job);
    } catch (err) {
      this.claims.delete(job.domain_uuid);
      throw err;
    }
    this.jobs.set(job.job_id, job);
    this.queue.push(job);
    this.pump();
    return job;
  }

  /** Now, or a millisecond after the previous job's when two arrive within one. */
  private nextCreatedAt(): string {
    this.lastCreatedMs = Math.max(Date.now(), this.lastCreatedMs + 1);
    return new Date(this.lastCreatedMs).toISOString();
  }

  get(jobId: string): JobRecord {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(`no job ${jobId}`);
    return job;
  }

  list(state: JobState | null): JobRecord[] {
    return [...this.jobs.values()].filter((j) => state === null || j.state === state);
  }

  /** Resolves with the job once it has finished and is journaled so, whatever its outcome. */
  waitFor(jobId: string): Promise<JobRecord> {
    const job = this.get(jobId);
    if (isFinished(job.state) && !this.finishing.has(jobId)) return Promise.resolve(job);
    return new Promise((resolve) => this.waiters.set(jobId, [...(this.waiters.get(jobId) ?? []), resolve]));
  }

  /**
   * Cancels a job by request. A queued job leaves the queue and is finished as cancelled
   * without running. A running job's signal is aborted: it ends as cancelled once its
   * operation has undone what it started (for a backup: thaw, merge the new overlay back).
   * Returns the job as it is now. JobNotFound for an unknown id, JobNotCancellable when
   * the job has already finished.
   */
  async cancel(jobId: string): Promise<JobRecord> {
    const job = this.get(jobId);
    if (job.state === 'queued') {
      const at = this.queue.indexOf(job);
      if (at >= 0) this.queue.splice(at, 1);
      const log = this.loggerFor(job);
      job.state = 'cancelled';
      job.error = new JobCancelled('request').toJSON();
      log.info('queued job cancelled before it started');
      await this.finish(job, log);
      return job;
    }
    const controller = this.controllers.get(job.job_id);
    if (job.state === 'running' && controller) {
      this.abort(controller, 'request');
      this.loggerFor(job).info('running job cancelled; it stops at its next step');
      return job;
    }
    throw new JobNotCancellable(`job ${jobId} has already finished (${job.state}); only queued and running jobs can be cancelled`);
  }

  /**
   * Starts no further job, aborts the running ones (their failure paths repair the host)
   * and waits for them up to the deadline. Queued jobs stay queued, in memory and in the
   * journal, so the next start runs them: a job that started now could freeze a guest
   * on the agent's way down.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.queue.length > 0) this.options.log.info({ queued: this.queue.length }, 'queued jobs stay queued until the next start');
    for (const controller of this.controllers.values()) this.abort(controller, 'shutdown');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise((resolve) => (timer = setTimeout(resolve, deadlineMs)));
    await Promise.race([Promise.allSettled([...this.running, this.repairRetries?.stop()]), deadline]);
    clearTimeout(timer);
  }

  private abort(controller: AbortController, reason: CancelReason): void {
    // The first reason wins: a job cancelled by request stays so when shutdown follows.
    if (!controller.signal.aborted) controller.abort(new JobCancelled(reason));
  }

  /** Starts queued jobs, oldest first, while slots are free and the runner is not stopping. */
  private pump(): void {
    while (!this.stopping && this.controllers.size < Math.max(1, this.options.concurrency)) {
      const job = this.queue.shift();
      if (!job) return;
      const run = this.execute(job)
        .catch((err: Error) => this.options.log.error({ job_id: job.job_id, err: err.message }, 'job bookkeeping failed'))
        .finally(() => {
          this.running.delete(run);
          this.pump();
        });
      this.running.add(run);
    }
  }

  private async execute(job: JobRecord): Promise<void> {
    // Everything up to the first await runs at once, so a job leaves the queue and shows
    // as running (with its controller, which holds its slot) in one step.
    const controller = new AbortController();
    this.controllers.set(job.job_id, controller);
    job.state = 'running';
    job.started_at = new Date().toISOString();
    const log = this.loggerFor(job);
    const tracker = new ProgressTracker(this.options.progressIntervalMs, Date.now, (report) => {
      job.progress = { bytes_done: report.bytes_done, bytes_total: report.bytes_total, phase: report.phase };
      // Saved first, emitted second: a listener never hears of progress the journal lacks.
      this.persist(job).then(
        () => this.options.events.progressed(job, report),
        (err: Error) => log.error({ err: err.message }, 'journal write failed'),
      );
    });
    const ticker = setInterval(() => tracker.tick(), Math.max(100, this.options.progressIntervalMs / 4));
    try {
      await this.persist(job);
      log.info('job started');
      this.options.events.started(job);
      // A cancel that came while the job was being journaled stops it before it touches anything.
      controller.signal.throwIfAborted();
      job.result = await this.options.operations[job.action].run(job, {
        log,
        signal: controller.signal,
        progress: tracker,
        checkpoint: async (detail) => {
          job.checkpoint = detail;
          await this.persist(job);
        },
      });
      job.state = 'succeeded';
      log.info('job succeeded');
    } catch (err) {
      recordFailure(job, err, controller.signal);
      log.error({ err: job.error?.message, class: job.error?.class, repair_pending: job.repair_pending }, `job ${job.state}`);
    } finally {
      clearInterval(ticker);
      this.controllers.delete(job.job_id);
    }
    await this.finish(job, log);
  }

  private async recoverInterrupted(job: JobRecord): Promise<void> {
    const log = this.loggerFor(job);
    log.warn('job was running when the agent stopped; recovering');
    const repair = await this.repair(job, log);
    job.state = 'failed';
    job.repair_pending = !repair.ok;
    job.error = new AgentRestarted(`the agent stopped while this job was running; ${repair.detail}`).toJSON();
    await this.finish(job, log);
  }

  /** A repair that failed before is tried again (at start, then every repairRetryMs); the record is kept until it succeeds. */
  private async retryRepair(job: JobRecord): Promise<void> {
    const log = this.loggerFor(job);
    log.warn('retrying the repair this job left pending');
    const repair = await this.repair(job, log);
    if (!repair.ok) return;
    job.repair_pending = false;
    job.checkpoint = null;
    if (job.error) job.error = { ...job.error, message: `${job.error.message}; repaired later: ${repair.detail}` };
    this.release(job);
    await this.persist(job).catch((err: Error) => log.error({ err: err.message }, 'journal write failed'));
  }

  private async retryPendingRepairs(): Promise<void> {
    for (const job of [...this.jobs.values()].filter((j) => isFinished(j.state) && j.repair_pending)) {
      if (this.stopping) return;
      await this.retryRepair(job);
    }
  }

  private async repair(job: JobRecord, log: Logger): Promise<{ ok: boolean; detail: string }> {
    try {
      return { ok: true, detail: await this.options.operations[job.action].recover(job, log) };
    } catch (err) {
      log.error({ err: (err as Error).message }, 'repair failed; the agent retries it');
      return { ok: false, detail: `its repair failed (${(err as Error).message}); the agent retries it` };
    }
  }

  /** A second unfinished job for one domain (only a damaged journal holds one) never runs. */
  private async refuseAtStart(job: JobRecord): Promise<void> {
    const log = this.loggerFor(job);
    job.state = 'failed';
    job.error = new DomainBusy(`domain ${job.domain_name} was held by job ${this.claims.get(job.domain_uuid)} at start`).toJSON();
    log.error({ err: job.error.message }, 'queued job refused');
    await this.finish(job, log);
  }

  private claimAtStart(job: JobRecord): void {
    if (!this.claims.has(job.domain_uuid)) this.claims.set(job.domain_uuid, job.job_id);
  }

  private release(job: JobRecord): void {
    if (this.claims.get(job.domain_uuid) === job.job_id) this.claims.delete(job.domain_uuid);
  }

  /** Call in the same synchronous step that sets the final state (see `finishing`). */
  private async finish(job: JobRecord, log: Logger): Promise<void> {
    this.finishing.add(job.job_id);
    job.finished_at = new Date().toISOString();
    // A pending repair keeps its checkpoint, to be retried from, and its domain.
    if (!job.repair_pending) {
      job.checkpoint = null;
      this.release(job);
    }
    await this.persist(job).catch((err: Error) => log.error({ err: err.message }, 'journal write failed'));
    this.finishing.delete(job.job_id);
    this.options.events.finished(job);
    for (const resolve of this.waiters.get(job.job_id) ?? []) resolve(job);
    this.waiters.delete(job.job_id);
    // Pruning in batches keeps a busy host from rewriting the journal folder per job.
    if (this.jobs.size > this.options.keepFinished + PRUNE_BATCH) {
      await this.prune().catch((err: Error) => log.warn({ err: err.message }, 'journal prune failed'));
    }
  }

  /** Forgets the oldest finished jobs beyond `keepFinished`, in memory and on disk. */
  private async prune(): Promise<void> {
    const dropped = await this.options.journal.prune([...this.jobs.values()], this.options.keepFinished);
    for (const id of dropped) this.jobs.delete(id);
  }

  private persist(job: JobRecord): Promise<void> {
    return this.options.journal.save(job);
  }

  private loggerFor(job: JobRecord): Logger {
    return jobLogger(this.options.log, {
      job_id: job.job_id,
      request_id: job.request.request_id,
      domain: job.domain_name,
      action: job.action,
    });
  }

  private findByUniqueId(uniqueId: string): JobRecord | undefined {
    for (const job of this.jobs.values()) if (job.request.unique_id === uniqueId) return job;
    return undefined;
  }
}
