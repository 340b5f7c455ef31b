import { describe, expect, it } from 'vitest';
import { ScheduleError } from '../../src/policy/schedule/schedule-error.js';
import {
  checkTimeZone,
  HOUR_MS,
  MINUTE_MS,
  resolveWallClock,
  utcOffsetAt,
  wallClockAt,
} from '../../src/policy/schedule/zoned-time.js';

const at = (iso: string): number => Date.parse(iso);
/** A wall-clock time written as ISO without a zone: its fields as UTC ms. */
const wall = (fields: string): number => Date.parse(`${fields}Z`);

describe('checkTimeZone', () => {
  it('accepts IANA names (any case) and UTC', () => {
    for (const zone of ['Europe/Berlin', 'europe/berlin', 'America/New_York', 'Asia/Shanghai', 'UTC']) {
      expect(() => checkTimeZone(zone)).not.toThrow();
    }
  });

  it.each(['Mars/Olympus', '', 'Europe/Berlin '])('refuses %j, naming it', (zone) => {
    expect(() => checkTimeZone(zone)).toThrow(ScheduleError);
    expect(() => checkTimeZone(zone)).toThrow(`time zone ${JSON.stringify(zone)} is unknown`);
  });
});

describe('wallClockAt and utcOffsetAt', () => {
  it('reads the wall clock and the offset in winter and summer', () => {
    expect(wallClockAt(at('2026-01-15T12:00:00Z'), 'Europe/Berlin')).toBe(wall('2026-01-15T13:00:00'));
    expect(utcOffsetAt(at('2026-07-15T12:00:00Z'), 'Europe/Berlin')).toBe(2 * HOUR_MS);
    expect(utcOffsetAt(at('2026-07-15T12:00:00Z'), 'America/New_York')).toBe(-4 * HOUR_MS);
    expect(utcOffsetAt(at('2026-01-15T12:00:00Z'), 'America/New_York')).toBe(-5 * HOUR_MS);
    expect(utcOffsetAt(at('2026-07-15T12:00:00Z'), 'Asia/Shanghai')).toBe(8 * HOUR_MS);
    expect(utcOffsetAt(at('2026-01-15T12:00:00.999Z'), 'Asia/Shanghai')).toBe(8 * HOUR_MS);
  });

  it('switches offset at the exact transition instant', () => {
    expect(utcOffsetAt(at('2026-03-29T00:59:59Z'), 'Europe/Berlin')).toBe(HOUR_MS);
    expect(utcOffsetAt(at('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe(2 * HOUR_MS);
    expect(utcOffsetAt(at('2026-10-25T00:59:59Z'), 'Europe/Berlin')).toBe(2 * HOUR_MS);
    expect(utcOffsetAt(at('2026-10-25T01:00:00Z'), 'Europe/Berlin')).toBe(HOUR_MS);
  });
});

describe('resolveWallClock: the DST rules', () => {
  const cases: [string, string, string, string, number?][] = [
    // zone, wall time, kind, instant, gap
    ['Europe/Berlin', '2026-03-29T01:59', 'unique', '2026-03-29T00:59Z'],
    ['Europe/Berlin', '2026-03-29T02:00', 'gap', '2026-03-29T01:00Z', HOUR_MS],
    ['Europe/Berlin', '2026-03-29T02:30', 'gap', '2026-03-29T01:30Z', HOUR_MS], // = 03:30 CEST
    ['Europe/Berlin', '2026-03-29T03:00', 'unique', '2026-03-29T01:00Z'],
    ['Europe/Berlin', '2026-03-29T03:30', 'unique', '2026-03-29T01:30Z'],
    ['Europe/Berlin', '2026-10-25T01:59', 'unique', '2026-10-24T23:59Z'],
    ['Europe/Berlin', '2026-10-25T02:00', 'repeated', '2026-10-25T00:00Z'], // first: CEST
    ['Europe/Berlin', '2026-10-25T02:59', 'repeated', '2026-10-25T00:59Z'],
    ['Europe/Berlin', '2026-10-25T03:00', 'unique', '2026-10-25T02:00Z'],
    ['America/New_York', '2026-03-08T02:30', 'gap', '2026-03-08T07:30Z', HOUR_MS], // = 03:30 EDT
    ['America/New_York', '2026-11-01T01:30', 'repeated', '2026-11-01T05:30Z'], // first: EDT
    ['America/New_York', '2026-11-01T02:30', 'unique', '2026-11-01T07:30Z'],
    ['Asia/Shanghai', '2026-03-29T02:30', 'unique', '2026-03-28T18:30Z'],
    ['Asia/Shanghai', '2026-10-25T02:30', 'unique', '2026-10-24T18:30Z'],
    // Lord Howe moves its clocks by 30 minutes: 02:00 (+10:30) becomes 02:30 (+11).
    ['Australia/Lord_Howe', '2026-10-04T02:15', 'gap', '2026-10-03T15:45Z', 30 * MINUTE_MS],
    // Samoa skipped 30 December 2011 whole (from UTC-10 to UTC+14).
    ['Pacific/Apia', '2011-12-30T12:00', 'gap', '2011-12-30T22:00Z', 24 * HOUR_MS],
  ];

  it.each(cases)('%s %s is %s at %s', (zone, wallTime, kind, instant, gapMs) => {
    const resolved = resolveWallClock(wall(`${wallTime}:00`), zone);
    expect(resolved.kind).toBe(kind);
    expect(new Date(resolved.instantMs).toISOString()).toBe(new Date(instant).toISOString());
    if (resolved.kind === 'gap') expect(resolved.gapMs).toBe(gapMs);
  });

  // Checks the rules against their definition, minute by minute, through each zone's
  // transitions: every wall minute the zone shows maps to the first instant showing it;
  // one it never shows maps to where the clock reads `gapMs` later, i.e. the instant the
  // wall time would have had with the offset from before the gap.
  const windows: [string, string, number, number][] = [
    // zone, transition, minutes skipped, minutes shown twice
    ['Europe/Berlin', '2026-03-29T01:00Z', 60, 0],
    ['Europe/Berlin', '2026-10-25T01:00Z', 0, 60],
    ['America/New_York', '2026-03-08T07:00Z', 60, 0],
    ['America/New_York', '2026-11-01T06:00Z', 0, 60],
    ['Australia/Lord_Howe', '2026-04-04T15:00Z', 0, 30],
    ['Australia/Lord_Howe', '2026-10-03T15:30Z', 30, 0],
    ['Pacific/Apia', '2011-12-30T10:00Z', 24 * 60, 0],
  ];

  it.each(windows)('%s around %s agrees with a minute-by-minute scan', (zone, transition, skipped, repeated) => {
    const centre = at(transition);
    const firstShown = new Map<number, number>();
    for (let instant = centre - 30 * HOUR_MS; instant <= centre + 30 * HOUR_MS; instant += MINUTE_MS) {
      const shown = wallClockAt(instant, zone);
      if (!firstShown.has(shown)) firstShown.set(shown, instant);
    }
    const fromWall = wallClockAt(centre - 3 * HOUR_MS, zone);
    const untilWall = wallClockAt(centre + 3 * HOUR_MS, zone);
    let gaps = 0;
    let repeats = 0;
    for (let wallMs = fromWall; wallMs <= untilWall; wallMs += MINUTE_MS) {
      const resolved = resolveWallClock(wallMs, zone);
      const expected = firstShown.get(wallMs);
      if (expected !== undefined) {
        expect(resolved.instantMs).toBe(expected);
        expect(resolved.kind).not.toBe('gap');
        if (resolved.kind === 'repeated') repeats++;
      } else {
        gaps++;
        expect(resolved.kind).toBe('gap');
        if (resolved.kind === 'gap') expect(wallClockAt(resolved.instantMs, zone)).toBe(wallMs + resolved.gapMs);
      }
    }
    expect({ gaps, repeats }).toEqual({ gaps: skipped, repeats: repeated });
  });
});
