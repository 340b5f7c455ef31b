import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../src/policy/policy.js';
import { decideDue } from '../../src/policy/schedule/due.js';
import { defaultJitterS, jitterMs, MAX_DEFAULT_JITTER_S } from '../../src/policy/schedule/jitter.js';

/** sha256 of the UUID, first 8 bytes big-endian, mod 300,001 (checked with Python's hashlib). */
const PINNED_JITTER_MS = 237_507;

/** 500 random-looking but fixed UUIDs (xorshift32 from a fixed seed). */
function fixedUuids(count: number): string[] {
  let x = 0x9e3779b9;
  const word = (): string => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x.toString(16).padStart(8, '0');
  };
  return Array.from({ length: count }, () => {
    const hex = word() + word() + word() + word();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  });
}

describe('jitterMs', () => {
  it('is fixed per domain: the same UUID (in any case) always gets the same delay', () => {
    const uuid = '6f1c2a4e-3b7d-4c1e-9a0b-2d5e8f7a1c3b';
    expect(jitterMs(uuid, 300)).toBe(jitterMs(uuid, 300));
    expect(jitterMs(uuid.toUpperCase(), 300)).toBe(jitterMs(uuid, 300));
    // Pinned: a new agent version must promise the same start times as the old one.
    expect(jitterMs(uuid, 300)).toBe(PINNED_JITTER_MS);
  });

  it('stays within [0, jitter_s] and is 0 without a window', () => {
    for (const uuid of fixedUuids(200)) {
      const delay = jitterMs(uuid, 5);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(5000);
    }
    expect(jitterMs('6f1c2a4e-3b7d-4c1e-9a0b-2d5e8f7a1c3b', 0)).toBe(0);
  });

  it('spreads 500 domains due at 22:00 over the 300 s window', () => {
    const weekly: Schedule = { weekly: { days: ['wed'], time: '22:00', tz: 'Europe/Berlin' } };
    const slot = Date.parse('2026-03-04T21:00:00Z');
    const now = new Date(slot - 60_000);
    const uuids = fixedUuids(500);
    expect(new Set(uuids).size).toBe(500);
    const offsets = uuids.map((uuid) => {
      const { next } = decideDue({
        schedule: weekly,
        state: { last_slot: null, next_slot: null },
        missed: 'catch_up',
        jitterMs: jitterMs(uuid, 300),
        now,
        runningSince: now,
      });
      expect(next.slot.getTime()).toBe(slot);
      return next.startAt.getTime() - slot;
    });
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(300_000);

    const perSecond = count(offsets.map((o) => Math.floor(o / 1000)));
    const perHalfMinute = count(offsets.map((o) => Math.floor(o / 30_000)));
    // 500 starts over 300 s is 1.7 a second on average; a stampede would be hundreds.
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(7);
    // All ten 30 s buckets used, none with more than 1.5 times its share (50).
    expect(perHalfMinute.size).toBe(10);
    expect(Math.max(...perHalfMinute.values())).toBeLessThanOrEqual(75);
    expect(Math.min(...perHalfMinute.values())).toBeGreaterThanOrEqual(25);

    // The same UUIDs give the same start times the next time (a restart).
    expect(uuids.map((uuid) => jitterMs(uuid, 300))).toEqual(offsets);
  });
});

function count(keys: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

describe('defaultJitterS: 10% of the period, at most 900 s', () => {
  it.each<[Schedule, number]>([
    [{ interval_s: 10 }, 1],
    [{ interval_s: 60 }, 6],
    [{ interval_s: 3600 }, 360],
    [{ interval_s: 86_400 }, MAX_DEFAULT_JITTER_S],
    [{ cron: '*/5 * * * *', tz: 'UTC' }, 30],
    [{ cron: '0,1 22 * * *', tz: 'Europe/Berlin' }, 6], // the tightest gap counts
    [{ cron: '0 * * * *', tz: 'Europe/Berlin' }, 360],
    [{ cron: '0 22 * * 1-5', tz: 'Europe/Berlin' }, MAX_DEFAULT_JITTER_S],
    [{ weekly: { days: ['wed'], time: '22:00', tz: 'Europe/Berlin' } }, MAX_DEFAULT_JITTER_S],
  ])('%j: %i s', (schedule, seconds) => {
    expect(defaultJitterS(schedule)).toBe(seconds);
  });
});
