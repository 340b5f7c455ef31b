import type { ScheduleChecks } from '../parse-policy.js';
import { parseCron } from './cron.js';
import { ScheduleError } from './schedule-error.js';
import { checkTimeZone } from './zoned-time.js';

/**
 * The policy parser's view of the scheduler's own parsers, so a policy is refused for
 * exactly what the scheduler could not run: each check answers the bare problem (the
 * parser names the key and the value), or null.
 */
export const SCHEDULE_CHECKS: ScheduleChecks = {
  cron: (expression) => problemOf(() => parseCron(expression)),
  timeZone: (timeZone) => problemOf(() => checkTimeZone(timeZone)),
};

function problemOf(check: () => unknown): string | null {
  try {
    check();
    return null;
  } catch (err) {
    if (err instanceof ScheduleError) return err.problem;
    throw err;
  }
}
