import { ScheduleError } from './schedule-error.js';

/**
 * Wall clocks in IANA time zones, through Intl (Node ships the full tz database), so
 * the agent carries no zone table of its own that could fall behind the host's.
 *
 * A wall-clock time is handled as a "wall ms": the UTC milliseconds of the same
 * fields (02:30 on 2026-03-29 is `Date.UTC(2026, 2, 29, 2, 30)`), so calendar arithmetic
 * on it is plain UTC arithmetic, free of DST.
 */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Only zones Intl accepts are cached, so the cache is bounded by the tz database. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (err) {
      if (err instanceof RangeError) throw new ScheduleError(`time zone ${JSON.stringify(timeZone)} is unknown`, 'is an unknown time zone');
      throw err;
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Throws a `ScheduleError` naming the zone unless it is one the tz database knows. */
export function checkTimeZone(timeZone: string): void {
  formatterFor(timeZone);
}

/** The wall clock in `timeZone` at `instantMs`, as wall ms (whole seconds). */
export function wallClockAt(instantMs: number, timeZone: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(instantMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return Date.UTC(fields.year!, fields.month! - 1, fields.day!, fields.hour!, fields.minute!, fields.second!);
}

/** The zone's offset from UTC at `instantMs`, in ms (CEST: +7,200,000). */
export function utcOffsetAt(instantMs: number, timeZone: string): number {
  const wholeSecond = instantMs - (((instantMs % 1000) + 1000) % 1000);
  return wallClockAt(wholeSecond, timeZone) - wholeSecond;
}

/**
 * Where a wall-clock time falls. `unique`: it occurs once. `repeated`: it occurs twice
 * (a fall-back) and `instantMs` is the first occurrence. `gap`: it never occurs (a
 * spring-forward skipped it) and `instantMs` is where it would be with the offset in
 * force before the gap, i.e. `gapMs` later on the wall clock (02:30 in Berlin's gap
 * runs at 03:30 CEST).
 */
export type WallClockResolution =
  | { kind: 'unique' | 'repeated'; instantMs: number }
  | { kind: 'gap'; instantMs: number; gapMs: number };

/**
 * The instant of the wall-clock time `wallMs` in `timeZone`, by the rules above: a
 * repeated time runs once (its first occurrence), a skipped time still runs, shifted
 * past the gap. Temporal's `disambiguation: 'compatible'` gives the same answers.
 */
export function resolveWallClock(wallMs: number, timeZone: string): WallClockResolution {
  // A zone changes its offset at most once within a day of any time (true of the whole
  // tz database in the years a backup runs), so the offsets a day before and a day after
  // are the only two candidates.
  const offsetBefore = utcOffsetAt(wallMs - DAY_MS, timeZone);
  const offsetAfter = utcOffsetAt(wallMs + DAY_MS, timeZone);
  const earlier = wallMs - Math.max(offsetBefore, offsetAfter);
  const later = wallMs - Math.min(offsetBefore, offsetAfter);
  const occursAt = (instantMs: number): boolean => wallClockAt(instantMs, timeZone) === wallMs;
  const earlierOccurs = occursAt(earlier);
  const laterOccurs = earlier !== later && occursAt(later);
  if (earlierOccurs) return { kind: laterOccurs ? 'repeated' : 'unique', instantMs: earlier };
  if (laterOccurs) return { kind: 'unique', instantMs: later };
  if (offsetAfter > offsetBefore) {
    return { kind: 'gap', instantMs: wallMs - offsetBefore, gapMs: offsetAfter - offsetBefore };
  }
  // Not reachable with real zones (two changes within two days); keep the time running.
  return { kind: 'unique', instantMs: wallMs - offsetAfter };
}
