import { describe, expect, it } from 'vitest';
import type { Notification } from '../../src/bus/rpc-client.js';
import { notificationTimeMs, replicatedAtMs, rpoFloorS } from '../../bench/rpo.js';

const replicateEnd = (timestamp: string, target: string, backupIds: string[]): Notification => ({
  event_type: 'virt_dr.replicate.end',
  priority: 'INFO',
  payload: { target, backup_ids: backupIds },
  publisher_id: 'virt-dr.compute',
  timestamp,
});

describe('the RPO run\'s arithmetic', () => {
  it('reads an oslo timestamp as UTC, to the millisecond', () => {
    expect(notificationTimeMs('2026-11-29 05:20:46.967512')).toBe(Date.parse('2026-11-29T05:20:46.967Z'));
    expect(notificationTimeMs('2026-11-29 05:20:46')).toBe(Date.parse('2026-11-29T05:20:46Z'));
    expect(() => notificationTimeMs('2026-11-29T05:20:46Z')).toThrow(/not a notification timestamp/);
  });

  it('dates a point\'s arrival by the first replicate.end that names it on that target', () => {
    const events: Notification[] = [
      { ...replicateEnd('2026-11-29 05:00:01.000000', 'dr', ['a']), event_type: 'virt_dr.replicate.start' },
      replicateEnd('2026-11-29 05:00:02.000000', 'other', ['a']),
      replicateEnd('2026-11-29 05:00:03.000000', 'dr', ['a', 'b']),
      replicateEnd('2026-11-29 05:00:04.000000', 'dr', ['b', 'c']),
    ];
    expect(replicatedAtMs(events, 'a', 'dr')).toBe(Date.parse('2026-11-29T05:00:03Z'));
    expect(replicatedAtMs(events, 'b', 'dr')).toBe(Date.parse('2026-11-29T05:00:03Z'));
    expect(replicatedAtMs(events, 'c', 'other')).toBeNull();
    expect(replicatedAtMs(events, 'd', 'dr')).toBeNull();
  });

  it('holds each sample against the age of the schedule\'s latest tick', () => {
    const ticks = [1000, 11_000, 21_000];
    expect(rpoFloorS(ticks, 1000)).toBe(0);
    expect(rpoFloorS(ticks, 10_999)).toBe(9.999);
    expect(rpoFloorS(ticks, 11_000)).toBe(0);
    expect(rpoFloorS(ticks, 35_000)).toBe(14);
    expect(() => rpoFloorS(ticks, 999)).toThrow(/no tick/);
  });
});
