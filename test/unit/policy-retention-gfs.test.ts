/**
 * GFS retention against a table of expected keeps. The rules are Proxmox's prune
 * (keep_last, then daily, weekly, monthly; a period already holding a point kept by an
 * earlier rule is skipped and does not count), with calendar periods in the given zone.
 */
import { describe, expect, it } from 'vitest';
import { selectRetention } from '../../src/policy/retention.js';
import type { Retention } from '../../src/policy/policy.js';
import { InvalidArgument } from '../../src/errors.js';
import { point } from './fixtures/policy-points.js';

/** Points named by their UTC instant ("03-02T22:00" is 2026-03-02T22:00Z; a leading year overrides 2026). */
const at = (stamps: string[]) => stamps.map((s) => point(s, `${/^\d{4}-/.test(s) ? s : `2026-${s}`}:00.000Z`));

const twicePerDay = ['03-02T10:00', '03-02T22:00', '03-03T10:00', '03-03T22:00', '03-04T10:00', '03-04T22:00', '03-05T10:00'];
const berlinEdge = ['03-02T22:30', '03-02T23:30', '03-03T22:30', '03-04T10:00'];
const newYorkEdge = ['03-04T20:00', '03-05T03:00', '03-05T20:00'];
// 2026 starts on a Thursday, so it has an ISO week 53: Mon 2026-12-28 to Sun 2027-01-03.
const yearEnd = ['2026-12-20T12:00', '2026-12-26T12:00', '2026-12-29T12:00', '2027-01-02T12:00', '2027-01-05T12:00'];
const sundayNight = ['2027-01-02T12:00', '2027-01-03T23:30', '2027-01-05T12:00'];
const daily = (from: number, to: number, month: string) => Array.from({ length: to - from + 1 }, (_, i) => `${month}-${String(from + i).padStart(2, '0')}T12:00`);
const seasons = ['2025-12-15T12:00', '01-10T12:00', '01-31T12:00', ...daily(20, 28, '02'), ...daily(1, 6, '03')];

const rows: { name: string; stamps: string[]; retention: Retention; tz: string; keep: string[] }[] = [
  { name: 'keep_last 2', stamps: twicePerDay, retention: { keep_last: 2 }, tz: 'UTC', keep: ['03-05T10:00', '03-04T22:00'] },
  { name: 'daily 3: the newest of each day', stamps: twicePerDay, retention: { daily: 3 }, tz: 'UTC', keep: ['03-05T10:00', '03-04T22:00', '03-03T22:00'] },
  {
    name: 'keep_last 2, daily 3: days keep_last covers do not count toward daily',
    stamps: twicePerDay,
    retention: { keep_last: 2, daily: 3 },
    tz: 'UTC',
    keep: ['03-05T10:00', '03-04T22:00', '03-03T22:00', '03-02T22:00'],
  },
  { name: 'daily 3 in UTC', stamps: berlinEdge, retention: { daily: 3 }, tz: 'UTC', keep: ['03-04T10:00', '03-03T22:30', '03-02T23:30'] },
  // 23:30Z on Mar 2 is 00:30 on Mar 3 in Berlin (UTC+1): it shares Berlin's Mar 3 with a newer point.
  { name: 'daily 3 in Berlin', stamps: berlinEdge, retention: { daily: 3 }, tz: 'Europe/Berlin', keep: ['03-04T10:00', '03-03T22:30', '03-02T22:30'] },
  { name: 'daily 2 in UTC', stamps: newYorkEdge, retention: { daily: 2 }, tz: 'UTC', keep: ['03-05T20:00', '03-04T20:00'] },
  // 03:00Z on Mar 5 is 22:00 on Mar 4 in New York (UTC-5): the day of the older point.
  { name: 'daily 2 in New York', stamps: newYorkEdge, retention: { daily: 2 }, tz: 'America/New_York', keep: ['03-05T20:00', '03-05T03:00'] },
  {
    name: 'weekly 3 across the year end: ISO week 53 of 2026 holds Jan 2 2027',
    stamps: yearEnd,
    retention: { weekly: 3 },
    tz: 'UTC',
    keep: ['2027-01-05T12:00', '2027-01-02T12:00', '2026-12-26T12:00'],
  },
  { name: 'weekly 2, Sunday night in UTC', stamps: sundayNight, retention: { weekly: 2 }, tz: 'UTC', keep: ['2027-01-05T12:00', '2027-01-03T23:30'] },
  // In Berlin 23:30Z on Sunday is already Monday: week 1 of 2027, with the newer point.
  { name: 'weekly 2, Sunday night in Berlin', stamps: sundayNight, retention: { weekly: 2 }, tz: 'Europe/Berlin', keep: ['2027-01-05T12:00', '2027-01-02T12:00'] },
  { name: 'monthly 2', stamps: ['01-15T12:00', '01-31T12:00', '02-10T12:00', '02-20T12:00', '03-01T12:00'], retention: { monthly: 2 }, tz: 'UTC', keep: ['03-01T12:00', '02-20T12:00'] },
  {
    // keep_last: Mar 6. daily: Mar 5, 4. weekly (W10 covered): Mar 1 (W09), Feb 22 (W08).
    // monthly (March and February covered): Jan 31, Dec 15.
    name: 'keep_last 1, daily 2, weekly 2, monthly 2 over three months',
    stamps: seasons,
    retention: { keep_last: 1, daily: 2, weekly: 2, monthly: 2 },
    tz: 'UTC',
    keep: ['03-06T12:00', '03-05T12:00', '03-04T12:00', '03-01T12:00', '02-22T12:00', '01-31T12:00', '2025-12-15T12:00'],
  },
];

describe('GFS retention: expected keeps', () => {
  it.each(rows)('$name', ({ stamps, retention, tz, keep }) => {
    const selection = selectRetention(at(stamps), retention, tz);
    expect(selection.keep.map((k) => k.point.backup_id)).toEqual(keep);
    expect(selection.prune.map((p) => p.point.backup_id).sort()).toEqual(stamps.filter((s) => !keep.includes(s)).sort());
  });

  it('names the rule that kept each point and the rules a pruned one escaped', () => {
    const selection = selectRetention(at(twicePerDay), { keep_last: 2, daily: 3 }, 'UTC');
    expect(selection.keep.map((k) => k.by)).toEqual(['keep_last', 'keep_last', 'daily', 'daily']);
    expect(new Set(selection.prune.map((p) => p.reason))).toEqual(new Set(['not kept by keep_last 2, daily 3']));
  });

  it('refuses an unknown time zone with InvalidArgument', () => {
    expect(() => selectRetention(at(twicePerDay), { daily: 1 }, 'Mars/Olympus')).toThrow(InvalidArgument);
  });
});
