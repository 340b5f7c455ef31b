import type { Notification } from '../../src/bus/rpc-client.js';
import { waitForEvent } from './agent-process.js';

/**
 * The phases a job went through, as its progress notifications tell them: in order, each
 * once, none before its first. Waits for the job's end (or error) notification first:
 * notifications can still be on their way when the job's caller has its answer.
 */
export async function phasesOf(events: Notification[], jobId: string, timeoutMs = 30_000): Promise<string[]> {
  const ofJob = (n: Notification) => n.payload.job_id === jobId;
  await waitForEvent(events, (n) => ofJob(n) && /\.(end|error)$/.test(n.event_type), timeoutMs);
  const phases: string[] = [];
  for (const n of events.filter((e) => ofJob(e) && e.event_type.endsWith('.progress'))) {
    const { phase } = n.payload;
    if (typeof phase === 'string' && phases.at(-1) !== phase) phases.push(phase);
  }
  return phases;
}
