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
import { FollowedJobs } from './followed-jobs.js';
import type { JobState } from './job-state.js';
import { BAR_CELLS_MAX, labelCells, ttyLine } from './tty-line.js';

/** Redraws a second between updates: enough for an ETA shown in seconds. */
const FRAMES_PER_S = 4;

/** A job on a bar; MultiBar hands it back to draw() as the bar's payload. */
interface BarJob {
  state: JobState;
}

export class TtyProgressView extends FollowedJobs<BarJob> {
  private bars: MultiBar | null = null;
  /** The bars' length in the last frame: all bars keep one length, the shortest any line needed (tty-line.ts). */
  private barCells: number = BAR_CELLS_MAX;

  protected override track(state: JobState): BarJob {
    return { state };
  }

  protected override added(job: BarJob): void {
    this.bars ??= this.startBars();
    // Its value and total are unused: the line is drawn from the job's state.
    this.bars.create(1, 0, job);
    this.bars.update();
  }

  protected override updated(): void {
    this.bars?.update();
  }

  protected override ended(): void {
    if ([...this.jobs.values()].every((job) => job.state.outcome !== null)) this.finishBars();
    else this.bars?.update();
  }

  protected override finished(): void {
    this.finishBars();
  }

  private startBars(): MultiBar {
    return new MultiBar({
      stream: this.stream,
      format: (_options, params, job: BarJob) => this.draw(job, params.maxWidth),
      fps: FRAMES_PER_S,
      hideCursor: false,
      linewrap: true,
      gracefulExit: false,
      clearOnComplete: false,
      stopOnComplete: false,
    });
  }

  private draw(job: BarJob, width: number): string {
    const states = [...this.jobs.values()].map((each) => each.state);
    const { text, barCells } = ttyLine(job.state, { labelCells: labelCells(states), width, barCellsMax: this.barCells }, this.now());
    this.barCells = barCells;
    return text;
  }

  /** Draws the final frame, leaves the cursor below it and clears MultiBar's timer; later jobs get new bars below. */
  private finishBars(): void {
    this.bars?.stop();
    this.bars = null;
    this.barCells = BAR_CELLS_MAX;
    this.jobs.clear();
  }
}
