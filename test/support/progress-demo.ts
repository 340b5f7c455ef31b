/**
 * Drives the CLI's progress view on this process's stdout with made-up jobs, as
 * `virt-dr … --wait` will with notifications. Run from the built dist/ (under a pty by
 * test/support/pty.ts, or by hand to look at it):
 *
 *   node dist/test/support/progress-demo.js SCENARIO [UPDATES] [INTERVAL_MS]
 *
 * It never calls process.exit: its exit shows the view holds no timer once it is done.
 */
import { progressView, type JobProgressView } from '../../src/cli/progress/view.js';

export const SCENARIOS = {
  /** One backup: UPDATES updates to 100 %, then it succeeds; stop() is never called. */
  backup: backup,
  /** A restore through its phases (bytes while copying) beside a phase-only job; both succeed. */
  restore: restore,
  /** One backup stopped (as on a timeout) at 40 % without an end: stop() must leave a fresh line. */
  stopped: stopped,
} as const satisfies Record<string, (view: JobProgressView, updates: number, intervalMs: number) => Promise<void>>;

export type Scenario = keyof typeof SCENARIOS;

const GIB = 1024 ** 3;
const RATE = 200 * 1024 ** 2;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function backup(view: JobProgressView, updates: number, intervalMs: number): Promise<void> {
  view.add('job-1', 'backup of vm-pty');
  for (let i = 1; i <= updates; i++) {
    view.update('job-1', { bytesDone: (i / updates) * 4 * GIB, bytesTotal: 4 * GIB, rateBytesPerS: RATE, phase: null });
    await pause(intervalMs);
  }
  view.end('job-1', 'succeeded');
}

async function restore(view: JobProgressView, updates: number, intervalMs: number): Promise<void> {
  view.add('job-r', 'restore of vm-pty');
  view.add('job-s', 'failover of vm-dr');
  view.update('job-s', { bytesDone: 0, bytesTotal: 0, rateBytesPerS: 0, phase: 'starting' });
  for (let i = 0; i <= updates; i++) {
    view.update('job-r', { bytesDone: (i / updates) * 2 * GIB, bytesTotal: 2 * GIB, rateBytesPerS: RATE, phase: 'copying' });
    await pause(intervalMs);
  }
  for (const phase of ['pivoting', 'starting']) {
    view.update('job-r', { bytesDone: 2 * GIB, bytesTotal: 2 * GIB, rateBytesPerS: 0, phase });
    await pause(intervalMs);
  }
  view.end('job-s', 'succeeded');
  view.end('job-r', 'succeeded');
}

async function stopped(view: JobProgressView, updates: number, intervalMs: number): Promise<void> {
  view.add('job-1', 'backup of vm-pty');
  for (let i = 1; i <= updates; i++) {
    view.update('job-1', { bytesDone: (i / updates) * 0.4 * GIB, bytesTotal: GIB, rateBytesPerS: RATE, phase: 'copying' });
    await pause(intervalMs);
  }
  view.stop();
}

async function main(): Promise<void> {
  const [scenario, updates = '20', intervalMs = '20'] = process.argv.slice(2);
  if (!(scenario! in SCENARIOS)) throw new Error(`usage: progress-demo.js ${Object.keys(SCENARIOS).join('|')} [UPDATES] [INTERVAL_MS]`);
  await SCENARIOS[scenario as Scenario](progressView(process.stdout), Number(updates), Number(intervalMs));
}

await main();
