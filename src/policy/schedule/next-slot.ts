import type { Schedule } from '../policy.js';
import { compileSchedule, type CompiledSchedule } from './compile.js';
import { ScheduleError } from './schedule-error.js';
import { matchingWallTimes } from './wall-times.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, resolveWallClock, utcOffsetAt } from './zoned-time.js';

/**
 * A schedule's slots: the instants a backup is due (before jitter).
 *
 * - interval: the multiples of the interval since the Unix epoch, so a restarted agent
 *   lands on the same slots and the schedule never drifts by the time a run takes.
 * - cron and weekly: each matching wall-clock minute in the zone, placed by
 *   `resolveWallClock`: a time the clocks pass twice fires once (its first occurrence),
 *   a time a spring-forward skips fires anyway, shifted past the gap. Two wall times that
 *   land on one instant (02:30 shifted and a real 03:30) are one slot.
 */

/** Far enough for the rarest valid cron: Feb 29 that is also a given weekday, up to 40 years apart. */
const SEARCH_SPAN_MS = 100 * 366 * DAY_MS;
/** How far back a gap can start and still shift its wall times past `after` (Samoa skipped a whole day in 2011). */
const GAP_LOOKBACK_MS = 2 * DAY_MS;
/** How far back `previousSlotMs` looks for a slot, widening only when the nearer window has none. */
const PROBES_BACK_MS = [MINUTE_MS, HOUR_MS, DAY_MS, 8 * DAY_MS, 32 * DAY_MS, 366 * DAY_MS, 8 * 366 * DAY_MS, SEARCH_SPAN_MS];

/** The first slot strictly after `after`. */
export function nextSlot(schedule: Schedule, after: Date): Date {
  return new Date(nextSlotMs(compileSchedule(schedule), after.getTime()));
}

/** The last slot at or before `atOrBefore`. */
export function previousSlot(schedule: Schedule, atOrBefore: Date): Date {
  return new Date(previousSlotMs(compileSchedule(schedule), atOrBefore.getTime()));
}

/** Whether `instant` is one of the schedule's slots. */
export function isSlot(schedule: Schedule, instant: Date): boolean {
  return isSlotMs(compileSchedule(schedule), instant.getTime());
}

export function nextSlotMs(schedule: CompiledSchedule, afterMs: number): number {
  if (schedule.kind === 'interval') return (Math.floor(afterMs / schedule.intervalMs) + 1) * schedule.intervalMs;
  const { spec, timeZone } = schedule;
  // Wall times are walked in order, from the wall clock `after` shows under the smallest
  // offset of the last two days: after a spring-forward, a wall time inside the gap lies
  // before `after`'s wall time yet runs after `after`.
  const offset = Math.min(utcOffsetAt(afterMs, timeZone), utcOffsetAt(afterMs - GAP_LOOKBACK_MS, timeZone));
  const fromWallMs = afterMs + offset;
  let earliest: number | undefined;
  let lookUntilWallMs = Infinity;
  for (const wallMs of matchingWallTimes(spec, fromWallMs, fromWallMs + SEARCH_SPAN_MS)) {
    if (wallMs >= lookUntilWallMs) break;
    const at = resolveWallClock(wallMs, timeZone);
    // At or before `after`: an earlier time, or the second pass of a fall-back (fired already).
    if (at.instantMs <= afterMs) continue;
    if (earliest === undefined) {
      if (at.kind !== 'gap') return at.instantMs;
      // A shifted time runs as late as the real wall time `gapMs` on; real times in
      // between run earlier than it, so they are looked at too before choosing.
      earliest = at.instantMs;
      lookUntilWallMs = wallMs + at.gapMs;
    } else {
      earliest = Math.min(earliest, at.instantMs);
    }
  }
  if (earliest === undefined) throw new ScheduleError(`${schedule.label} names no time within 100 years`);
  return earliest;
}

export function previousSlotMs(schedule: CompiledSchedule, atOrBeforeMs: number): number {
  if (schedule.kind === 'interval') return Math.floor(atOrBeforeMs / schedule.intervalMs) * schedule.intervalMs;
  // Walking wall times backwards would need the DST rules twice, mirrored. Instead,
  // bisect on `nextSlotMs`, which is monotonic: keep `nextSlotMs(low) <= atOrBefore <
  // nextSlotMs(high)` until they are 1 ms apart; then `nextSlotMs(low)` is the answer.
  let high = atOrBeforeMs;
  let low: number | undefined;
  for (const back of PROBES_BACK_MS) {
    const probe = atOrBeforeMs - back;
    if (nextSlotMs(schedule, probe) <= atOrBeforeMs) {
      low = probe;
      break;
    }
    high = probe;
  }
  if (low === undefined) throw new ScheduleError(`${schedule.label} names no time within 100 years`);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (nextSlotMs(schedule, middle) <= atOrBeforeMs) low = middle;
    else high = middle;
  }
  return nextSlotMs(schedule, low);
}

export function isSlotMs(schedule: CompiledSchedule, instantMs: number): boolean {
  return nextSlotMs(schedule, instantMs - 1) === instantMs;
}
