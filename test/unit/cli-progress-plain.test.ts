/**
 * The progress view without a terminal (a pipe, a log): a line per 10 % mark at most,
 * one per phase change, 100 % at a success, every line named by its job, no escapes.
 */
import { describe, expect, it } from 'vitest';
import { progressView, type ProgressUpdate } from '../../src/cli/progress/view.js';
import { CollectingStream } from '../support/collecting-stream.js';

const GIB = 1024 ** 3;
const copying = (fraction: number, total = 4 * GIB): ProgressUpdate => ({
  bytesDone: fraction * total,
  bytesTotal: total,
  rateBytesPerS: 100 * 1024 ** 2,
  phase: null,
});

function plainView() {
  let now = 1_000_000;
  const stream = new CollectingStream(null);
  const view = progressView(stream, { now: () => now });
  const lines = () => stream.text.split('\n').slice(0, -1);
  return { view, stream, lines, tick: (ms: number) => (now += ms) };
}

describe('plain progress view', () => {
  it('prints at most a line per 10 % mark however many updates come, and ends at 100 %', () => {
    const { view, lines, tick } = plainView();
    view.add('a', 'backup of vm1');
    view.add('b', 'backup of vm2');
    for (let i = 0; i <= 1000; i++) {
      tick(100);
      view.update('a', copying(i / 1000));
      view.update('b', copying(i / 1000 / 2, GIB)); // vm2 gets to 50 %
    }
    view.end('a', 'succeeded');
    view.end('b', 'failed');
    view.stop();

    const ofA = lines().filter((line) => line.startsWith('backup of vm1: '));
    const ofB = lines().filter((line) => line.startsWith('backup of vm2: '));
    expect(ofA.length + ofB.length).toBe(lines().length);
    expect(ofA.map((line) => line.split('  ')[0])).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((p) => `backup of vm1: ${p} %`));
    expect(ofA.at(-1)).toBe('backup of vm1: 100 %  4.0 GiB / 4.0 GiB  succeeded in 1:40');
    expect(ofA[3]).toBe('backup of vm1: 30 %  1.2 GiB / 4.0 GiB  100.0 MiB/s  ETA 0:29');
    expect(ofB).toHaveLength(7); // 0 … 50 %, then its end
    expect(ofB.at(-1)).toBe('backup of vm2: failed after 1:40  at 50 %');
  });

  it('starts at the first update, wherever that is, and skips the marks it jumped over', () => {
    const { view, lines } = plainView();
    view.add('a', 'verify of vm1');
    for (const fraction of [0.37, 0.38, 0.39, 0.41, 0.95, 0.99, 1]) view.update('a', copying(fraction));
    view.end('a', 'succeeded');
    expect(lines().map((line) => line.split('  ')[0])).toEqual(['verify of vm1: 37 %', 'verify of vm1: 41 %', 'verify of vm1: 95 %', 'verify of vm1: 100 %']);
  });

  it('prints a line when the phase changes, and only then', () => {
    const { view, lines } = plainView();
    view.add('r', 'restore of vm1');
    view.update('r', { ...copying(0), phase: 'copying' });
    for (let i = 1; i <= 100; i++) view.update('r', { ...copying(i / 100), phase: 'copying' });
    view.update('r', { ...copying(1), rateBytesPerS: 0, phase: 'pivoting' });
    view.update('r', { ...copying(1), rateBytesPerS: 0, phase: 'pivoting' });
    view.update('r', { ...copying(1), rateBytesPerS: 0, phase: 'starting' });
    view.end('r', 'succeeded');

    const phases = lines().filter((line) => line.includes('phase'));
    expect(phases).toEqual(['restore of vm1: phase copying', 'restore of vm1: phase pivoting', 'restore of vm1: phase starting']);
    expect(lines()[0]).toBe('restore of vm1: phase copying');
    expect(lines().at(-1)).toMatch(/^restore of vm1: 100 % {2}4\.0 GiB \/ 4\.0 GiB {2}succeeded in /);
    expect(lines()).toHaveLength(3 + 10 + 1);
  });

  it('shows a phase-only job (no byte total) by its phases, then 100 % on success', () => {
    const { view, lines, tick } = plainView();
    view.add('f', 'failover of vm1');
    view.update('f', { bytesDone: 0, bytesTotal: 0, rateBytesPerS: 0, phase: 'starting' });
    view.update('f', { bytesDone: 0, bytesTotal: 0, rateBytesPerS: 0, phase: 'starting' });
    tick(7_000);
    view.end('f', 'succeeded');
    expect(lines()).toEqual(['failover of vm1: phase starting', 'failover of vm1: 100 %  succeeded in 0:07']);

    view.add('g', 'failover of vm2');
    view.update('g', { bytesDone: 0, bytesTotal: 0, rateBytesPerS: 0, phase: 'starting' });
    view.end('g', 'cancelled');
    expect(lines().at(-1)).toBe('failover of vm2: cancelled after 0:00');
  });

  it('writes no escape sequence, not even one hidden in a label or a phase', () => {
    const { view, stream } = plainView();
    view.add('x', 'backup of \x1b[31mred');
    view.update('x', { ...copying(0.5), phase: 'copy\x1b[2Jing\r' });
    view.update('x', { bytesDone: Number.NaN, bytesTotal: Number.NaN, rateBytesPerS: Number.NaN, phase: null });
    view.end('x', 'succeeded');
    expect(stream.text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(stream.text).toContain('backup of ?[31mred: phase copy?[2Jing?\n');
  });

  it('ignores updates after the end or for jobs it was not given, and after stop()', () => {
    const { view, lines } = plainView();
    view.update('nobody', copying(0.5));
    view.add('a', 'backup of vm1');
    view.end('a', 'succeeded');
    view.update('a', copying(0.5));
    view.end('a', 'failed');
    view.stop();
    view.stop();
    view.add('b', 'backup of vm2');
    view.update('b', copying(0.5));
    expect(lines()).toEqual(['backup of vm1: 100 %  succeeded in 0:00']);
  });
});
