/** The words of a progress line (pure): durations, the ETA's countdown, control characters. */
import { describe, expect, it } from 'vitest';
import { applyUpdate, etaText, formatDuration, newJob, printable } from '../../src/cli/progress/job-state.js';

describe('progress line words', () => {
  it('formats durations as m:ss, and h:mm:ss from an hour', () => {
    expect([0, 7, 59.6, 723, 3600, 3723].map(formatDuration)).toEqual(['0:00', '0:07', '1:00', '12:03', '1:00:00', '1:02:03']);
  });

  it('counts the ETA down between updates, and has none once every byte is done', () => {
    const job = newJob('backup of vm1', 0);
    expect(etaText(job, 0)).toBe('ETA --');
    applyUpdate(job, { bytesDone: 0, bytesTotal: 100 * 1024 ** 2, rateBytesPerS: 1024 ** 2, phase: null }, 1000);
    expect(etaText(job, 1000)).toBe('ETA 1:40');
    expect(etaText(job, 31_000)).toBe('ETA 1:10');
    expect(etaText(job, 500_000)).toBe('ETA 0:00');
    applyUpdate(job, { bytesDone: 100 * 1024 ** 2, bytesTotal: 100 * 1024 ** 2, rateBytesPerS: 0, phase: 'pivoting' }, 2000);
    expect(etaText(job, 2000)).toBeNull();
  });

  it('shows control characters from the agent or the operator as ?', () => {
    expect(printable('vm\x1b[2J\r\n\u009b1')).toBe('vm?[2J???1');
    expect(newJob('a\x07b', 0).label).toBe('a?b');
  });
});
