import { WEEKDAYS, type Schedule } from '../policy.js';
import { parseCron, weeklyCronSpec, type CronSpec } from './cron.js';
import { ScheduleError } from './schedule-error.js';
import { checkTimeZone } from './zoned-time.js';

/** The shortest interval a policy may ask for (issue 11: "10 at least"). */
export const MIN_INTERVAL_S = 10;

/**
 * A schedule checked once and turned into what the slot search needs: a period in ms,
 * or a calendar spec in a zone (a weekly schedule is a cron spec with one time).
 */
export type CompiledSchedule =
  | { kind: 'interval'; intervalMs: number }
  | { kind: 'calendar'; spec: CronSpec; timeZone: string; label: string };

/** Every problem of `schedule`, each a sentence a policy refusal can list; empty when it is valid. */
export function scheduleProblems(schedule: Schedule): string[] {
  const outcome = compile(schedule);
  return 'problems' in outcome ? outcome.problems : [];
}

/** The compiled schedule; throws a `ScheduleError` with every problem when it is invalid. */
export function compileSchedule(schedule: Schedule): CompiledSchedule {
  const outcome = compile(schedule);
  if ('problems' in outcome) throw new ScheduleError(outcome.problems.join('; '));
  return outcome.compiled;
}

function compile(schedule: Schedule): { compiled: CompiledSchedule } | { problems: string[] } {
  const problems: string[] = [];
  const attempt = <T>(check: () => T): T | undefined => {
    try {
      return check();
    } catch (err) {
      if (!(err instanceof ScheduleError)) throw err;
      problems.push(err.message);
      return undefined;
    }
  };

  if ('interval_s' in schedule) {
    const seconds = schedule.interval_s;
    if (!Number.isInteger(seconds)) problems.push(`interval_s ${seconds} is not a whole number of seconds`);
    else if (seconds < MIN_INTERVAL_S) problems.push(`interval_s ${seconds} is below the minimum of ${MIN_INTERVAL_S}`);
    return problems.length > 0 ? { problems } : { compiled: { kind: 'interval', intervalMs: seconds * 1000 } };
  }
  if ('cron' in schedule) {
    const spec = attempt(() => parseCron(schedule.cron));
    attempt(() => checkTimeZone(schedule.tz));
    if (spec === undefined || problems.length > 0) return { problems };
    const label = `cron ${JSON.stringify(schedule.cron)} in ${schedule.tz}`;
    return { compiled: { kind: 'calendar', spec, timeZone: schedule.tz, label } };
  }
  if ('weekly' in schedule) {
    const { days, time, tz } = schedule.weekly;
    if (days.length === 0) problems.push('weekly days is empty: name at least one day');
    // WEEKDAYS runs mon..sun; a cron day-of-week counts from Sunday = 0.
    const weekdays = days.map((day) => {
      const index = WEEKDAYS.indexOf(day);
      if (index < 0) problems.push(`weekly day ${JSON.stringify(day)} is not one of ${WEEKDAYS.join(', ')}`);
      return (index + 1) % 7;
    });
    const timeOfDay = attempt(() => parseTimeOfDay(time));
    attempt(() => checkTimeZone(tz));
    if (timeOfDay === undefined || problems.length > 0) return { problems };
    const spec = weeklyCronSpec(weekdays, timeOfDay.hour, timeOfDay.minute);
    const label = `weekly ${days.join(',')} at ${time} in ${tz}`;
    return { compiled: { kind: 'calendar', spec, timeZone: tz, label } };
  }
  return { problems: ['schedule names none of interval_s, cron, weekly'] };
}

/** "HH:MM", two digits each, 00:00 to 23:59; "7:5" and "24:00" are refused, not guessed at. */
export const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function parseTimeOfDay(text: string): { hour: number; minute: number } {
  const match = TIME_OF_DAY.exec(text);
  if (match === null) throw new ScheduleError(`weekly time ${JSON.stringify(text)} is not a time of day HH:MM (00:00 to 23:59)`);
  return { hour: Number(match[1]), minute: Number(match[2]) };
}
