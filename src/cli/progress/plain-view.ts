/**
 * Progress for a pipe or a log file: whole lines, no escape sequences, and few of them.
 * Per job: a line at its first update and at each 10 % mark it crosses below 100 %, one
 * when its phase changes, and one when it ends (100 % on success). So a job prints at most
 * eleven progress lines however often the agent reports, plus one per phase.
 */
import { FollowedJobs } from './followed-jobs.js';
import { bytesText, etaText, fraction, join, outcomeText, percentText, rateText, type JobState } from './job-state.js';

interface PlainJob {
  state: JobState;
  /** The 10 % mark (0..9) of the last progress line printed, null before the first. */
  printedMark: number | null;
  printedPhase: string | null;
}

export class PlainProgressView extends FollowedJobs<PlainJob> {
  protected override track(state: JobState): PlainJob {
    return { state, printedMark: null, printedPhase: null };
  }

  /** Nothing yet: its first update prints its first line. */
  protected override added(): void {}

  protected override updated(job: PlainJob): void {
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
    this.line(job.state, join(percentText(done), bytesText(job.state), rateText(job.state), etaText(job.state, this.now())));
  }

  protected override ended(job: PlainJob): void {
    const done = fraction(job.state); // 1 on success
    const outcome = outcomeText(job.state, this.now());
    if (job.state.outcome === 'succeeded') this.line(job.state, join(percentText(1), bytesText(job.state), outcome));
    else this.line(job.state, join(outcome, done === null ? null : `at ${percentText(done)}`));
  }

  /** Nothing to clean: every line is whole. */
  protected override finished(): void {}

  private line(job: JobState, text: string): void {
    this.stream.write(`${job.label}: ${text}\n`);
  }
}
