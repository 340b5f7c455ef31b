import { readFile } from 'node:fs/promises';
import { run, virsh } from './guest.js';

/**
 * Restarting the host's one libvirtd, as a crash or an upgrade does. libvirtd is shared by
 * every test file and helper on the machine: call this only from a test run under
 * `flock /tmp/virtdr-libvirtd.lock`, and make sure libvirtd runs again afterwards
 * (ensureLibvirtd in afterAll).
 */

const PID_FILE = '/run/libvirtd.pid';

/**
 * Starts a command with no file descriptor but stdin, stdout and stderr. A daemon started
 * from a test run under `flock LOCK cmd` would otherwise inherit the lock's descriptor and
 * hold the lock for as long as it lives.
 */
export const WITHOUT_INHERITED_FDS = 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec "$@"';

export interface LibvirtdRestart {
  /** The process that was killed, and the one that answers now. */
  killedPid: number;
  /** From the signal until the old process was gone. */
  exitMs: number;
  /** From the signal until `virsh uri` answered again (the outage a client sees). */
  outageMs: number;
}

/**
 * Kills libvirtd by the pid in its pid file (never by name: only the daemon is meant),
 * waits until it is gone, keeps it down for `downMs`, starts `libvirtd -d` (no systemd
 * here) and waits until `virsh uri` answers. QEMU processes keep running throughout.
 */
export async function restartLibvirtd(options: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<LibvirtdRestart> {
  const pid = Number((await readFile(PID_FILE, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${PID_FILE} holds no pid`);
  const t0 = Date.now();
  process.kill(pid, options.signal ?? 'SIGKILL');
  await until(`libvirtd ${pid} to exit`, 30_000, async () => !alive(pid));
  const exitMs = Date.now() - t0;
  await sleep(options.downMs ?? 1000);
  await run('bash', ['-c', WITHOUT_INHERITED_FDS, 'bash', 'libvirtd', '-d'], { timeoutMs: 30_000 });
  await until('libvirtd to answer again', 60_000, answers);
  return { killedPid: pid, exitMs, outageMs: Date.now() - t0 };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function answers(): Promise<boolean> {
  return virsh(['uri'], { timeoutMs: 5_000 }).then(
    () => true,
    () => false,
  );
}

async function until(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
