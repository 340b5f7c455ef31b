import { cronMatchesDay, type CronSpec } from './cron.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './zoned-time.js';

/**
 * The wall-clock minutes `spec` names, from `fromWallMs` (inclusive) up to `untilWallMs`,
 * ascending, as wall ms (zoned-time.ts).
 *
 * It steps by month, then by day, then through the spec's own hours and minutes, so a
 * day or month that cannot match costs one test, never 1,440 minute checks. It is lazy:
 * the slot search stops after the first few.
 */
export function* matchingWallTimes(spec: CronSpec, fromWallMs: number, untilWallMs: number): Generator<number> {
  const from = Math.ceil(fromWallMs / MINUTE_MS) * MINUTE_MS;
  let dayStart = from - (((from % DAY_MS) + DAY_MS) % DAY_MS);
  while (dayStart <= untilWallMs) {
    const day = new Date(dayStart);
    if (!spec.months.has(day.getUTCMonth() + 1)) {
      dayStart = Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 1);
      continue;
    }
    if (cronMatchesDay(spec, day.getUTCDate(), day.getUTCMonth() + 1, day.getUTCDay())) {
      for (const hour of spec.hours) {
        for (const minute of spec.minutes) {
          const wallMs = dayStart + hour * HOUR_MS + minute * MINUTE_MS;
          if (wallMs >= from && wallMs <= untilWallMs) yield wallMs;
        }
      }
    }
    dayStart += DAY_MS;
  }
}
