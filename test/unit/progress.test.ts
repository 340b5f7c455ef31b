import { describe, expect, it } from 'vitest';
import { ProgressTracker, type ProgressReport } from '../../src/jobs/progress.js';

describe('ProgressTracker', () => {
  it('reports every 5 % and at least every interval, with the rate', () => {
    let now = 0;
    const reports: ProgressReport[] = [];
    const tracker = new ProgressTracker(2000, () => now, (r) => reports.push(r));
    tracker.setTotal(1000);
    reports.length = 0;
    for (let i = 0; i < 100; i++) {
      now += 10;
      tracker.add(10);
    }
    // 100 % in steps of 1 %: a report every 5 %.
    expect(reports).toHaveLength(20);
    expect(reports.at(-1)).toMatchObject({ bytes_done: 1000, bytes_total: 1000, percent: 100 });
    expect(reports.at(-1)?.rate_bytes_per_s).toBeGreaterThan(0);

    reports.length = 0;
    now += 1999;
    tracker.tick();
    expect(reports).toHaveLength(0);
    now += 1;
    tracker.tick();
    expect(reports).toHaveLength(1);
  });
});

describe('a job phase', () => {
  it('is reported at once, whatever the throttle, and once per change', () => {
    let now = 0;
    const reports: ProgressReport[] = [];
    const tracker = new ProgressTracker(2000, () => now, (r) => reports.push(r));
    expect(tracker.snapshot.phase).toBeNull();
    tracker.setTotal(1000);
    now += 10;
    tracker.add(1);
    // 0.1 % after 10 ms: the throttle holds the bytes back.
    expect(reports).toHaveLength(1);

    tracker.phase('copying');
    tracker.phase('copying');
    now += 1;
    tracker.phase('starting');

    expect(reports.map((r) => r.phase)).toEqual([null, 'copying', 'starting']);
    expect(reports.at(-1)).toMatchObject({ bytes_done: 1, bytes_total: 1000, phase: 'starting' });
    expect(tracker.snapshot).toEqual({ bytes_done: 1, bytes_total: 1000, phase: 'starting' });
    // Later byte reports keep naming the phase.
    now += 2000;
    tracker.tick();
    expect(reports.at(-1)?.phase).toBe('starting');
  });
});
