/**
 * A real OpenSSH server on 127.0.0.1 for the SSH repository target's tests: its own
 * config, its own ed25519 host key, a dedicated local user (`virtdr-dr`) whose only
 * accepted key is a freshly generated client key, and a repository root that user owns.
 * The client gets a known_hosts file with the server's key. `cutConnections` kills the
 * per-connection sshd processes (not the listener), which is what a dropped link looks
 * like to the client mid-transfer. Must run as root (sshd, useradd, chown).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import type { SshTargetOptions } from '../../src/repo/ssh/ssh-target.js';
import { parseSshUrl } from '../../src/repo/ssh/ssh-url.js';
import { freePort } from './free-port.js';

export const SSHD_USER = 'virtdr-dr';

export interface Sshd {
  port: number;
  user: string;
  /** The repository root on the "remote" side, owned by the user. */
  root: string;
  /** ssh://virtdr-dr@127.0.0.1:<port><root> */
  url: string;
  clientKeyPath: string;
  /** A known_hosts file that records this server's host key. */
  knownHostsPath: string;
  /** The server's public host key line: `ssh-ed25519 AAAA...`. */
  hostPublicKey: string;
  /** A folder outside the root for the test's own files (key files, other known_hosts). */
  workDir: string;
  /** Kills the sshd processes serving connections; returns how many it killed. */
  cutConnections(): Promise<number>;
  /** Everything sshd wrote to stderr (-e), for a failing test's message. */
  log(): string;
  stop(): Promise<void>;
}

export async function startSshd(workDir: string): Promise<Sshd> {
  if (process.getuid?.() !== 0) throw new Error('the sshd test support must run as root');
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true, mode: 0o755 });
  // sshd's StrictModes checks every folder on the way to its files: none group- or world-writable.
  await chmod(workDir, 0o755);
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const createdUser = ensureUser(SSHD_USER);
  const { uid, gid } = userIds(SSHD_USER);

  const hostKey = path.join(workDir, 'host_ed25519');
  const clientKeyPath = path.join(workDir, 'client_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'virtdr-test-host', '-f', hostKey]);
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'virtdr-test-client', '-f', clientKeyPath]);
  const authorizedKeys = path.join(workDir, 'authorized_keys');
  await writeFile(authorizedKeys, await readFile(`${clientKeyPath}.pub`), { mode: 0o644 });

  const root = path.join(workDir, 'dr-root');
  await mkdir(root, { mode: 0o750 });
  await chown(root, uid, gid);

  const port = await freePort();
  const config = path.join(workDir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(workDir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `AllowUsers ${SSHD_USER}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin no',
      'StrictModes yes',
      'Subsystem sftp internal-sftp',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'MaxSessions 32',
      'MaxStartups 32',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  run('/usr/sbin/sshd', ['-t', '-f', config]);
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (data: Buffer) => (log += data.toString('utf8')));
  await waitForListener(port, child, () => log);

  const hostPublicKey = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const knownHostsPath = path.join(workDir, 'known_hosts');
  await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPublicKey}\n`);

  return {
    port,
    user: SSHD_USER,
    root,
    url: `ssh://${SSHD_USER}@127.0.0.1:${port}${root}`,
    clientKeyPath,
    knownHostsPath,
    hostPublicKey,
    workDir,
    cutConnections: async () => killAll(descendantsOf(child.pid!)),
    log: () => log,
    async stop() {
      const serving = descendantsOf(child.pid!);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await killAll(serving);
      await rm(workDir, { recursive: true, force: true });
      // The user goes only if this run made it; one left by an earlier run is reused and kept.
      if (createdUser) spawnSync('userdel', [SSHD_USER], { stdio: 'ignore' });
    },
  };
}

/**
 * What an SshTarget needs to reach this server as `host`, with that host's own local spool
 * and cache under `localWork`; `SSH_TEST_LOG=debug` shows its log.
 */
export function sshTargetOptions(sshd: Sshd, host: string, localWork: string): SshTargetOptions {
  return {
    name: 'dr',
    url: parseSshUrl(sshd.url),
    privateKeyPath: sshd.clientKeyPath,
    knownHostsPath: sshd.knownHostsPath,
    bandwidthBytesPerS: 0,
    host,
    spoolRoot: path.join(localWork, 'spool'),
    cacheRoot: path.join(localWork, 'cache'),
    log: pino({ level: process.env.SSH_TEST_LOG ?? 'silent' }),
  };
}

/** Creates the dedicated user when missing; true when this call created it. */
function ensureUser(user: string): boolean {
  let created = false;
  if (spawnSync('id', ['-u', user], { stdio: 'ignore' }).status !== 0) {
    run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/sh', user]);
    created = true;
  }
  // sshd refuses a locked account ("!" in shadow) when PAM is off; "*" is merely no password.
  run('usermod', ['-p', '*', user]);
  return created;
}

function userIds(user: string): { uid: number; gid: number } {
  const uid = Number(run('id', ['-u', user]).trim());
  const gid = Number(run('id', ['-g', user]).trim());
  return { uid, gid };
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

async function waitForListener(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on port ${port} within 10 s: ${log()}`);
}

/** Every process below `pid`, children before their own children, read from /proc. */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const parent = parentPid(Number(name));
    if (parent !== null) parentOf.set(Number(name), parent);
  }
  const found: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = [...parentOf].filter(([, parent]) => frontier.includes(parent)).map(([child]) => child);
    found.push(...next);
    frontier = next;
  }
  return found;
}

async function killAll(pids: number[]): Promise<number> {
  let killed = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      killed += 1;
    } catch {
      // Gone already: its parent's death took it.
    }
  }
  return killed;
}

/** The parent pid from /proc/<pid>/stat (the field after the parenthesised name); null once it is gone. */
function parentPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}
