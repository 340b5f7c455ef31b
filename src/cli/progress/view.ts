/**
 * What `virt-dr … --wait` shows while it follows jobs: a redrawn bar per job on a
 * terminal (tty-view.ts), a few plain lines otherwise (plain-view.ts). The command code
 * feeds both through this one interface and never asks which it has.
 */
import type { JobState } from '../../jobs/job.js';
import { PlainProgressView } from './plain-view.js';
import { TtyProgressView } from './tty-view.js';

/** One progress notification, already parsed; `phase` is the agent's word ('copying', 'pivoting', …). */
export interface ProgressUpdate {
  bytesDone: number;
  bytesTotal: number;
  rateBytesPerS: number;
  phase: string | null;
}

/** How a job ended: the job model's finished states. */
export type JobOutcome = Exclude<JobState, 'queued' | 'running'>;

export interface JobProgressView {
  /** A job to show from now on (its bar, or its first line). */
  add(jobId: string, label: string): void;
  update(jobId: string, update: ProgressUpdate): void;
  /** The job ended: on success its bar ends at 100 %. */
  end(jobId: string, outcome: JobOutcome): void;
  /** Stops redrawing and leaves the cursor on a fresh line; idempotent. */
  stop(): void;
}

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export function progressView(stream: ProgressStream, opts: { now?: () => number } = {}): JobProgressView {
  const now = opts.now ?? Date.now;
  return stream.isTTY === true ? new TtyProgressView(stream, now) : new PlainProgressView(stream, now);
}
