/**
 * A followed job's state and the words both views print for it (pure: time comes in as
 * numbers). A job with no byte total yet (a restore that is only 'starting') has no
 * fraction: it is shown by its phase and elapsed time until it ends.
 */
import { formatBytes } from '../format.js';
import type { JobOutcome, ProgressUpdate } from './view.js';

export interface JobState {
  readonly label: string;
  readonly addedAt: number;
  latest: ProgressUpdate | null;
  updatedAt: number;
  outcome: JobOutcome | null;
  endedAt: number | null;
}

export function newJob(label: string, now: number): JobState {
  return { label: printable(label), addedAt: now, latest: null, updatedAt: now, outcome: null, endedAt: null };
}

/** Records an update, its numbers made sane (a missing field parsed as NaN counts as 0). */
export function applyUpdate(job: JobState, update: ProgressUpdate, now: number): void {
  job.latest = {
    bytesDone: count(update.bytesDone),
    bytesTotal: count(update.bytesTotal),
    rateBytesPerS: count(update.rateBytesPerS),
    phase: update.phase === null ? null : printable(update.phase),
  };
  job.updatedAt = now;
}

export function endJob(job: JobState, outcome: JobOutcome, now: number): void {
  job.outcome = outcome;
  job.endedAt = now;
}

/** 0..1, 1 once succeeded; null while the job has no byte total to measure against. */
export function fraction(job: JobState): number | null {
  if (job.outcome === 'succeeded') return 1;
  const total = job.latest?.bytesTotal ?? 0;
  if (total <= 0) return null;
  return Math.min(1, (job.latest?.bytesDone ?? 0) / total);
}

/** Whole percent, rounded down so that "100 %" only ever means done. */
export function percentText(value: number): string {
  return `${Math.floor(value * 100)} %`;
}

/** Seconds left at the agent's rate, counting down since its last update; null without a rate. */
function etaSeconds(job: JobState, now: number): number | null {
  const latest = job.latest;
  if (latest === null || latest.rateBytesPerS <= 0 || latest.bytesTotal <= 0) return null;
  const atUpdate = Math.max(0, latest.bytesTotal - latest.bytesDone) / latest.rateBytesPerS;
  return Math.max(0, atUpdate - (now - job.updatedAt) / 1000);
}

/** "ETA 0:22"; "ETA --" while the rate is unknown; null once every byte is done (the job is in a later phase). */
export function etaText(job: JobState, now: number): string | null {
  const latest = job.latest;
  if (latest !== null && latest.bytesTotal > 0 && latest.bytesDone >= latest.bytesTotal) return null;
  const eta = etaSeconds(job, now);
  return `ETA ${eta === null ? '--' : formatDuration(eta)}`;
}

/** 0:07, 12:03, 1:02:03. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function elapsedText(job: JobState, now: number): string {
  return formatDuration(((job.endedAt ?? now) - job.addedAt) / 1000);
}

/** "1.2 GiB / 3.0 GiB", or null while there is no byte total. */
export function bytesText(job: JobState): string | null {
  const latest = job.latest;
  if (latest === null || latest.bytesTotal <= 0) return null;
  return `${formatBytes(latest.bytesDone)} / ${formatBytes(latest.bytesTotal)}`;
}

export function rateText(job: JobState): string | null {
  const rate = job.latest?.rateBytesPerS ?? 0;
  return rate > 0 ? `${formatBytes(rate)}/s` : null;
}

/** How an ended job ended, with its time: "succeeded in 0:36", "failed after 0:12". */
export function outcomeText(job: JobState, now: number): string | null {
  if (job.outcome === null) return null;
  return `${job.outcome} ${job.outcome === 'succeeded' ? 'in' : 'after'} ${elapsedText(job, now)}`;
}

/** The present parts, two spaces apart. */
export function join(...parts: (string | null)[]): string {
  return parts.filter((part): part is string => part !== null).join('  ');
}

/** Text from the agent or the operator with its control characters (escape sequences) made visible as '?'. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function count(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
