import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { JobView } from '../test/support/backup-api.js';
import { SYSTEM_PYTHON } from '../test/support/rabbit.js';

/** What one baseline command cost. */
export interface CommandCost {
  seconds: number;
  cpuSeconds: number;
  peakRssKiB: number;
}

/**
 * Runs argv in a small Python parent that reports the child's wall time and its
 * getrusage(RUSAGE_CHILDREN): Node has no way to read a child's CPU time or peak RSS.
 * Python's own start-up is outside the timed span.
 */
const RUSAGE_WRAPPER = `
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:]).returncode
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss}))
`;

export async function measureCommand(argv: readonly string[]): Promise<CommandCost> {
  const child = spawn(SYSTEM_PYTHON, ['-c', RUSAGE_WRAPPER, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const lastLine = stdout.trim().split('\n').pop() ?? '';
  let report: { code: number; seconds: number; cpu: number; rss: number };
  try {
    report = JSON.parse(lastLine) as typeof report;
  } catch {
    throw new Error(`${argv.join(' ')}: no usage report (exit ${exitCode}): ${stderr.trim()}`);
  }
  if (report.code !== 0) throw new Error(`${argv.join(' ')} exited ${report.code}: ${stderr.trim()}`);
  return { seconds: report.seconds, cpuSeconds: report.cpu, peakRssKiB: report.rss };
}

/** A process's CPU time so far and its peak resident set, from /proc. */
export interface ProcessUsage {
  cpuSeconds: number;
  peakRssKiB: number;
}

/** utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

export async function processUsage(pid: number): Promise<ProcessUsage> {
  const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
  return { cpuSeconds: parseCpuSeconds(stat), peakRssKiB: parsePeakRssKiB(status) };
}

export function parseCpuSeconds(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc stat line: ${stat}`);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

export function parsePeakRssKiB(status: string): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error('no VmHWM line in /proc status');
  return Number(match[1]);
}

/** Wall seconds of an async step. */
export async function timeAsync<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - start) / 1000, value };
}

/** A finished job's own duration: from leaving the queue to its end. */
export function jobSeconds(job: Pick<JobView, 'job_id' | 'started_at' | 'finished_at'>): number {
  if (!job.started_at || !job.finished_at) throw new Error(`job ${job.job_id} has no start or finish time`);
  return (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
}
