import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run, virsh } from './guest.js';
import { WITHOUT_INHERITED_FDS } from './libvirtd.js';
import { projectRoot } from './project-root.js';

/**
 * A second system libvirtd (with its own virtlogd) on this machine: the DR node's
 * hypervisor in tests. A failback needs the DR copy of a domain to keep running while the
 * home copy, of the same name and UUID, starts; one libvirtd cannot hold both.
 *
 * second-libvirtd.sh starts both daemons in a private mount namespace with the work dir's
 * folders over /run, /etc/libvirt, /var/lib/libvirt (whose images folder stays the
 * host's), /var/cache/libvirt and /var/log/libvirt. Disk paths mean the same files on
 * both sides; state, sockets, pid files and logs do not collide. The host's libvirtd and
 * virtlogd are never signalled, reconfigured or asked anything here.
 *
 * Each start is a fresh hypervisor: what a killed run left in the work dir (its daemons,
 * its guests' QEMU, pid files, sockets, definitions) is stopped and wiped first.
 */

const SCRIPT = path.join(projectRoot(import.meta.url), 'test', 'support', 'second-libvirtd.sh');

/** The folders the script binds over the system paths (lib/images is where the host's images folder goes back in). */
const FOLDERS: Readonly<Record<string, number>> = { run: 0o755, etc: 0o755, lib: 0o755, 'lib/images': 0o711, cache: 0o711, log: 0o755 };

/** Paths the script mounts over: a work dir inside one of them would be hidden by its own mount. */
const MOUNTED = ['/run', '/var/run', '/etc/libvirt', '/var/lib/libvirt', '/var/cache/libvirt', '/var/log/libvirt'];

/** sun_path holds 108 bytes with the final NUL. */
const MAX_SOCKET_PATH = 107;

const QEMU_CONF = `# No cgroups. Without systemd, libvirt puts each QEMU in /machine/qemu-ID-NAME.libvirt-qemu
# under every controller: the host's libvirtd may use that very path for its domain of the
# same name (ids count from 1 in each daemon), and the first to stop would remove it.
cgroup_controllers = [ ]
`;

/** The host UUID differs from the host's libvirtd's (both would read the one SMBIOS UUID): it is another host. */
const libvirtdConf = (): string => `host_uuid = "${randomUUID()}"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
`;

export interface DrLibvirtd {
  /** For `virsh -c`, `Connection.open` and the agent's VIRT_DR_LIBVIRT_URI. */
  readonly uri: string;
  readonly workDir: string;
  /** From the namespace's start until the daemon answered, in ms. */
  readonly startMs: number;
  /** Destroys its domains, ends every process of its namespace and waits until they are gone. */
  stop(): Promise<void>;
}

/** The daemon's read-write socket as the host's namespace sees it. */
export function drLibvirtdSocket(workDir: string): string {
  return path.join(workDir, 'run', 'libvirt', 'libvirt-sock');
}

/** Known before the daemon starts, so an AgentProcess can be built with it. */
export function drLibvirtdUri(workDir: string): string {
  return `qemu+unix:///system?socket=${drLibvirtdSocket(checkedWorkDir(workDir))}`;
}

export async function startDrLibvirtd(workDir: string): Promise<DrLibvirtd> {
  workDir = checkedWorkDir(workDir);
  const uri = drLibvirtdUri(workDir);
  await stopNamespace(workDir, uri);
  await prepare(workDir);
  const t0 = Date.now();
  // Through bash that closes every inherited descriptor: a daemon must not keep a test's flock.
  const unshare = ['unshare', '--mount', '--propagation', 'private', '--', 'bash', SCRIPT, workDir];
  await run('bash', ['-c', WITHOUT_INHERITED_FDS, 'bash', ...unshare], { timeoutMs: 60_000 });
  const deadline = t0 + 30_000;
  while (!(await answers(uri))) {
    if (Date.now() > deadline) throw new Error(`the second libvirtd in ${workDir} does not answer; see ${path.join(workDir, 'log')}`);
    await sleep(50);
  }
  return { uri, workDir, startMs: Date.now() - t0, stop: () => stopNamespace(workDir, uri) };
}

/**
 * The processes of the namespace that uses this work dir: those whose /run is the work
 * dir's run folder (/proc/PID/root resolves in the process's own mounts). This finds the
 * daemons and their QEMU (in its own child namespace) and nothing of the host's.
 */
export async function namespaceProcesses(workDir: string): Promise<number[]> {
  const ours = await fs.stat(path.join(workDir, 'run')).catch(() => null);
  if (!ours) return [];
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = await fs.stat(`/proc/${entry}/root/run`).catch(() => null);
    if (st && st.dev === ours.dev && st.ino === ours.ino) found.push(Number(entry));
  }
  return found;
}

async function stopNamespace(workDir: string, uri: string): Promise<void> {
  // Through libvirt first, so that it gives back what it labelled (the owner of a kernel
  // or disk the host's guests share); then signals, for daemons that are stuck or gone.
  if (await answers(uri)) {
    const running = (await virsh(['list', '--name'], { uri })).split('\n').filter(Boolean);
    for (const name of running) await virsh(['destroy', name], { uri }).catch(() => undefined);
  }
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    for (const pid of await namespaceProcesses(workDir)) signalQuietly(pid, signal);
    if (await allGone(workDir, 15_000)) return;
  }
  throw new Error(`processes of the second libvirtd in ${workDir} survive SIGKILL: ${(await namespaceProcesses(workDir)).join(' ')}`);
}

/**
 * Fresh folders and configuration. Runs only once no process of an earlier namespace is
 * left. The QEMU capabilities cache stays: libvirt checks it against the binaries itself,
 * and probing QEMU again costs a first define about 4 s.
 */
async function prepare(workDir: string): Promise<void> {
  for (const dir of ['run', 'etc', 'lib', 'log']) await fs.rm(path.join(workDir, dir), { recursive: true, force: true });
  for (const [dir, mode] of Object.entries(FOLDERS)) {
    await fs.mkdir(path.join(workDir, dir), { recursive: true });
    await fs.chmod(path.join(workDir, dir), mode);
  }
  await fs.writeFile(path.join(workDir, 'etc', 'qemu.conf'), QEMU_CONF);
  await fs.writeFile(path.join(workDir, 'etc', 'libvirtd.conf'), libvirtdConf());
}

function checkedWorkDir(workDir: string): string {
  const dir = path.resolve(workDir);
  if (!/^\/[\w./-]+$/.test(dir)) throw new Error(`second libvirtd: work dir ${JSON.stringify(dir)} must be a plain path (it goes into a URI)`);
  if (MOUNTED.some((m) => dir === m || dir.startsWith(`${m}/`))) throw new Error(`second libvirtd: work dir ${dir} lies under a path it mounts over`);
  if (drLibvirtdSocket(dir).length > MAX_SOCKET_PATH) throw new Error(`second libvirtd: work dir ${dir} is too long for a unix socket path`);
  return dir;
}

async function allGone(workDir: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while ((await namespaceProcesses(workDir)).length > 0) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone meanwhile */
  }
}

async function answers(uri: string): Promise<boolean> {
  return virsh(['uri'], { uri, timeoutMs: 5_000 }).then(
    () => true,
    () => false,
  );
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
