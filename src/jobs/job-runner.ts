import type { Logger } from 'pino';
import { AgentRestarted, DomainBusy, JobCancelled, JobNotFound, asVirtDrError } from '../errors.js';
import { jobLogger } from '../log.js';
import { newJobId } from '../util/ids.js';
import { Semaphore } from '../util/semaphore.js';
import { isFinished, type JobAction, type JobRecord, type JobState } from './job.js';
import type { JobJournal } from './journal.js';
import { ProgressTracker, type ProgressReport } from './progress.js';

const PRUNE_BATCH = 50;

/** What an operation gets to run with; see OperationContext in backup/run-backup.ts. */
export interface JobContext {
  log: Logger;
  signal: AbortSignal;
  progress: { setTotal(bytes: number): void; add(bytes: number): void };
  checkpoint(detail: unknown): Promise<void>;
}

export interface JobOperation {
  run(job: JobRecord, ctx: JobContext): Promise<unknown>;
  /**
   * Repairs what a crash left from the job's last checkpoint (thaw, resume, chain,
   * partial files). Returns a sentence for the job's error message.
   */
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
}

/**
 * Accepts, schedules and tracks jobs. A job is journaled before `submit` resolves; at
 * most one unfinished job exists per domain; at most `concurrency` run at once. Each
 * running job owns an AbortController, aborted with a typed reason on shutdown.
 */
export class JobRunner {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly unfinishedByDomain = new Map<string, string>();
  private readonly controllers = new Map<string, AbortController>();
  private readonly waiters = new Map<string, ((job: JobRecord) => void)[]>();
  private readonly writes = new Map<string, Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  private readonly slots: Semaphore;

  constructor(private readonly options: JobRunnerOptions) {
    this.slots = new Semaphore(Math.max(1, options.concurrency));
  }

  /**
   * Loads the journal; repairs and fails the jobs a crash interrupted; queues again the
   * ones that were accepted but never started.
   */
  async start(): Promise<void> {
    const { journal, log } = this.options;
    await journal.open();
    const jobs = await journal.loadAll((file, err) => log.error({ file, err: err.message }, 'unreadable journal entry'));
    for (const job of jobs) this.jobs.set(job.job_id, job);
    for (const job of jobs.filter((j) => j.state === 'running')) await this.recoverInterrupted(job);
    for (const job of jobs.filter((j) => j.state === 'queued')) {
      this.unfinishedByDomain.set(job.domain_uuid, job.job_id);
      log.info({ job_id: job.job_id }, 'requeueing a job accepted before the restart');
      this.schedule(job);
    }
    await this.prune();
  }

  /**
   * Throws DomainBusy when the domain has an unfinished job, unless the request is a
   * redelivery (submit then hands back the job it made). Lets a request be refused before
   * its slower checks run; submit checks again, since the answer can change meanwhile.
   */
  assertCanAccept(domain: { uuid: string; name: string }, uniqueId: string | null): void {
    if (uniqueId && this.findByUniqueId(uniqueId)) return;
    const holder = this.unfinishedByDomain.get(domain.uuid);
    if (holder) {
      const other = this.jobs.get(holder);
      throw new DomainBusy(
        `domain ${domain.name} already has job ${holder} (${other?.action ?? 'unknown'}, ${other?.state ?? 'unknown'}); one job per domain at a time`,
      );
    }
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
      created_at: new Date().toISOString(),
      started_at: null,
      finished_at: null,
      progress: { bytes_done: 0, bytes_total: 0 },
      result: null,
      error: null,
      request: {
        args: submission.args,
        context: submission.context,
        request_id: submission.requestId,
        unique_id: submission.uniqueId,
      },
      checkpoint: null,
    };
    // Claimed before the first await, so two requests racing for one domain cannot both win.
    this.unfinishedByDomain.set(job.domain_uuid, job.job_id);
    try {
      await this.options.journal.save(job);
    } catch (err) {
      this.unfinishedByDomain.delete(job.domain_uuid);
      throw err;
    }
    this.jobs.set(job.job_id, job);
    this.schedule(job);
    return job;
  }

  get(jobId: string): JobRecord {
    const job = this.jobs.get(jobId);
    if (!job) throw new JobNotFound(`no job ${jobId}`);
    return job;
  }

  list(state: JobState | null): JobRecord[] {
    return [...this.jobs.values()].filter((j) => state === null || j.state === state);
  }

  /** Resolves with the job once it has finished, whatever its outcome. */
  waitFor(jobId: string): Promise<JobRecord> {
    const job = this.get(jobId);
    if (isFinished(job.state)) return Promise.resolve(job);
    return new Promise((resolve) => this.waiters.set(jobId, [...(this.waiters.get(jobId) ?? []), resolve]));
  }

  /** Aborts running jobs (their failure paths repair the host) and waits for them. */
  async stop(deadlineMs: number): Promise<void> {
    for (const controller of this.controllers.values()) {
      controller.abort(new JobCancelled('the agent is shutting down'));
    }
    const all = Promise.allSettled([...this.running]);
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
  }

  private schedule(job: JobRecord): void {
    const run = this.execute(job).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async execute(job: JobRecord): Promise<void> {
    await this.slots.acquire();
    const controller = new AbortController();
    this.controllers.set(job.job_id, controller);
    const log = jobLogger(this.options.log, {
      job_id: job.job_id,
      request_id: job.request.request_id,
      domain: job.domain_name,
      action: job.action,
    });
    const tracker = new ProgressTracker(this.options.progressIntervalMs, Date.now, (report) => {
      job.progress = { bytes_done: report.bytes_done, bytes_total: report.bytes_total };
      // Saved first, emitted second: a listener never hears of progress the journal lacks.
      this.persist(job).then(
        () => this.options.events.progressed(job, report),
        (err: Error) => log.error({ err: err.message }, 'journal write failed'),
      );
    });
    const ticker = setInterval(() => tracker.tick(), Math.max(100, this.options.progressIntervalMs / 4));
    try {
      job.state = 'running';
      job.started_at = new Date().toISOString();
      await this.persist(job);
      log.info('job started');
      this.options.events.started(job);
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
      const error = asVirtDrError(err);
      job.state = error instanceof JobCancelled ? 'cancelled' : 'failed';
      job.error = error.toJSON();
      log.error({ err: error.message, class: error.name }, 'job failed');
    } finally {
      clearInterval(ticker);
      this.controllers.delete(job.job_id);
      this.slots.release();
    }
    await this.finish(job, log);
  }

  private async recoverInterrupted(job: JobRecord): Promise<void> {
    const log = jobLogger(this.options.log, {
      job_id: job.job_id,
      request_id: job.request.request_id,
      domain: job.domain_name,
      action: job.action,
    });
    log.warn('job was running when the agent stopped; recovering');
    let detail: string;
    try {
      detail = await this.options.operations[job.action].recover(job, log);
    } catch (err) {
      detail = `recovery failed: ${(err as Error).message}`;
      log.error({ err: (err as Error).message }, 'recovery failed');
    }
    job.state = 'failed';
    job.error = new AgentRestarted(`the agent stopped while this job was running; ${detail}`).toJSON();
    await this.finish(job, log);
  }

  private async finish(job: JobRecord, log: Logger): Promise<void> {
    job.finished_at = new Date().toISOString();
    job.checkpoint = null;
    await this.persist(job).catch((err: Error) => log.error({ err: err.message }, 'journal write failed'));
    this.unfinishedByDomain.delete(job.domain_uuid);
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

  /**
   * Journal writes of one job happen in order, so an older state never lands last. A
   * failed write rejects for its caller (a checkpoint that is not on disk must stop the
   * job) without blocking the writes queued after it.
   */
  private persist(job: JobRecord): Promise<void> {
    const snapshot = structuredClone(job);
    const previous = this.writes.get(job.job_id) ?? Promise.resolve();
    const write = previous.then(() => this.options.journal.save(snapshot));
    const settled = write.catch(() => undefined);
    this.writes.set(job.job_id, settled);
    void settled.then(() => {
      if (this.writes.get(job.job_id) === settled && isFinished(job.state)) this.writes.delete(job.job_id);
    });
    return write;
  }

  private findByUniqueId(uniqueId: string): JobRecord | undefined {
    for (const job of this.jobs.values()) if (job.request.unique_id === uniqueId) return job;
    return undefined;
  }
}
