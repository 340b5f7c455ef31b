/**
 * The progress view on a terminal (a fake one: a stream with isTTY and 100 columns),
 * read back through a small terminal emulator: one line per job redrawn in place, 100 %
 * at a success, the cursor on a fresh line after the end, and no timer left behind.
 */
import { describe, expect, it, vi } from 'vitest';
import { progressView, type ProgressUpdate } from '../../src/cli/progress/view.js';
import { CollectingStream } from '../support/collecting-stream.js';
import { renderScreen } from '../support/terminal-screen.js';

const GIB = 1024 ** 3;
const COLUMNS = 100;
const copying = (fraction: number, phase: string | null = null): ProgressUpdate => ({
  bytesDone: fraction * 4 * GIB,
  bytesTotal: 4 * GIB,
  rateBytesPerS: 100 * 1024 ** 2,
  phase,
});

function ttyView(columns = COLUMNS) {
  let now = 5_000_000;
  const stream = new CollectingStream({ columns });
  const view = progressView(stream, { now: () => now });
  return { view, stream, screen: () => renderScreen(stream.text, columns), tick: (ms: number) => (now += ms) };
}

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('terminal progress view', () => {
  it('redraws one line in place for a job, and ends it at 100 % on a fresh line', () => {
    const { view, stream, screen, tick } = ttyView();
    const stdout = vi.spyOn(process.stdout, 'write');
    const stderr = vi.spyOn(process.stderr, 'write');
    view.add('a', 'backup of vm1');
    for (let i = 1; i <= 50; i++) {
      tick(1000);
      view.update('a', copying(i / 50, 'copying'));
      if (i === 15) {
        expect(screen().rows).toEqual([expect.stringMatching(/^backup of vm1 {2}\[█+░+\] {2}30 % {2}1\.2 GiB \/ 4\.0 GiB {2}100\.0 MiB\/s {2}ETA 0:29 {2}copying$/)]);
      }
    }
    view.end('a', 'succeeded');

    const end = screen();
    expect(end.newlines).toBe(1); // the one that leaves the cursor below the bar
    expect(end.returns).toBeGreaterThanOrEqual(50);
    expect(end.rows).toEqual([expect.stringMatching(/^backup of vm1 {2}\[█+\] 100 % {2}4\.0 GiB \/ 4\.0 GiB {2}succeeded in 0:50$/)]);
    expect(end.cursor).toEqual({ row: 1, column: 0 });
    expect(end.cursorVisible).toBe(true);
    expect(stream.text).not.toMatch(/\x1b\[\?(25|7)l/); // never hid the cursor nor turned off wrapping
    expect([stdout.mock.calls, stderr.mock.calls]).toEqual([[], []]); // only its own stream
    stdout.mockRestore();
    stderr.mockRestore();
    // The bar keeps its length while the numbers beside it change width: it only shrinks
    // (once here: "163.8 MiB" is wider than the first frame's "81.9 MiB"), never jumps back.
    const bars = stream.chunks.filter((chunk) => chunk.includes('B / ')).map((chunk) => /\[([█░]+)\]/.exec(chunk)![1]!.length);
    expect(bars.length).toBeGreaterThanOrEqual(51);
    expect(bars.every((cells, i) => i === 0 || cells <= bars[i - 1]!)).toBe(true);
    expect(new Set(bars).size).toBe(2);
  });

  it('keeps a line per job in place, the bars in one column and of one length, and finishes when the last job ends', () => {
    const { view, stream, screen, tick } = ttyView();
    view.add('r', 'restore of vm1');
    view.add('f', 'failover of a-longer-name');
    view.update('f', { bytesDone: 0, bytesTotal: 0, rateBytesPerS: 0, phase: 'starting' });
    for (let i = 0; i <= 40; i++) {
      tick(500);
      view.update('r', copying(i / 40, 'copying'));
    }
    view.update('r', { ...copying(1, 'pivoting'), rateBytesPerS: 0 });
    expect(screen().rows).toEqual([
      expect.stringMatching(/^restore of vm1 {13}\[█+\] 100 % {2}4\.0 GiB \/ 4\.0 GiB {2}pivoting$/),
      expect.stringMatching(/^failover of a-longer-name {2}\[░+\] {4}-- {2}starting {2}elapsed 0:21$/),
    ]);
    view.end('r', 'succeeded');
    const written = stream.text.length;
    tick(3000);
    view.update('f', { bytesDone: 0, bytesTotal: 0, rateBytesPerS: 0, phase: 'starting' });
    view.end('f', 'failed');

    const end = screen();
    expect(end.rows).toEqual([
      expect.stringMatching(/^restore of vm1 {13}\[█+\] 100 % {2}4\.0 GiB \/ 4\.0 GiB {2}succeeded in 0:21$/),
      expect.stringMatching(/^failover of a-longer-name {2}\[░+\] {4}-- {2}failed after 0:24$/),
    ]);
    expect(end.cursor).toEqual({ row: 2, column: 0 });
    const [restoreBar, failoverBar] = end.rows.map((row) => /\[[█░]+\]/.exec(row)![0]);
    expect(restoreBar!.length).toBe(failoverBar!.length); // one bar length for all jobs
    expect(stream.text.length).toBeGreaterThan(written);
    // 44 redraws of two rows went to the same two rows: far fewer new lines than updates.
    expect(end.newlines).toBeLessThan(60);
  });

  it('shows a phase-only job that succeeds as a full bar at 100 %', () => {
    const { view, screen } = ttyView();
    view.add('s', 'failover of vm1');
    view.update('s', { bytesDone: 0, bytesTotal: 0, rateBytesPerS: 0, phase: 'starting' });
    expect(screen().rows).toEqual([expect.stringMatching(/^failover of vm1 {2}\[░{40}\] {4}-- {2}starting {2}elapsed 0:00$/)]);
    view.end('s', 'succeeded');
    expect(screen().rows).toEqual([expect.stringMatching(/^failover of vm1 {2}\[█{40}\] 100 % {2}succeeded in 0:00$/)]);
  });

  it('fits an 80-column terminal by leaving out bytes and rate, never the phase or ETA', () => {
    const { view, screen } = ttyView(80);
    view.add('a', 'backup of a-domain-with-a-long-name');
    view.update('a', copying(0.5, 'copying'));
    const [row] = screen().rows;
    expect(row!.length).toBeLessThan(80);
    expect(row).toMatch(/^backup of a-domain-with-a-long-… {2}\[█+░+\] {2}50 % {2}ETA 0:20 {2}copying$/);
    view.stop();
  });

  it('holds a timer only while a job runs; stop() finishes the frame once', () => {
    const before = timers();
    const { view, stream, screen } = ttyView();
    view.add('a', 'backup of vm1');
    view.update('a', copying(0.25));
    expect(timers()).toBe(before + 1);
    view.end('a', 'succeeded');
    expect(timers()).toBe(before);

    view.add('b', 'backup of vm2'); // a later job draws below the finished one
    view.update('b', copying(0.5));
    expect(timers()).toBe(before + 1);
    view.stop();
    expect(timers()).toBe(before);
    const written = stream.text;
    view.stop();
    view.update('b', copying(0.6));
    view.end('b', 'succeeded');
    expect(stream.text).toBe(written);
    expect(screen().rows).toEqual([expect.stringContaining('backup of vm1  '), expect.stringMatching(/^backup of vm2 {2}\[█+░+\] {2}50 % /)]);
    expect(screen().cursor).toEqual({ row: 2, column: 0 });
  });
});
