/**
 * Progress for a pipe or a log file: whole lines, no escape sequences, and few of them.
 * Per job: a line at its first update and at each 10 % mark it crosses below 100 %, one
 * when its phase changes, and one when it ends (100 % on success). So a job prints at most
 * eleven progress lines however often the agent reports, plus one per phase.
 */
import {
  applyUpdate,
  bytesText,
  endJob,
  etaText,
  fraction,
  join,
  newJob,
  outcomeText,
  percentText,
  rateText,
  type JobState,
} from './job-state.js';
import type { JobOutcome, JobProgressView, ProgressStream, ProgressUpdate } from './view.js';

interface PlainJob {
  state: JobState;
  /** The 10 % mark (0..9) of the last progress line printed, null before the first. */
  printedMark: number | null;
  printedPhase: string | null;
}

export class PlainProgressView implements JobProgressView {
  private readonly jobs = new Map<string, PlainJob>();
  private stopped = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number,
  ) {}

  add(jobId: string, label: string): void {
    if (this.stopped || this.jobs.has(jobId)) return;
    this.jobs.set(jobId, { state: newJob(label, this.now()), printedMark: null, printedPhase: null });
  }

  update(jobId: string, update: ProgressUpdate): void {
    const job = this.jobs.get(jobId);
    if (this.stopped || job === undefined || job.state.outcome !== null) return;
    const now = this.now();
    applyUpdate(job.state, update, now);
    const phase = job.state.latest?.phase ?? null;
    if (phase !== null && phase !== job.printedPhase) {
      job.printedPhase = phase;
      this.line(job.state, `phase ${phase}`);
    }
    const done = fraction(job.state);
    if (done === null || done >= 1) return; // 100 % is the end's line
    const mark = Math.floor(done * 10);
    if (job.printedMark !== null && mark <= job.printedMark) return;
    job.printedMark = mark;
    this.line(job.state, join(percentText(done), bytesText(job.state), rateText(job.state), etaText(job.state, now)));
  }

  end(jobId: string, outcome: JobOutcome): void {
    const job = this.jobs.get(jobId);
    if (this.stopped || job === undefined || job.state.outcome !== null) return;
    const now = this.now();
    endJob(job.state, outcome, now);
    const done = fraction(job.state); // 1 on success
    const where = done === null ? null : outcome === 'succeeded' ? percentText(done) : `at ${percentText(done)}`;
    this.line(job.state, outcome === 'succeeded' ? join(where, bytesText(job.state), outcomeText(job.state, now)) : join(outcomeText(job.state, now), where));
  }

  stop(): void {
    this.stopped = true;
  }

  private line(job: JobState, text: string): void {
    this.stream.write(`${job.label}: ${text}\n`);
  }
}
