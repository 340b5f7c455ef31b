import type { Notification } from '../bus/rpc-client.js';
import { isFinished, type JobAction, type JobState } from '../jobs/job.js';
import { ExitCode, FollowTimeout } from './exit-codes.js';
import { progressView, type JobOutcome, type ProgressUpdate } from './progress/view.js';
import type { CliSession } from './session.js';

/** One job-starting call: its method and args, and the words that name it to people. */
export interface JobRequest {
  method: string;
  /** The notification family the job reports in: virt_dr.<action>.*. */
  action: JobAction;
  args: Record<string, unknown>;
  label: string;
}

type JobView = Record<string, unknown> & { job_id: string; state: JobState };

/** A missed end notification (a bus hiccup) must not leave the CLI waiting forever. */
const POLL_INTERVAL_MS = 5_000;

/** Starts the jobs and prints what the agent accepted: `{job_id}` each. */
export async function startJobs(session: CliSession, requests: readonly JobRequest[]): Promise<ExitCode> {
  const accepted: Record<string, unknown>[] = [];
  for (const request of requests) accepted.push(await session.call<Record<string, unknown>>(request.method, request.args));
  if (session.json) session.printJson(accepted.length === 1 ? accepted[0] : accepted);
  else accepted.forEach((answer, i) => session.write([`${requests[i]!.label}: job ${String(answer.job_id)} accepted`]));
  return ExitCode.ok;
}

/**
 * Starts the jobs and follows them to their end: progress from the agent's notifications
 * (a redrawn bar per job on a terminal, a line per 10 % elsewhere), then each job's
 * result. Exit 1 when any job failed or was cancelled; --timeout stops the following,
 * not the jobs.
 */
export async function followJobs(session: CliSession, requests: readonly JobRequest[]): Promise<ExitCode> {
  const bus = await session.bus();
  // With --json, stdout holds the JSON alone: the progress goes to stderr.
  const progressStream = session.json ? session.streams.err : session.streams.out;
  const view = progressView(progressStream);
  const labels = new Map<string, string>();
  const finished = new Map<string, JobView>();
  const early: Notification[] = [];
  let settle: () => void = () => undefined;
  const allFinished = new Promise<void>((resolve) => (settle = resolve));
  const finish = (job: JobView) => {
    if (finished.has(job.job_id) || !labels.has(job.job_id)) return;
    finished.set(job.job_id, job);
    view.end(job.job_id, job.state as JobOutcome);
    if (finished.size === requests.length) settle();
  };
  const onEvent = (event: Notification) => {
    const jobId = String(event.payload.job_id);
    if (!labels.has(jobId)) {
      // Perhaps one of ours whose call has not returned yet: kept until every call has.
      if (labels.size === 0) early.push(event);
      return;
    }
    if (finished.has(jobId)) return;
    const suffix = event.event_type.slice(event.event_type.lastIndexOf('.') + 1);
    if (suffix === 'progress') view.update(jobId, progressOf(event.payload));
    else if (suffix === 'end' || suffix === 'error') finish(event.payload as JobView);
  };
  // Listen before asking, so not even a quick job's end is missed.
  await bus.watchNotifications(onEvent);
  const poll = setInterval(() => {
    for (const jobId of labels.keys()) {
      if (!finished.has(jobId)) void session.call<JobView>('get_job', { job_id: jobId }).then((job) => isFinished(job.state) && finish(job), () => undefined);
    }
  }, POLL_INTERVAL_MS);
  const deadline = session.options.timeout === undefined ? null : setTimeout(() => settle(), session.options.timeout * 1000);
  try {
    const accepted: [string, string][] = [];
    for (const request of requests) accepted.push([(await session.call<{ job_id: string }>(request.method, request.args)).job_id, request.label]);
    // Each job's id on a line of its own, above the bars: what `virt-dr job` and `cancel` take.
    progressStream.write(accepted.map(([jobId, label]) => `${label}: job ${jobId}\n`).join(''));
    for (const [jobId, label] of accepted) {
      labels.set(jobId, label);
      view.add(jobId, label);
    }
    early.splice(0).forEach(onEvent);
    await allFinished;
  } finally {
    clearInterval(poll);
    if (deadline) clearTimeout(deadline);
    view.stop();
  }
  return report(session, labels, finished);
}

function report(session: CliSession, labels: Map<string, string>, finished: Map<string, JobView>): ExitCode {
  const unfinished = [...labels.keys()].filter((jobId) => !finished.has(jobId));
  const jobs = [...finished.values()];
  if (session.json) session.printJson(jobs.length === 1 ? jobs[0] : jobs);
  let code: ExitCode = ExitCode.ok;
  for (const job of jobs) {
    if (job.state === 'succeeded') {
      if (session.json) continue;
      // Several results one after another: each under its job's name.
      if (jobs.length > 1) session.write(['', `${labels.get(job.job_id)}:`]);
      session.printRecord((job.result ?? {}) as Record<string, unknown>);
      continue;
    }
    const error = (job.error ?? {}) as { class?: string; message?: string };
    session.streams.err.write(`virt-dr: ${labels.get(job.job_id)} ${job.state}: ${error.class ?? 'Error'}: ${error.message ?? 'no message'}\n`);
    code = ExitCode.failed;
  }
  if (unfinished.length > 0) {
    const ids = unfinished.join(', ');
    throw new FollowTimeout(`stopped following after ${session.options.timeout} s; still running: ${ids} (virt-dr job ID shows it)`);
  }
  return code;
}

/** A progress notification's numbers (the view counts a missing one as 0) and phase. */
function progressOf(payload: Record<string, unknown>): ProgressUpdate {
  return {
    bytesDone: Number(payload.bytes_done),
    bytesTotal: Number(payload.bytes_total),
    rateBytesPerS: Number(payload.rate_bytes_per_s),
    phase: typeof payload.phase === 'string' ? payload.phase : null,
  };
}
