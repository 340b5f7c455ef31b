/**
 * The CLI's progress view on a REAL pseudo-terminal (util-linux `script`): the built
 * view, driven by test/support/progress-demo.ts in a child process whose stdout is a
 * TTY, redraws its bars in place (far fewer new lines than updates), ends at 100 %,
 * leaves the cursor on a fresh line, and the process exits by itself. No libvirtd or
 * RabbitMQ: a few seconds.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../support/project-root.js';
import { runInPty } from '../support/pty.js';
import { renderScreen } from '../support/terminal-screen.js';

const DEMO = path.join(projectRoot(import.meta.url), 'dist/test/support/progress-demo.js');
const COLUMNS = 100;

async function demo(scenario: string, updates: number, intervalMs: number) {
  const run = await runInPty([process.execPath, DEMO, scenario, String(updates), String(intervalMs)], process.env, {
    columns: COLUMNS,
    timeoutMs: 20_000,
  });
  expect(run, run.output).toMatchObject({ timedOut: false, exitCode: 0 });
  return { ...run, screen: renderScreen(run.output, COLUMNS) };
}

beforeAll(() => {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: run npm run build first`);
});

describe('progress on a pseudo-terminal', () => {
  it('redraws one bar in place, ends at 100 % on a fresh line, and exits by itself', async () => {
    const run = await demo('backup', 40, 25);
    // The pty turned each LF into CR LF: count LFs. One, below the finished bar.
    expect(run.screen.newlines).toBe(1);
    expect(run.screen.returns).toBeGreaterThanOrEqual(40);
    expect(run.screen.rows).toEqual([expect.stringMatching(/^backup of vm-pty {2}\[█+\] 100 % {2}4\.0 GiB \/ 4\.0 GiB {2}succeeded in 0:0\d$/)]);
    expect(run.screen.cursor).toEqual({ row: 1, column: 0 });
    expect(run.screen.cursorVisible).toBe(true);
    expect(run.output).not.toMatch(/\x1b\[\?(25|7)l/); // a Ctrl-C would leave nothing to undo
    // Frames showed the job on its way, with rate and ETA, all on the same row.
    expect(run.output).toMatch(/backup of vm-pty {2}\[█+░+\] {2}50 % {2}2\.0 GiB \/ 4\.0 GiB {2}200\.0 MiB\/s {2}ETA 0:1\d/);
  });

  it('keeps a row per job through the phases, a phase-only job included', async () => {
    const run = await demo('restore', 20, 25);
    expect(run.output).toMatch(/restore of vm-pty {2}\[█+░*\] +\d+ % {2}[\d.]+ [KMG]?i?B \/ 2\.0 GiB {2}200\.0 MiB\/s {2}ETA 0:\d\d {2}copying/);
    expect(run.output).toMatch(/restore of vm-pty {2}\[█+\] 100 % {2}2\.0 GiB \/ 2\.0 GiB {2}pivoting/);
    expect(run.output).toMatch(/failover of vm-dr {2}\[░+\] {4}-- {2}starting {2}elapsed 0:0\d/);
    expect(run.screen.rows).toEqual([
      expect.stringMatching(/^restore of vm-pty {2}\[█+\] 100 % {2}2\.0 GiB \/ 2\.0 GiB {2}succeeded in 0:0\d$/),
      expect.stringMatching(/^failover of vm-dr {2}\[█+\] 100 % {2}succeeded in 0:0\d$/),
    ]);
    expect(run.screen.cursor).toEqual({ row: 2, column: 0 });
    expect(run.screen.returns).toBeGreaterThanOrEqual(20);
  });

  it('stop() while a job runs leaves its last frame and a fresh line, and the process exits', async () => {
    const run = await demo('stopped', 10, 25);
    expect(run.screen.rows).toEqual([expect.stringMatching(/^backup of vm-pty {2}\[█+░+\] {2}40 % {2}409\.6 MiB \/ 1\.0 GiB {2}200\.0 MiB\/s {2}ETA 0:0\d {2}copying$/)]);
    expect(run.screen.cursor).toEqual({ row: 1, column: 0 });
    expect(run.screen.newlines).toBe(1);
  });
});
