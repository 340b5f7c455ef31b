import { describe, expect, it } from 'vitest';
import type { Schedule, Weekday } from '../../src/policy/policy.js';
import { compileSchedule, parseTimeOfDay, scheduleProblems } from '../../src/policy/schedule/compile.js';
import { ScheduleError } from '../../src/policy/schedule/schedule-error.js';
import { nextSlot } from '../../src/policy/schedule/next-slot.js';

describe('scheduleProblems: every problem of a schedule, for the policy refusal', () => {
  it('is empty for valid schedules of each kind', () => {
    expect(scheduleProblems({ interval_s: 10 })).toEqual([]);
    expect(scheduleProblems({ cron: '0 22 * * 3', tz: 'Europe/Berlin' })).toEqual([]);
    expect(scheduleProblems({ weekly: { days: ['wed'], time: '22:00', tz: 'Asia/Shanghai' } })).toEqual([]);
  });

  it('names an unknown time zone', () => {
    expect(scheduleProblems({ cron: '0 22 * * 3', tz: 'Mars/Olympus' })).toEqual(['time zone "Mars/Olympus" is unknown']);
    expect(scheduleProblems({ weekly: { days: ['wed'], time: '22:00', tz: 'Mars/Olympus' } })).toEqual([
      'time zone "Mars/Olympus" is unknown',
    ]);
  });

  it('lists a malformed cron and an unknown zone together', () => {
    expect(scheduleProblems({ cron: '0 25 * * 3', tz: 'Mars/Olympus' })).toEqual([
      'cron "0 25 * * 3": hour 25 is outside 0-23',
      'time zone "Mars/Olympus" is unknown',
    ]);
  });

  it.each(['25:00', '24:00', '7:5', '7:05', '22:60', '22:00:00', '', 'noon'])('refuses the weekly time %j', (time) => {
    expect(scheduleProblems({ weekly: { days: ['wed'], time, tz: 'Europe/Berlin' } })).toEqual([
      `weekly time ${JSON.stringify(time)} is not a time of day HH:MM (00:00 to 23:59)`,
    ]);
  });

  it('accepts the first and last minute of the day', () => {
    expect(parseTimeOfDay('00:00')).toEqual({ hour: 0, minute: 0 });
    expect(parseTimeOfDay('23:59')).toEqual({ hour: 23, minute: 59 });
  });

  it('refuses an empty day list and unknown day names, with the rest of the problems', () => {
    const schedule: Schedule = { weekly: { days: ['wed', 'funday' as Weekday], time: '7:5', tz: 'Mars/Olympus' } };
    expect(scheduleProblems(schedule)).toEqual([
      'weekly day "funday" is not one of mon, tue, wed, thu, fri, sat, sun',
      'weekly time "7:5" is not a time of day HH:MM (00:00 to 23:59)',
      'time zone "Mars/Olympus" is unknown',
    ]);
    expect(scheduleProblems({ weekly: { days: [], time: '22:00', tz: 'UTC' } })).toEqual(['weekly days is empty: name at least one day']);
  });

  it('refuses intervals under 10 s or not whole seconds', () => {
    expect(scheduleProblems({ interval_s: 9 })).toEqual(['interval_s 9 is below the minimum of 10']);
    expect(scheduleProblems({ interval_s: 0 })).toEqual(['interval_s 0 is below the minimum of 10']);
    expect(scheduleProblems({ interval_s: 10.5 })).toEqual(['interval_s 10.5 is not a whole number of seconds']);
    expect(scheduleProblems({ interval_s: Number.NaN })).toEqual(['interval_s NaN is not a whole number of seconds']);
  });

  it('refuses an object that is no schedule', () => {
    expect(scheduleProblems({} as Schedule)).toEqual(['schedule names none of interval_s, cron, weekly']);
  });
});

describe('compileSchedule and the slot functions throw a ScheduleError', () => {
  it('with every problem in its message', () => {
    expect(() => compileSchedule({ cron: '0 25 * * 3', tz: 'Mars/Olympus' })).toThrow(
      new ScheduleError('cron "0 25 * * 3": hour 25 is outside 0-23; time zone "Mars/Olympus" is unknown'),
    );
    expect(() => nextSlot({ weekly: { days: ['wed'], time: '25:00', tz: 'UTC' } }, new Date(0))).toThrow(ScheduleError);
  });
});
