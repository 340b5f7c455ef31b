import type { ScheduleChecks } from './parse-policy.js';

/**
 * The least a schedule must be before the scheduler's own cron parser plugs in: a cron
 * expression of five fields made of cron's characters, and a time zone this host's ICU
 * knows. The scheduler's parser, when wired in its place, also checks each field's range.
 */
export const BASIC_SCHEDULE_CHECKS: ScheduleChecks = {
  cron(expression) {
    const fields = expression.trim().split(/\s+/);
    if (fields.length !== 5) return `has ${fields.length} field${fields.length === 1 ? '' : 's'}; a cron expression has 5 (minute hour day-of-month month day-of-week)`;
    const bad = fields.find((f) => !/^[A-Za-z0-9*,/-]+$/.test(f));
    return bad === undefined ? null : `field ${JSON.stringify(bad.slice(0, 32))} is not a cron field`;
  },
  timeZone(tz) {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: tz });
      return null;
    } catch (err) {
      if (err instanceof RangeError) return 'unknown time zone (give an IANA name such as "Europe/Berlin" or "UTC")';
      throw err;
    }
  },
};
