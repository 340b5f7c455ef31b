import { describe, expect, it } from 'vitest';
import { cronMatchesDay, parseCron, type CronSpec } from '../../src/policy/schedule/cron.js';
import { ScheduleError } from '../../src/policy/schedule/schedule-error.js';

const range = (low: number, high: number, step = 1): number[] => {
  const values: number[] = [];
  for (let v = low; v <= high; v += step) values.push(v);
  return values;
};
const thrownBy = (run: () => unknown): Error => {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
};
const sorted = (values: ReadonlySet<number>): number[] => [...values].sort((a, b) => a - b);
const fields = (spec: CronSpec) => ({
  minutes: spec.minutes,
  hours: spec.hours,
  daysOfMonth: sorted(spec.daysOfMonth),
  months: sorted(spec.months),
  daysOfWeek: sorted(spec.daysOfWeek),
  dayMatchesEither: spec.dayMatchesEither,
});

describe('parseCron: valid expressions', () => {
  it('reads * as every value of each field', () => {
    expect(fields(parseCron('* * * * *'))).toEqual({
      minutes: range(0, 59),
      hours: range(0, 23),
      daysOfMonth: range(1, 31),
      months: range(1, 12),
      daysOfWeek: range(0, 6),
      dayMatchesEither: false,
    });
  });

  it('reads single values, lists, ranges and steps, and sorts and de-duplicates them', () => {
    const spec = fields(parseCron('5,0,5 8-10,22 1-31/10 */4 1-5'));
    expect(spec.minutes).toEqual([0, 5]);
    expect(spec.hours).toEqual([8, 9, 10, 22]);
    expect(spec.daysOfMonth).toEqual([1, 11, 21, 31]);
    expect(spec.months).toEqual([1, 5, 9]);
    expect(spec.daysOfWeek).toEqual([1, 2, 3, 4, 5]);
  });

  it('accepts every field at both of its bounds', () => {
    expect(fields(parseCron('0 0 1 1 0'))).toMatchObject({ minutes: [0], hours: [0], daysOfMonth: [1], months: [1], daysOfWeek: [0] });
    expect(fields(parseCron('59 23 31 12 7'))).toMatchObject({ minutes: [59], hours: [23], daysOfMonth: [31], months: [12], daysOfWeek: [0] });
  });

  it('reads month and day names in any case, also in ranges and with steps', () => {
    expect(fields(parseCron('0 22 * JAN,mar-May wed'))).toMatchObject({ months: [1, 3, 4, 5], daysOfWeek: [3] });
    expect(fields(parseCron('0 22 * jan-dec/3 Mon-FRI'))).toMatchObject({ months: [1, 4, 7, 10], daysOfWeek: [1, 2, 3, 4, 5] });
    expect(fields(parseCron('0 0 * * sun,sat'))).toMatchObject({ daysOfWeek: [0, 6] });
  });

  it('takes both 0 and 7 as Sunday, in ranges too', () => {
    expect(fields(parseCron('0 0 * * 7')).daysOfWeek).toEqual([0]);
    expect(fields(parseCron('0 0 * * 5-7')).daysOfWeek).toEqual([0, 5, 6]);
    expect(fields(parseCron('0 0 * * 0,7')).daysOfWeek).toEqual([0]);
  });

  it('accepts steps larger than the range (only the first value) and leading zeros', () => {
    expect(parseCron('*/60 * * * *').minutes).toEqual([0]);
    expect(parseCron('05 07 * * *')).toMatchObject({ minutes: [5], hours: [7] });
  });

  it('tolerates surrounding and repeated white space', () => {
    expect(fields(parseCron('  0\t22  *  * 3 '))).toEqual(fields(parseCron('0 22 * * 3')));
  });

  it('supports @hourly, @daily, @weekly and @monthly as their 5-field forms', () => {
    expect(fields(parseCron('@hourly'))).toEqual(fields(parseCron('0 * * * *')));
    expect(fields(parseCron('@daily'))).toEqual(fields(parseCron('0 0 * * *')));
    expect(fields(parseCron('@WEEKLY'))).toEqual(fields(parseCron('0 0 * * 0')));
    expect(fields(parseCron('@monthly'))).toEqual(fields(parseCron('0 0 1 * *')));
  });
});

describe("cronMatchesDay: Vixie's day rule", () => {
  // 2026-03-01 is a Sunday; 2026-03-02 a Monday; 2026-03-15 a Sunday.
  it('matches either day field when both are restricted', () => {
    const spec = parseCron('0 0 1,15 * mon');
    expect(spec.dayMatchesEither).toBe(true);
    expect(cronMatchesDay(spec, 1, 3, 0)).toBe(true); // the 1st, a Sunday
    expect(cronMatchesDay(spec, 2, 3, 1)).toBe(true); // a Monday, not the 1st
    expect(cronMatchesDay(spec, 3, 3, 2)).toBe(false);
  });

  it('needs both when either field starts with * (also */n, as in Vixie and cronie)', () => {
    const stepped = parseCron('0 0 */2 * mon');
    expect(stepped.dayMatchesEither).toBe(false);
    expect(cronMatchesDay(stepped, 3, 3, 2)).toBe(false); // odd day, Tuesday
    expect(cronMatchesDay(stepped, 2, 3, 1)).toBe(false); // Monday, even day
    expect(cronMatchesDay(stepped, 9, 3, 1)).toBe(true); // odd day and Monday

    const weekdaysOnly = parseCron('0 0 * * mon');
    expect(cronMatchesDay(weekdaysOnly, 2, 3, 1)).toBe(true);
    expect(cronMatchesDay(weekdaysOnly, 1, 3, 0)).toBe(false);
  });

  it('always requires the month', () => {
    const spec = parseCron('0 0 1 feb mon');
    expect(cronMatchesDay(spec, 1, 3, 0)).toBe(false);
    expect(cronMatchesDay(spec, 1, 2, 0)).toBe(true);
  });
});

describe('parseCron: malformed expressions', () => {
  const cases: [string, string][] = [
    ['', 'cron "": has 0 fields, expected 5 (minute hour day-of-month month day-of-week)'],
    ['0 22 * *', 'cron "0 22 * *": has 4 fields, expected 5 (minute hour day-of-month month day-of-week)'],
    ['0 0 22 * * 3', 'cron "0 0 22 * * 3": has 6 fields, expected 5 (minute hour day-of-month month day-of-week); seconds and years are not supported'],
    ['60 * * * *', 'cron "60 * * * *": minute 60 is outside 0-59'],
    ['0 25 * * 3', 'cron "0 25 * * 3": hour 25 is outside 0-23'],
    ['0 0 0 * *', 'cron "0 0 0 * *": day-of-month 0 is outside 1-31'],
    ['0 0 32 * *', 'cron "0 0 32 * *": day-of-month 32 is outside 1-31'],
    ['0 0 * 0 *', 'cron "0 0 * 0 *": month 0 is outside 1-12'],
    ['0 0 * 13 *', 'cron "0 0 * 13 *": month 13 is outside 1-12'],
    ['0 0 * * 8', 'cron "0 0 * * 8": day-of-week 8 is outside 0-7'],
    ['0 0 * * funday', 'cron "0 0 * * funday": day-of-week "funday" is not a number or a name (sun..sat)'],
    ['0 0 * foo *', 'cron "0 0 * foo *": month "foo" is not a number or a name (jan..dec)'],
    ['jan 0 * * *', 'cron "jan 0 * * *": minute "jan" is not a number'],
    ['0 0 * * mon-', 'cron "0 0 * * mon-": day-of-week "" is not a number or a name (sun..sat)'],
    ['-5 * * * *', 'cron "-5 * * * *": minute "" is not a number'],
    ['1.5 * * * *', 'cron "1.5 * * * *": minute "1.5" is not a number'],
    ['0 0 L * *', 'cron "0 0 L * *": day-of-month "L" is not a number'],
    ['0 0 ? * 1', 'cron "0 0 ? * 1": day-of-month "?" is not a number'],
    ['1,,2 * * * *', 'cron "1,,2 * * * *": minute "1,,2" has an empty list item'],
    ['0 5-3 * * *', 'cron "0 5-3 * * *": hour range "5-3" runs backwards'],
    ['0 1-2-3 * * *', 'cron "0 1-2-3 * * *": hour "1-2-3" is not a value or a range a-b'],
    ['*/0 * * * *', 'cron "*/0 * * * *": minute "*/0": the step must be a whole number of at least 1'],
    ['*/ * * * *', 'cron "*/ * * * *": minute "*/": the step must be a whole number of at least 1'],
    ['*/x * * * *', 'cron "*/x * * * *": minute "*/x": the step must be a whole number of at least 1'],
    ['*/2/3 * * * *', 'cron "*/2/3 * * * *": minute "*/2/3" has more than one step'],
    ['5/10 * * * *', 'cron "5/10 * * * *": minute "5/10": a step needs a range or * (write 5-59/10)'],
    ['0 0 30 2 *', 'cron "0 0 30 2 *": never runs: day-of-month "30" does not occur in month "2"'],
    ['0 0 31 4,6,9,11 *', 'cron "0 0 31 4,6,9,11 *": never runs: day-of-month "31" does not occur in month "4,6,9,11"'],
    ['@reboot', 'cron "@reboot": @reboot is not supported; use 5 fields or one of @hourly, @daily, @weekly, @monthly'],
    ['@yearly', 'cron "@yearly": @yearly is not supported; use 5 fields or one of @hourly, @daily, @weekly, @monthly'],
  ];

  it.each(cases)('%j is refused: %s', (expr, message) => {
    const error = thrownBy(() => parseCron(expr));
    expect(error).toBeInstanceOf(ScheduleError);
    expect(error.message).toBe(message);
  });

  it('keeps Feb 29 (a leap day exists) and a day-of-month with a weekday (Vixie: either)', () => {
    expect(() => parseCron('0 0 29 2 *')).not.toThrow();
    expect(() => parseCron('0 0 30 2 mon')).not.toThrow();
  });
});
