/**
 * One job's line on a terminal (pure):
 *   backup of vm1  [████████░░░░░░░░░░░░]  42 %  1.2 GiB / 3.0 GiB  85.0 MiB/s  ETA 0:22  copying
 * The bar takes what the width leaves (10 to 40 cells) and, given its previous length,
 * never grows back: it keeps its length while the numbers beside it change width. The
 * line never reaches the last column, where a terminal would wrap it and break the redraw.
 */
import {
  bytesText,
  elapsedText,
  etaText,
  fraction,
  join,
  outcomeText,
  percentText,
  rateText,
  type JobState,
} from './job-state.js';

const BAR_CELLS = { min: 10, max: 40 } as const;
/** A new job's bar may take up to this many cells. */
export const BAR_CELLS_MAX = BAR_CELLS.max;
/** Labels beyond this are cut so that the bars of several jobs still line up. */
export const LABEL_CELLS_MAX = 32;
const FILLED = '█';
const EMPTY = '░';

export interface TtyLayout {
  /** The labels' column width (labelCells()). */
  labelCells: number;
  /** The terminal's columns. */
  width: number;
  /** The bar length of the previous frame (BAR_CELLS_MAX at first): it may shrink, not grow. */
  barCellsMax: number;
}

export function ttyLine(job: JobState, layout: TtyLayout, now: number): { text: string; barCells: number } {
  const { labelCells, width } = layout;
  const done = fraction(job);
  const label = fit(job.label, labelCells).padEnd(labelCells);
  const percent = (done === null ? '--' : percentText(done)).padStart(5);
  let parts = tailParts(job, done, now);
  const lineWithout = (bar: string) => `${label}  [${bar}] ${percent}  ${join(...parts.map((part) => part.text))}`;
  // On a narrow terminal the least telling parts go first (bytes, then rate), never the phase, ETA or outcome.
  for (const kind of DROPPED_FIRST) {
    if (width - 1 - lineWithout('').length >= BAR_CELLS.min) break;
    parts = parts.filter((part) => part.kind !== kind);
  }
  const barCells = Math.max(BAR_CELLS.min, Math.min(layout.barCellsMax, width - 1 - lineWithout('').length));
  const filled = done === null ? 0 : Math.round(done * barCells);
  const line = lineWithout(FILLED.repeat(filled) + EMPTY.repeat(barCells - filled));
  return { text: line.length < width ? line : line.slice(0, Math.max(0, width - 1)), barCells };
}

type PartKind = 'bytes' | 'rate' | 'eta' | 'phase' | 'elapsed' | 'outcome';
const DROPPED_FIRST: readonly PartKind[] = ['bytes', 'rate'];

/** What follows the percent: bytes, rate, ETA and phase while running; elapsed time for a phase-only job; the outcome once ended. */
function tailParts(job: JobState, done: number | null, now: number): { kind: PartKind; text: string | null }[] {
  const phase = job.latest?.phase ?? null;
  if (job.outcome !== null) return [{ kind: 'bytes', text: bytesText(job) }, { kind: 'outcome', text: outcomeText(job, now) }];
  if (done === null) return [{ kind: 'phase', text: phase ?? 'waiting' }, { kind: 'elapsed', text: `elapsed ${elapsedText(job, now)}` }];
  return [
    { kind: 'bytes', text: bytesText(job) },
    { kind: 'rate', text: rateText(job) },
    { kind: 'eta', text: etaText(job, now) },
    { kind: 'phase', text: phase },
  ];
}

/** The width for the labels of these jobs: the longest, up to LABEL_CELLS_MAX. */
export function labelCells(jobs: Iterable<JobState>): number {
  let widest = 0;
  for (const job of jobs) widest = Math.max(widest, job.label.length);
  return Math.min(widest, LABEL_CELLS_MAX);
}

function fit(text: string, cells: number): string {
  return text.length <= cells ? text : `${text.slice(0, cells - 1)}…`;
}
