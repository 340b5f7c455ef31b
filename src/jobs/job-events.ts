import type { JobEvents } from './job-runner.js';

/** Several listeners of the job runner's events as one: each hears every event, in order. */
export function allEvents(...listeners: Partial<JobEvents>[]): JobEvents {
  return {
    started: (job) => listeners.forEach((l) => l.started?.(job)),
    progressed: (job, report) => listeners.forEach((l) => l.progressed?.(job, report)),
    finished: (job) => listeners.forEach((l) => l.finished?.(job)),
  };
}
