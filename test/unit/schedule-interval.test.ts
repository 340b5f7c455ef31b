import { describe, expect, it } from 'vitest';
import { isSlot, nextSlot, previousSlot } from '../../src/policy/schedule/next-slot.js';

describe('interval slots: multiples of the interval since the Unix epoch', () => {
  const hourly = { interval_s: 3600 };
  const odd = { interval_s: 7 * 60 + 13 }; // 433 s: not a divisor of a minute, an hour or a day

  it('are aligned to the epoch, whenever the question is asked (restart-safe, no drift)', () => {
    expect(nextSlot(hourly, new Date('2026-03-04T21:17:42.123Z')).toISOString()).toBe('2026-03-04T22:00:00.000Z');
    const slot = nextSlot(odd, new Date('2026-03-04T21:17:42.123Z'));
    expect(slot.getTime() % 433_000).toBe(0);
    // Asked from anywhere in the same period, the answer is the same slot.
    expect(nextSlot(odd, new Date(slot.getTime() - 433_000))).toEqual(slot);
    expect(nextSlot(odd, new Date(slot.getTime() - 1))).toEqual(slot);
  });

  it('just before a slot gives that slot; at it or just after gives the following one', () => {
    const slot = new Date('2026-03-04T22:00:00.000Z');
    expect(nextSlot(hourly, new Date(slot.getTime() - 1))).toEqual(slot);
    expect(nextSlot(hourly, slot).toISOString()).toBe('2026-03-04T23:00:00.000Z');
    expect(nextSlot(hourly, new Date(slot.getTime() + 1)).toISOString()).toBe('2026-03-04T23:00:00.000Z');
  });

  it('previousSlot is the slot at or before; isSlot says which instants are slots', () => {
    const slot = new Date('2026-03-04T22:00:00.000Z');
    expect(previousSlot(hourly, slot)).toEqual(slot);
    expect(previousSlot(hourly, new Date(slot.getTime() + 3_599_999))).toEqual(slot);
    expect(previousSlot(hourly, new Date(slot.getTime() - 1)).toISOString()).toBe('2026-03-04T21:00:00.000Z');
    expect(isSlot(hourly, slot)).toBe(true);
    expect(isSlot(hourly, new Date(slot.getTime() + 1000))).toBe(false);
  });

  it('ignore DST: a 10 s interval runs every 10 s of real time through a change', () => {
    const tenSeconds = { interval_s: 10 };
    let slot = new Date('2026-03-29T00:59:40Z');
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push((slot = nextSlot(tenSeconds, slot)).toISOString().slice(11, 19));
    expect(seen).toEqual(['00:59:50', '01:00:00', '01:00:10', '01:00:20']);
  });
});
