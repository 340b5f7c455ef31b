import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../src/policy/policy.js';
import { compileSchedule } from '../../src/policy/schedule/compile.js';
import { matchingWallTimes } from '../../src/policy/schedule/wall-times.js';
import { nextSlot, nextSlotMs, previousSlot, previousSlotMs } from '../../src/policy/schedule/next-slot.js';
import { DAY_MS, HOUR_MS, resolveWallClock, utcOffsetAt, wallClockAt } from '../../src/policy/schedule/zoned-time.js';

/** Every slot in (from, until], by repeated nextSlot. */
function slotsBetween(schedule: Schedule, from: string, until: string): Date[] {
  const slots: Date[] = [];
  const end = Date.parse(until);
  for (let slot = nextSlot(schedule, new Date(from)); slot.getTime() <= end; slot = nextSlot(schedule, slot)) slots.push(slot);
  return slots;
}

const WEEKDAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
/** "Wed 2026-03-25 22:00 +01:00": what a clock on the wall in `zone` shows at `instant`. */
function onTheWall(instant: Date, zone: string): string {
  const wallMs = wallClockAt(instant.getTime(), zone);
  const offsetMin = utcOffsetAt(instant.getTime(), zone) / 60_000;
  const sign = offsetMin < 0 ? '-' : '+';
  const hhmm = `${String(Math.floor(Math.abs(offsetMin) / 60)).padStart(2, '0')}:${String(Math.abs(offsetMin) % 60).padStart(2, '0')}`;
  const fields = new Date(wallMs).toISOString().slice(0, 16).replace('T', ' ');
  return `${WEEKDAY_NAMES[new Date(wallMs).getUTCDay()]} ${fields} ${sign}${hhmm}`;
}

const iso = (dates: Date[]): string[] => dates.map((d) => d.toISOString().replace(':00.000Z', 'Z'));

describe('weekly Wed 22:00 Europe/Berlin across both 2026 DST changes', () => {
  const weekly: Schedule = { weekly: { days: ['wed'], time: '22:00', tz: 'Europe/Berlin' } };
  const slots = slotsBetween(weekly, '2026-03-01T00:00Z', '2026-11-30T00:00Z');

  it('fires every Wednesday at 22:00 on the wall, none doubled or dropped', () => {
    // Wednesdays from 2026-03-04 to 2026-11-25: 39 of them.
    expect(slots).toHaveLength(39);
    for (const slot of slots) expect(onTheWall(slot, 'Europe/Berlin')).toMatch(/^Wed \d{4}-\d\d-\d\d 22:00 /);
    for (let i = 1; i < slots.length; i++) {
      const wallGap = wallClockAt(slots[i]!.getTime(), 'Europe/Berlin') - wallClockAt(slots[i - 1]!.getTime(), 'Europe/Berlin');
      expect(wallGap).toBe(7 * DAY_MS);
    }
  });

  it('has the right UTC offsets on each side of the changes', () => {
    const around = (from: string, until: string) =>
      slots.filter((s) => s >= new Date(from) && s <= new Date(until)).map((s) => onTheWall(s, 'Europe/Berlin') + ' = ' + iso([s])[0]);
    expect(around('2026-03-20T00:00Z', '2026-04-05T00:00Z')).toEqual([
      'Wed 2026-03-25 22:00 +01:00 = 2026-03-25T21:00Z',
      'Wed 2026-04-01 22:00 +02:00 = 2026-04-01T20:00Z', // 167 h later
    ]);
    expect(around('2026-10-15T00:00Z', '2026-11-01T00:00Z')).toEqual([
      'Wed 2026-10-21 22:00 +02:00 = 2026-10-21T20:00Z',
      'Wed 2026-10-28 22:00 +01:00 = 2026-10-28T21:00Z', // 169 h later
    ]);
  });
});

describe('a slot at 02:30 on the DST Sundays (Europe/Berlin)', () => {
  const weekly: Schedule = { weekly: { days: ['sun'], time: '02:30', tz: 'Europe/Berlin' } };
  const cron: Schedule = { cron: '30 2 * * 0', tz: 'Europe/Berlin' };

  it('fires exactly once each week: shifted past the spring gap, at the first 02:30 in the autumn', () => {
    const spring = slotsBetween(weekly, '2026-03-20T00:00Z', '2026-04-06T00:00Z');
    expect(spring.map((s) => onTheWall(s, 'Europe/Berlin'))).toEqual([
      'Sun 2026-03-22 02:30 +01:00',
      'Sun 2026-03-29 03:30 +02:00', // 02:30 does not exist that night: it runs an hour on
      'Sun 2026-04-05 02:30 +02:00',
    ]);
    expect(iso(spring)[1]).toBe('2026-03-29T01:30Z');
    const autumn = slotsBetween(weekly, '2026-10-17T00:00Z', '2026-11-02T00:00Z');
    expect(autumn.map((s) => onTheWall(s, 'Europe/Berlin'))).toEqual([
      'Sun 2026-10-18 02:30 +02:00',
      'Sun 2026-10-25 02:30 +02:00', // 02:30 happens twice that night: only the first runs
      'Sun 2026-11-01 02:30 +01:00',
    ]);
  });

  it('is the same for the cron `30 2 * * 0`, all year', () => {
    const fromWeekly = slotsBetween(weekly, '2026-01-01T00:00Z', '2027-01-01T00:00Z');
    expect(fromWeekly).toHaveLength(52);
    expect(slotsBetween(cron, '2026-01-01T00:00Z', '2027-01-01T00:00Z')).toEqual(fromWeekly);
  });

  it('does not fire the autumn slot again from the second 02:30 (a restart inside the repeated hour)', () => {
    // 01:10Z is 02:10 CET, in the repeated hour, after the first 02:30 (00:30Z) has fired.
    expect(nextSlot(cron, new Date('2026-10-25T01:10Z')).toISOString()).toBe('2026-11-01T01:30:00.000Z');
    expect(previousSlot(cron, new Date('2026-10-25T01:40Z')).toISOString()).toBe('2026-10-25T00:30:00.000Z');
  });

  it('still fires the spring slot when asked just after the gap opened', () => {
    // 01:10Z is 03:10 CEST: wall 02:30 lies "before" it on the wall but runs at 01:30Z.
    expect(nextSlot(cron, new Date('2026-03-29T01:10Z')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
  });
});

describe('an hourly cron across the DST changes (Europe/Berlin)', () => {
  it('fires each wall hour once in the autumn: 02:00 once, 03:00 once', () => {
    const slots = slotsBetween({ cron: '0 * * * *', tz: 'Europe/Berlin' }, '2026-10-24T22:30Z', '2026-10-25T04:00Z');
    expect(slots.map((s) => onTheWall(s, 'Europe/Berlin'))).toEqual([
      'Sun 2026-10-25 01:00 +02:00',
      'Sun 2026-10-25 02:00 +02:00',
      'Sun 2026-10-25 03:00 +01:00',
      'Sun 2026-10-25 04:00 +01:00',
      'Sun 2026-10-25 05:00 +01:00',
    ]);
  });

  it('in the spring, the skipped 02:00 and the real 03:00 are one slot, not two', () => {
    const onTheHour = slotsBetween({ cron: '0 * * * *', tz: 'Europe/Berlin' }, '2026-03-28T23:30Z', '2026-03-29T03:30Z');
    expect(iso(onTheHour)).toEqual(['2026-03-29T00:00Z', '2026-03-29T01:00Z', '2026-03-29T02:00Z', '2026-03-29T03:00Z']);
    const halfPast = slotsBetween({ cron: '30 * * * *', tz: 'Europe/Berlin' }, '2026-03-28T23:45Z', '2026-03-29T03:00Z');
    expect(iso(halfPast)).toEqual(['2026-03-29T00:30Z', '2026-03-29T01:30Z', '2026-03-29T02:30Z']);
  });
});

describe('America/New_York and Asia/Shanghai', () => {
  it('weekly Wed 22:00 in New York moves from 03:00Z to 02:00Z Thursday at the March change, and back in November', () => {
    const weekly: Schedule = { weekly: { days: ['wed'], time: '22:00', tz: 'America/New_York' } };
    expect(iso(slotsBetween(weekly, '2026-02-28T00:00Z', '2026-03-13T00:00Z'))).toEqual(['2026-03-05T03:00Z', '2026-03-12T02:00Z']);
    expect(iso(slotsBetween(weekly, '2026-10-25T00:00Z', '2026-11-06T00:00Z'))).toEqual(['2026-10-29T02:00Z', '2026-11-05T03:00Z']);
  });

  it('a daily 02:30 in New York runs at 03:30 EDT on the spring day; a daily 01:30 runs once on the autumn day', () => {
    expect(iso(slotsBetween({ cron: '30 2 * * *', tz: 'America/New_York' }, '2026-03-07T00:00Z', '2026-03-10T00:00Z'))).toEqual([
      '2026-03-07T07:30Z',
      '2026-03-08T07:30Z',
      '2026-03-09T06:30Z',
    ]);
    expect(iso(slotsBetween({ cron: '30 1 * * *', tz: 'America/New_York' }, '2026-10-31T00:00Z', '2026-11-03T00:00Z'))).toEqual([
      '2026-10-31T05:30Z',
      '2026-11-01T05:30Z',
      '2026-11-02T06:30Z',
    ]);
  });

  it('Asia/Shanghai has no DST: weekly Wed 22:00 is 14:00Z every week of the year, 7 days apart', () => {
    const slots = slotsBetween({ weekly: { days: ['wed'], time: '22:00', tz: 'Asia/Shanghai' } }, '2026-01-01T00:00Z', '2027-01-01T00:00Z');
    expect(slots).toHaveLength(52);
    for (const [i, slot] of slots.entries()) {
      expect(slot.toISOString()).toMatch(/T14:00:00\.000Z$/);
      if (i > 0) expect(slot.getTime() - slots[i - 1]!.getTime()).toBe(7 * DAY_MS);
    }
  });

  it('several weekdays and a multi-field cron give their slots in order', () => {
    const weekly: Schedule = { weekly: { days: ['fri', 'mon'], time: '07:05', tz: 'Asia/Shanghai' } };
    expect(iso(slotsBetween(weekly, '2026-03-01T00:00Z', '2026-03-10T00:00Z'))).toEqual([
      '2026-03-01T23:05Z', // Mon 2 March 07:05 CST
      '2026-03-05T23:05Z', // Fri 6 March
      '2026-03-08T23:05Z', // Mon 9 March
    ]);
    // Vixie's either-rule: the 1st of the month, and every Sunday.
    expect(iso(slotsBetween({ cron: '0 12 1 * sun', tz: 'UTC' }, '2026-02-25T00:00Z', '2026-03-16T00:00Z'))).toEqual([
      '2026-03-01T12:00Z',
      '2026-03-08T12:00Z',
      '2026-03-15T12:00Z',
    ]);
  });

  it('finds rare slots without scanning minute by minute: Feb 29, and Feb 29 on a Sunday', () => {
    expect(nextSlot({ cron: '0 0 29 2 *', tz: 'UTC' }, new Date('2026-01-01T00:00Z')).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    // A day-of-week starting with * makes both day fields count: Feb 29 that is a Sunday.
    const rare: Schedule = { cron: '0 0 29 2 */7', tz: 'UTC' };
    expect(nextSlot(rare, new Date('2026-01-01T00:00Z')).toISOString()).toBe('2032-02-29T00:00:00.000Z');
    expect(previousSlot(rare, new Date('2026-01-01T00:00Z')).toISOString()).toBe('2004-02-29T00:00:00.000Z');
  });
});

describe('nextSlot and previousSlot against a reference built wall minute by wall minute', () => {
  // The reference: every wall time the cron names, mapped by resolveWallClock, as a set of
  // instants. Walking nextSlot must give exactly that set in order (no slot doubled,
  // none dropped, none out of order), and previousSlot must walk it back.
  // '15,40 2 * * *' at Lord Howe's 30-minute gap: the shifted 02:15 runs after the real 02:40.
  const crons = ['*/15 * * * *', '30 2 * * *', '0,30 1-3 * * *', '15,40 2 * * *', '45 1 * * 0', '0 * * * *'];
  const windows: [string, string][] = [
    ['Europe/Berlin', '2026-03-29T01:00Z'],
    ['Europe/Berlin', '2026-10-25T01:00Z'],
    ['America/New_York', '2026-03-08T07:00Z'],
    ['America/New_York', '2026-11-01T06:00Z'],
    ['Australia/Lord_Howe', '2026-04-04T15:00Z'],
    ['Australia/Lord_Howe', '2026-10-03T15:30Z'],
    ['Pacific/Apia', '2011-12-30T10:00Z'],
    ['Asia/Shanghai', '2026-03-29T01:00Z'],
  ];

  it.each(windows)('%s around %s', (zone, transition) => {
    const centre = Date.parse(transition);
    const from = centre - 12 * HOUR_MS;
    const until = centre + 12 * HOUR_MS;
    for (const cron of crons) {
      const compiled = compileSchedule({ cron, tz: zone });
      if (compiled.kind !== 'calendar') throw new Error('expected a calendar schedule');
      const wallFrom = wallClockAt(centre, zone) - 3 * DAY_MS;
      const reference = new Set<number>();
      for (const wallMs of matchingWallTimes(compiled.spec, wallFrom, wallFrom + 6 * DAY_MS)) {
        const instant = resolveWallClock(wallMs, zone).instantMs;
        if (instant > from && instant <= until) reference.add(instant);
      }
      const expected = [...reference].sort((a, b) => a - b);

      const walked: number[] = [];
      for (let slot = nextSlotMs(compiled, from); slot <= until; slot = nextSlotMs(compiled, slot)) walked.push(slot);
      expect(walked.map((ms) => new Date(ms).toISOString()), `${cron} in ${zone}`).toEqual(expected.map((ms) => new Date(ms).toISOString()));

      // Asked from any instant, not only from a slot (a restart can come at any time).
      for (let after = from; after < until; after += 7 * 60_000) {
        const answer = nextSlotMs(compiled, after);
        const wanted = expected.find((slot) => slot > after);
        const label = `${cron} in ${zone} after ${new Date(after).toISOString()}`;
        if (wanted === undefined) expect(answer, label).toBeGreaterThan(until);
        else expect(answer, label).toBe(wanted);
      }

      // Back again, near the change (bisection costs ~40 searches a step).
      for (const [i, slot] of expected.entries()) {
        if (Math.abs(slot - centre) > 3 * HOUR_MS) continue;
        expect(previousSlotMs(compiled, slot)).toBe(slot);
        if (i > 0) expect(previousSlotMs(compiled, slot - 1), `${cron} in ${zone} before ${new Date(slot).toISOString()}`).toBe(expected[i - 1]);
      }
    }
  });
});
