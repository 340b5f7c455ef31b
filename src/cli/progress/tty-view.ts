/**
 * Progress on a terminal: cli-progress's MultiBar redraws one line per followed job in
 * place (cursor moves, no new line per update); each line is drawn from the job's state
 * by tty-line.ts. An update redraws at once; MultiBar's own timer redraws in between, so
 * the ETA counts down. That timer holds the process only while a job runs: once every
 * job has ended (or on stop()) the final frame is drawn, the cursor put on a fresh line
 * and the timer cleared, so a CLI that is done exits by itself.
 *
 * The cursor is never hidden, line wrapping never switched off and no SIGINT handler
 * installed (cli-progress's hideCursor, linewrap and gracefulExit): a Ctrl-C or a crash
 * then leaves the terminal as it was, and the CLI keeps its own signal handling.
 */
import { MultiBar } from 'cli-progress';
import { applyUpdate, endJob, newJob, type JobState } from './job-state.js';
import { BAR_CELLS_MAX, labelCells, ttyLine } from './tty-line.js';
import type { JobOutcome, JobProgressView, ProgressStream, ProgressUpdate } from './view.js';

/** Redraws a second between updates: enough for an ETA shown in seconds. */
const FRAMES_PER_S = 4;

interface BarPayload {
  job: JobState;
  /** Its bar's length in the last frame, which it keeps (tty-line.ts). */
  barCells: number;
}

export class TtyProgressView implements JobProgressView {
  /** The jobs on the bars being drawn; emptied when their final frame is drawn. */
  private readonly jobs = new Map<string, JobState>();
  private bars: MultiBar | null = null;
  private stopped = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly now: () => number,
  ) {}

  add(jobId: string, label: string): void {
    if (this.stopped || this.jobs.has(jobId)) return;
    const job = newJob(label, this.now());
    this.jobs.set(jobId, job);
    this.bars ??= this.startBars();
    // Its value and total are unused: the line is drawn from the job's state.
    this.bars.create(1, 0, { job, barCells: BAR_CELLS_MAX } satisfies BarPayload);
    this.bars.update();
  }

  update(jobId: string, update: ProgressUpdate): void {
    const job = this.jobs.get(jobId);
    if (this.stopped || job === undefined || job.outcome !== null) return;
    applyUpdate(job, update, this.now());
    this.bars?.update();
  }

  end(jobId: string, outcome: JobOutcome): void {
    const job = this.jobs.get(jobId);
    if (this.stopped || job === undefined || job.outcome !== null) return;
    endJob(job, outcome, this.now());
    if ([...this.jobs.values()].every((each) => each.outcome !== null)) this.finishBars();
    else this.bars?.update();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.finishBars();
  }

  private startBars(): MultiBar {
    return new MultiBar({
      stream: this.stream,
      format: (_options, params, payload: BarPayload) => this.draw(payload, params.maxWidth),
      fps: FRAMES_PER_S,
      hideCursor: false,
      linewrap: true,
      gracefulExit: false,
      clearOnComplete: false,
      stopOnComplete: false,
    });
  }

  private draw(bar: BarPayload, width: number): string {
    const { text, barCells } = ttyLine(bar.job, { labelCells: labelCells(this.jobs.values()), width, barCellsMax: bar.barCells }, this.now());
    bar.barCells = barCells;
    return text;
  }

  /** Draws the final frame, leaves the cursor below it and clears MultiBar's timer. */
  private finishBars(): void {
    this.bars?.stop();
    this.bars = null;
    this.jobs.clear();
  }
}
