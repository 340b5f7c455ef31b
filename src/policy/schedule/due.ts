import type { MissedSlots, Schedule } from '../policy.js';
import { compileSchedule, type CompiledSchedule } from './compile.js';
import { isSlotMs, nextSlotMs, previousSlotMs } from './next-slot.js';
import { ScheduleError } from './schedule-error.js';

/**
 * The scheduler's decision for one domain, as a pure function of its persisted state and
 * an explicit clock, so restarts, outages and DST are tested with plain dates.
 *
 * A slot starts at slot + jitter. The caller persists, after acting on the decision:
 * `last_slot = run.slot` when it starts a run, and `next_slot = next.slot` always. The
 * waited-for slot is what keeps an answer honest across restarts: slots before it were
 * run, skipped or reported already, and are never run or reported again.
 */

/** What the scheduler persists per domain (ISO-8601 UTC instants). */
export interface ScheduleState {
  /** The slot of the last run started; no slot at or before it ever runs again. */
  last_slot: string | null;
  /** The slot the domain waits for. */
  next_slot: string | null;
}

export interface SlotStart {
  slot: Date;
  /** slot + the domain's jitter. */
  startAt: Date;
}

/** Slots that came due and were not run on time, for one log line. */
export interface MissedReport {
  count: number;
  /** False when counting stopped at `MISSED_COUNT_LIMIT` (`count` is then a lower bound). */
  countIsExact: boolean;
  first: Date;
  last: Date;
}

export interface DueInput {
  schedule: Schedule;
  state: ScheduleState;
  missed: MissedSlots;
  jitterMs: number;
  now: Date;
  /**
   * When this agent's scheduler started. A slot whose start time came before it passed
   * while the agent was down: `missed` decides whether it runs. One whose start time came
   * after it was merely reached late (a timer firing late, the domain busy): it runs.
   */
  runningSince: Date;
}

export interface DueDecision {
  /** The one slot to start now, or null. Never more than one, however many came due. */
  run: SlotStart | null;
  missed: MissedReport | null;
  /** The slot to wait for next (persist it as `next_slot`). */
  next: SlotStart;
}

/** Counting a calendar schedule's missed slots costs a slot search each; a log line needs no more. */
export const MISSED_COUNT_LIMIT = 100;

export function decideDue(input: DueInput): DueDecision {
  const schedule = compileSchedule(input.schedule);
  const now = input.now.getTime();
  const lastRun = parseInstant(input.state.last_slot, 'last_slot');
  const waited = parseInstant(input.state.next_slot, 'next_slot');
  const startOf = (slot: number): SlotStart => ({ slot: new Date(slot), startAt: new Date(slot + input.jitterMs) });
  const notBefore = lastRun ?? -Infinity;

  // No state, or a waited-for slot this schedule would not have chosen (not one of its
  // slots, or later than its next one): the schedule is new or changed. Start from now;
  // the old schedule's slots are no misses of the new one.
  if (waited === null || !isSlotMs(schedule, waited) || waited > nextSlotMs(schedule, now)) {
    return { run: null, missed: null, next: startOf(nextSlotMs(schedule, Math.max(now, notBefore))) };
  }

  const first = waited > notBefore ? waited : nextSlotMs(schedule, notBefore);
  const latestStartable = now - input.jitterMs;
  if (first > latestStartable) return { run: null, missed: null, next: startOf(first) };

  // Usually exactly one slot came due (a timer at its start time); search back only when more did.
  const newest = nextSlotMs(schedule, first) > latestStartable ? first : previousSlotMs(schedule, latestStartable);
  const reachedWhileRunning = newest + input.jitterMs >= input.runningSince.getTime();
  const runs = reachedWhileRunning || input.missed === 'catch_up';
  // Everything that came due and did not start on time is reported, the caught-up slot too.
  const missed = reachedWhileRunning
    ? countSlots(schedule, first, newest - 1)
    : countSlots(schedule, first, newest);
  return { run: runs ? startOf(newest) : null, missed, next: startOf(nextSlotMs(schedule, newest)) };
}

/** The slots from `first` (a slot) to `last`, inclusive, counted up to the limit. */
function countSlots(schedule: CompiledSchedule, first: number, last: number): MissedReport | null {
  if (first > last) return null;
  if (schedule.kind === 'interval') {
    const count = Math.floor((last - first) / schedule.intervalMs) + 1;
    return { count, countIsExact: true, first: new Date(first), last: new Date(first + (count - 1) * schedule.intervalMs) };
  }
  let count = 1;
  let slot = first;
  while (count < MISSED_COUNT_LIMIT) {
    const following = nextSlotMs(schedule, slot);
    if (following > last) return { count, countIsExact: true, first: new Date(first), last: new Date(slot) };
    slot = following;
    count++;
  }
  const countIsExact = nextSlotMs(schedule, slot) > last;
  return { count, countIsExact, first: new Date(first), last: new Date(previousSlotMs(schedule, last)) };
}

function parseInstant(text: string | null, key: string): number | null {
  if (text === null) return null;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ScheduleError(`schedule state ${key} ${JSON.stringify(text)} is not an ISO-8601 instant`);
  return ms;
}
