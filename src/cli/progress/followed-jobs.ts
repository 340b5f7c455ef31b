/**
 * The bookkeeping both views share: the jobs followed by id, and what is ignored (a job
 * never added, an update or a second end after its end, anything after stop()). A view
 * says how to track a job and what to show at each step.
 */
import { applyUpdate, endJob, newJob, type JobState } from './job-state.js';
import type { JobOutcome, JobProgressView, ProgressStream, ProgressUpdate } from './view.js';

export abstract class FollowedJobs<Job extends { state: JobState }> implements JobProgressView {
  protected readonly jobs = new Map<string, Job>();
  private stopped = false;

  constructor(
    protected readonly stream: ProgressStream,
    protected readonly now: () => number,
  ) {}

  add(jobId: string, label: string): void {
    if (this.stopped || this.jobs.has(jobId)) return;
    const job = this.track(newJob(label, this.now()));
    this.jobs.set(jobId, job);
    this.added(job);
  }

  update(jobId: string, update: ProgressUpdate): void {
    const job = this.running(jobId);
    if (job === null) return;
    applyUpdate(job.state, update, this.now());
    this.updated(job);
  }

  end(jobId: string, outcome: JobOutcome): void {
    const job = this.running(jobId);
    if (job === null) return;
    endJob(job.state, outcome, this.now());
    this.ended(job);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.finished();
  }

  protected abstract track(state: JobState): Job;
  protected abstract added(job: Job): void;
  protected abstract updated(job: Job): void;
  protected abstract ended(job: Job): void;
  /** stop() was called (once). */
  protected abstract finished(): void;

  private running(jobId: string): Job | null {
    const job = this.jobs.get(jobId);
    return this.stopped || job === undefined || job.state.outcome !== null ? null : job;
  }
}
