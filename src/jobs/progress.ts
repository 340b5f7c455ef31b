import type { JobPhase, JobProgress } from './job.js';

export interface ProgressReport extends JobProgress {
  percent: number;
  /** Average bytes per second since the job's first byte. */
  rate_bytes_per_s: number;
}

/** What an operation reports its progress through (the runner hands it a ProgressTracker). */
export interface ProgressSink {
  setTotal(bytes: number): void;
  add(bytes: number): void;
  /** The job enters a step; the same step again is no change. */
  phase(name: JobPhase): void;
}

/**
 * Counts a job's bytes and decides when a report is due: each time the bytes cross
 * another 5 % mark, at least every `intervalMs` while the job runs (the caller's timer
 * calls `tick`), and at once when the job enters another phase (a step is never lost to
 * the throttle, however short).
 * Pure apart from the injected clock, so the throttle is tested without waiting.
 */
export class ProgressTracker implements ProgressSink {
  private done = 0;
  private total = 0;
  private current: JobPhase | null = null;
  private startedMs: number | null = null;
  private lastReportMs: number;
  private lastReportPercent = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly report: (progress: ProgressReport) => void,
  ) {
    this.lastReportMs = now();
  }

  get snapshot(): JobProgress {
    return { bytes_done: this.done, bytes_total: this.total, phase: this.current };
  }

  phase(name: JobPhase): void {
    if (name === this.current) return;
    this.current = name;
    this.emit();
  }

  setTotal(bytes: number): void {
    this.total = bytes;
    this.emit();
  }

  add(bytes: number): void {
    this.startedMs ??= this.now();
    this.done += bytes;
    const crossedStep = Math.floor(this.percent() / STEP_PERCENT) > Math.floor(this.lastReportPercent / STEP_PERCENT);
    if (crossedStep || this.now() - this.lastReportMs >= this.intervalMs) {
      this.emit();
    }
  }

  /** Called by a timer: reports if nothing was reported for a whole interval. */
  tick(): void {
    if (this.now() - this.lastReportMs >= this.intervalMs) this.emit();
  }

  private percent(): number {
    return this.total > 0 ? Math.min(100, (this.done / this.total) * 100) : 0;
  }

  private emit(): void {
    const now = this.now();
    const elapsed = this.startedMs === null ? 0 : (now - this.startedMs) / 1000;
    this.lastReportMs = now;
    this.lastReportPercent = this.percent();
    this.report({
      bytes_done: this.done,
      bytes_total: this.total,
      phase: this.current,
      percent: Math.round(this.percent() * 10) / 10,
      rate_bytes_per_s: elapsed > 0 ? Math.round(this.done / elapsed) : 0,
    });
  }
}

const STEP_PERCENT = 5;
