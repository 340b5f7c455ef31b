import type { Schedule } from '../policy.js';

/** The zone a schedule's days are counted in (GFS retention's calendar): its own, or UTC for an interval. */
export function calendarZoneOf(schedule: Schedule | null): string {
  if (schedule === null || 'interval_s' in schedule) return 'UTC';
  return 'cron' in schedule ? schedule.tz : schedule.weekly.tz;
}
