import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { every } from '../../src/util/periodic.js';

describe('every', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs the task each interval, skips ticks while a run is under way, and survives a failed run', async () => {
    const runs: number[] = [];
    let release: (() => void) | null = null;
    const periodic = every(100, async () => {
      runs.push(Date.now());
      if (runs.length === 1) throw new Error('first run fails');
      if (runs.length === 2) await new Promise<void>((r) => (release = r));
    });
    await vi.advanceTimersByTimeAsync(100); // run 1 fails
    await vi.advanceTimersByTimeAsync(100); // run 2 starts and hangs
    await vi.advanceTimersByTimeAsync(300); // three ticks skipped
    expect(runs).toHaveLength(2);
    release!();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(3);
    await periodic.stop();
  });

  it('stop waits for the run under way and starts no other', async () => {
    let finished = false;
    let runs = 0;
    const periodic = every(100, async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 250));
      finished = true;
    });
    await vi.advanceTimersByTimeAsync(100);
    const stopped = periodic.stop();
    await vi.advanceTimersByTimeAsync(1000);
    await stopped;
    expect(finished).toBe(true);
    expect(runs).toBe(1);
  });
});
