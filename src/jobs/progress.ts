import type { JobProgress } from './job.js';

export interface ProgressReport extends JobProgress {
  percent: number;
  /** Average bytes per second since the job's first byte. */
  rate_bytes_per_s: number;
}

/**
 * Counts a job's bytes and decides when a report is due: each time the bytes cross
 * another 5 % mark, and at least every `intervalMs` while the job runs (the caller's
 * timer calls `tick`).
 * Pure apart from the injected clock, so the throttle is tested without waiting.
 */
export class ProgressTracker {
  private done = 0;
  private total = 0;
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
    return { bytes_done: this.done, bytes_total: this.total };
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
      percent: Math.round(this.percent() * 10) / 10,
      rate_bytes_per_s: elapsed > 0 ? Math.round(this.done / elapsed) : 0,
    });
  }
}

const STEP_PERCENT = 5;
