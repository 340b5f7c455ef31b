/**
 * Test-guest helper for integration tests.
 *
 * Boots a tiny real guest (Debian kernel + busybox initramfs + qemu-ga, built by
 * test/guest/build-guest.sh) under libvirt (`<domain type='qemu'>`, TCG) with an
 * ext4 qcow2 data disk mounted at /data in the guest, where a background writer
 * appends a line to /data/heartbeat every 0.5 s.
 *
 * Every external command is spawned with child_process.execFile and an argument
 * array; no host shell is ever involved.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './project-root.js';

export const LIBVIRT_URI = 'qemu:///system';
/** Default place for kernel/initramfs and per-guest work dirs. */
export const TEST_IMAGES_DIR = '/var/lib/libvirt/images/virt-dr-test';
/** Printed on the serial console when the guest's init is done ("... agent=1" / "agent=0"). */
export const GUEST_READY_MARKER = 'VIRT-DR-GUEST-READY';
/** Printed on the serial console when the guest's init hits a fatal error. */
export const GUEST_FAILED_MARKER = 'VIRT-DR-GUEST-FAILED';
/** Mount point of the data disk (/dev/vda, ext4) inside the guest. */
export const GUEST_DATA_MOUNT = '/data';
/** Heartbeat file inside the guest ("<n> <epoch> <uptime>" lines, one per ~0.5 s). */
export const GUEST_HEARTBEAT_PATH = '/data/heartbeat';
export const GUEST_AGENT_PID_FILE = '/run/qemu-ga.pid';

const GUEST_DIR = path.join(projectRoot(import.meta.url), 'test', 'guest');
export const BUILD_GUEST_SCRIPT = path.join(GUEST_DIR, 'build-guest.sh');
export const MAKE_DATA_DISK_SCRIPT = path.join(GUEST_DIR, 'make-data-disk.sh');

// ---------------------------------------------------------------- commands ---

export class CommandError extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly exitCode: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
    readonly timedOut: boolean,
  ) {
    const shown = [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
    super(
      `command failed${timedOut ? ' (timed out)' : ''} [exit ${String(exitCode)}]: ${shown}` +
        (stderr.trim() ? `\n--- stderr ---\n${stderr.trim().slice(-4000)}` : '') +
        (stdout.trim() ? `\n--- stdout ---\n${stdout.trim().slice(-2000)}` : ''),
    );
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  timeoutMs?: number;
  maxBuffer?: number;
  env?: NodeJS.ProcessEnv;
}

/** execFile with an argv array; resolves {stdout, stderr} as Buffers, rejects with CommandError. */
export function runBuffer(
  file: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<{ stdout: Buffer; stderr: Buffer }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      {
        encoding: 'buffer',
        timeout: opts.timeoutMs ?? 120_000,
        killSignal: 'SIGKILL',
        maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024,
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
          const code = typeof e.code === 'number' || typeof e.code === 'string' ? e.code : (e.signal ?? null);
          reject(
            new CommandError(
              file,
              args,
              code,
              stdout?.toString('utf8') ?? '',
              (stderr?.toString('utf8') ?? '') || e.message,
              Boolean(e.killed),
            ),
          );
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** Like runBuffer but decodes stdout/stderr as UTF-8. */
export async function run(
  file: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const r = await runBuffer(file, args, opts);
  return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Which libvirtd a helper talks to: the host's (qemu:///system) unless `uri` names another (test/support/second-libvirtd.ts). */
export interface LibvirtTarget {
  uri?: string;
}

/** `virsh -c URI ARGS...` (qemu:///system by default), returns trimmed stdout. */
export async function virsh(args: readonly string[], opts: RunOptions & LibvirtTarget = {}): Promise<string> {
  const { uri = LIBVIRT_URI, ...runOptions } = opts;
  const r = await run('virsh', ['-c', uri, ...args], { timeoutMs: 60_000, ...runOptions });
  return r.stdout.trim();
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- libvirtd ---

async function libvirtAnswers(): Promise<boolean> {
  try {
    await virsh(['uri'], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Make sure libvirtd (and virtlogd) answer on qemu:///system; start them with
 * `virtlogd -d` / `libvirtd -d` if not (hosts without systemd). Throws if they
 * still do not answer after timeoutMs.
 */
export async function ensureLibvirtd(timeoutMs = 60_000): Promise<void> {
  if (await libvirtAnswers()) return;
  // Either may already be running (then -d fails on its pid file lock): ignore.
  for (const daemon of ['virtlogd', 'libvirtd']) {
    try {
      await run(daemon, ['-d'], { timeoutMs: 30_000 });
    } catch {
      /* already running or failed; the probe below decides */
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await libvirtAnswers()) return;
    await sleep(500);
  }
  // Last attempt, surfacing the real error.
  await virsh(['uri'], { timeoutMs: 10_000 });
}

// ------------------------------------------------------------------ assets ---

export interface GuestAssets {
  kernel: string;
  initrd: string;
  outDir: string;
}

/** Run test/guest/build-guest.sh (idempotent, installs missing packages) and return the asset paths. */
export async function buildGuestAssets(outDir = TEST_IMAGES_DIR): Promise<GuestAssets> {
  await run('bash', [BUILD_GUEST_SCRIPT, outDir], { timeoutMs: 20 * 60_000 });
  const assets = {
    kernel: path.join(outDir, 'vmlinuz'),
    initrd: path.join(outDir, 'initramfs.img'),
    outDir,
  };
  await fs.access(assets.kernel);
  await fs.access(assets.initrd);
  return assets;
}

/** Create an ext4-formatted qcow2 image of sizeMiB at filePath (test/guest/make-data-disk.sh). */
export async function makeDataDisk(filePath: string, sizeMiB: number, contentDir?: string): Promise<void> {
  const args = [MAKE_DATA_DISK_SCRIPT, filePath, String(sizeMiB), ...(contentDir ? [contentDir] : [])];
  await run('bash', args, { timeoutMs: 600_000 });
}

// ------------------------------------------------------------------ guests ---

export interface CreateTestGuestOptions {
  /** Domain name: [A-Za-z0-9_.-]+ */
  name: string;
  /** Size of the ext4 qcow2 data disk (vda, mounted at /data). Default 64. */
  dataDiskMiB?: number;
  /** A host folder whose files the data disk's filesystem starts with. */
  dataDiskContent?: string;
  /** Sizes of blank qcow2 disks attached as vdb, vdc, …; the guest leaves them unmounted. */
  extraDisksMiB?: number[];
  /** Add the org.qemu.guest_agent.0 channel and start qemu-ga. Default true. */
  withAgent?: boolean;
  /** Where data.qcow2 and console.log live. Default TEST_IMAGES_DIR/guests/<name>. Wiped first. */
  workDir?: string;
  /** Default 256. */
  memoryMiB?: number;
  /** Extra kernel cmdline words. */
  extraCmdline?: string[];
  /** Pre-built assets (otherwise buildGuestAssets() is called). */
  assets?: GuestAssets;
  /** Give the domain Nova's instance metadata, as a Nova compute host defines it. */
  nova?: boolean;
  /** Nova's SMBIOS identity too (`<sysinfo type='smbios'>` with the domain's UUID as uuid and serial). */
  sysinfo?: boolean;
  /** A virtio network interface (user-mode networking: no bridge or network needed). */
  network?: boolean;
}

export interface TestGuest {
  name: string;
  uuid: string;
  workDir: string;
  /** qcow2 data disk attached as virtio vda (ext4, mounted at /data in the guest). */
  dataDisk: string;
  /** Blank qcow2 disks attached as vdb, vdc, … (raw block devices in the guest). */
  extraDisks: string[];
  /** Serial console output (root-readable). */
  consoleLog: string;
  withAgent: boolean;
  kernel: string;
  initrd: string;
  /** The XML the domain was defined from. */
  xml: string;
  /** destroyTestGuest(name, {workDir}). Never throws if already gone. */
  destroy(): Promise<void>;
}

export function defaultWorkDir(name: string): string {
  return path.join(TEST_IMAGES_DIR, 'guests', name);
}

function assertName(name: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) {
    throw new Error(`invalid test guest name: ${JSON.stringify(name)}`);
  }
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>'"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** A file-backed qcow2 virtio disk, as a <devices> child (indented, with its newline). */
export function qcow2DiskXml(file: string, target: string): string {
  return `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${xmlEscape(file)}'/>
      <target dev='${xmlEscape(target)}' bus='virtio'/>
    </disk>
`;
}

export interface DomainXmlOptions {
  name: string;
  kernel: string;
  initrd: string;
  dataDisk: string;
  extraDisks: string[];
  consoleLog: string;
  withAgent: boolean;
  memoryMiB: number;
  cmdline: string;
  /** Nova (like any owner that redefines a domain) keeps its UUID across every define. */
  uuid: string;
  nova?: boolean;
  sysinfo?: boolean;
  network?: boolean;
}

/** The SMBIOS identity Nova gives every instance (nova/virt/libvirt/config.py, LibvirtConfigGuestSysinfo). */
export function novaSysinfoXml(uuid: string): string {
  return `  <sysinfo type='smbios'>
    <system>
      <entry name='manufacturer'>OpenStack Foundation</entry>
      <entry name='product'>OpenStack Nova</entry>
      <entry name='version'>27.1.0</entry>
      <entry name='serial'>${xmlEscape(uuid)}</entry>
      <entry name='uuid'>${xmlEscape(uuid)}</entry>
      <entry name='family'>Virtual Machine</entry>
    </system>
  </sysinfo>
`;
}

/** The metadata Nova writes into every instance's XML (nova/virt/libvirt/config.py, trimmed). */
export const NOVA_METADATA_XML = `  <metadata>
    <nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>
      <nova:package version='27.1.0'/>
      <nova:name>virt-dr-test</nova:name>
      <nova:owner>
        <nova:user uuid='5f1c2a3b4d5e4f60a1b2c3d4e5f60718'>tester</nova:user>
        <nova:project uuid='0a1b2c3d4e5f40718293a4b5c6d7e8f9'>virt-dr</nova:project>
      </nova:owner>
    </nova:instance>
  </metadata>
`;

export function buildDomainXml(o: DomainXmlOptions): string {
  const e = xmlEscape;
  return `<domain type='qemu'>
  <name>${e(o.name)}</name>
  <uuid>${e(o.uuid)}</uuid>
${o.nova ? NOVA_METADATA_XML : ''}  <memory unit='MiB'>${o.memoryMiB}</memory>
  <currentMemory unit='MiB'>${o.memoryMiB}</currentMemory>
  <vcpu placement='static'>1</vcpu>
${o.sysinfo ? novaSysinfoXml(o.uuid) : ''}  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${e(o.kernel)}</kernel>
    <initrd>${e(o.initrd)}</initrd>
    <cmdline>${e(o.cmdline)}</cmdline>
${o.sysinfo ? "    <smbios mode='sysinfo'/>\n" : ''}  </os>
  <features>
    <acpi/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${qcow2DiskXml(o.dataDisk, 'vda')}${o.extraDisks.map((file, i) => qcow2DiskXml(file, `vd${String.fromCharCode(98 + i)}`)).join('')}    <controller type='usb' model='none'/>
${
  o.network
    ? `    <interface type='user'>
      <model type='virtio'/>
    </interface>
`
    : ''
}${
  o.withAgent
    ? `    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
`
    : ''
}    <serial type='file'>
      <source path='${e(o.consoleLog)}'/>
      <target port='0'/>
    </serial>
    <console type='file'>
      <source path='${e(o.consoleLog)}'/>
      <target type='serial' port='0'/>
    </console>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/**
 * Remove any leftover domain with that name and its files, then define and
 * start a fresh guest. Returns once the domain is running (not yet booted:
 * use waitForGuestReady / waitForAgent).
 */
export async function createTestGuest(opts: CreateTestGuestOptions): Promise<TestGuest> {
  assertName(opts.name);
  const withAgent = opts.withAgent ?? true;
  const workDir = path.resolve(opts.workDir ?? defaultWorkDir(opts.name));
  await ensureLibvirtd();
  const assets = opts.assets ?? (await buildGuestAssets());
  await destroyTestGuest(opts.name, { workDir });

  await fs.mkdir(workDir, { recursive: true, mode: 0o755 });
  await fs.chmod(workDir, 0o755);
  const dataDisk = path.join(workDir, 'data.qcow2');
  const consoleLog = path.join(workDir, 'console.log');
  await makeDataDisk(dataDisk, opts.dataDiskMiB ?? 64, opts.dataDiskContent);
  const extraDisks: string[] = [];
  for (const [i, sizeMiB] of (opts.extraDisksMiB ?? []).entries()) {
    const file = path.join(workDir, `extra${i + 1}.qcow2`);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeMiB}M`]);
    await fs.chmod(file, 0o644);
    extraDisks.push(file);
  }

  const cmdline = ['console=ttyS0', 'quiet', ...(withAgent ? [] : ['vdr.noagent']), ...(opts.extraCmdline ?? [])].join(
    ' ',
  );
  const xml = buildDomainXml({
    name: opts.name,
    kernel: assets.kernel,
    initrd: assets.initrd,
    dataDisk,
    extraDisks,
    consoleLog,
    withAgent,
    memoryMiB: opts.memoryMiB ?? 256,
    cmdline,
    uuid: randomUUID(),
    nova: opts.nova ?? false,
    sysinfo: opts.sysinfo ?? false,
    network: opts.network ?? false,
  });
  const xmlPath = path.join(workDir, 'domain.xml');
  await fs.writeFile(xmlPath, xml);
  await virsh(['define', xmlPath]);
  try {
    await virsh(['start', opts.name], { timeoutMs: 120_000 });
  } catch (err) {
    await destroyTestGuest(opts.name, { workDir });
    throw err;
  }
  const uuid = await virsh(['domuuid', opts.name]);
  return {
    name: opts.name,
    uuid,
    workDir,
    dataDisk,
    extraDisks,
    consoleLog,
    withAgent,
    kernel: assets.kernel,
    initrd: assets.initrd,
    xml,
    destroy: () => destroyTestGuest(opts.name, { workDir }),
  };
}

/**
 * Restarts a domain the way Nova does on every hard reboot and stop/start: destroy, a
 * plain undefine (Nova never passes the checkpoint or snapshot metadata flags), define
 * from Nova's own XML (the disk at the path Nova created), start.
 */
export async function novaStyleRestart(guest: Pick<TestGuest, 'name' | 'workDir' | 'xml'>): Promise<void> {
  await virsh(['destroy', guest.name]);
  await virsh(['undefine', guest.name]);
  const xmlPath = path.join(guest.workDir, 'domain.xml');
  await fs.writeFile(xmlPath, guest.xml);
  await virsh(['define', xmlPath]);
  await virsh(['start', guest.name], { timeoutMs: 120_000 });
}

export async function domainExists(name: string, target: LibvirtTarget = {}): Promise<boolean> {
  try {
    await virsh(['domuuid', name], { ...target, timeoutMs: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** `virsh domstate NAME` ("running", "shut off", ...), or null if the domain does not exist. */
export async function domainState(name: string, target: LibvirtTarget = {}): Promise<string | null> {
  try {
    return await virsh(['domstate', name], { ...target, timeoutMs: 30_000 });
  } catch {
    return null;
  }
}

/**
 * Destroy + undefine the domain (with snapshot/checkpoint metadata) and remove
 * its work dir (default TEST_IMAGES_DIR/guests/<name>). Never throws if
 * anything is already gone; throws only if the domain still exists afterwards.
 */
export async function destroyTestGuest(name: string, opts: { workDir?: string } & LibvirtTarget = {}): Promise<void> {
  assertName(name);
  const target = { uri: opts.uri };
  if (await domainExists(name, target)) {
    const state = await domainState(name, target);
    if (state && state !== 'shut off') {
      await virsh(['destroy', name], target).catch(() => undefined);
    }
    await virsh(['undefine', name, '--snapshots-metadata', '--checkpoints-metadata', '--nvram'], target)
      .catch(() => virsh(['undefine', name, '--snapshots-metadata', '--checkpoints-metadata'], target))
      .catch(() => virsh(['undefine', name], target))
      .catch(() => undefined);
    if (await domainExists(name, target)) {
      // A transient domain left running, or a domain stuck in a job: one more try.
      await virsh(['destroy', name], target).catch(() => undefined);
      await sleep(500);
      await virsh(['undefine', name], target).catch(() => undefined);
      if (await domainExists(name, target)) throw new Error(`could not remove test domain ${name}`);
    }
  }
  const workDir = path.resolve(opts.workDir ?? defaultWorkDir(name));
  if (workDir === '/' || workDir.split(path.sep).filter(Boolean).length < 2) {
    throw new Error(`refusing to remove suspicious workDir ${workDir}`);
  }
  await fs.rm(workDir, { recursive: true, force: true });
}

// ----------------------------------------------------------- console/boot ---

export async function readConsoleLog(consoleLog: string): Promise<string> {
  try {
    return await fs.readFile(consoleLog, 'utf8');
  } catch {
    return '';
  }
}

/** Wait for GUEST_READY_MARKER on the serial console; fails fast on GUEST_FAILED_MARKER or if the domain stops. */
export async function waitForGuestReady(guest: Pick<TestGuest, 'name' | 'consoleLog'>, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  for (;;) {
    const log = await readConsoleLog(guest.consoleLog);
    if (log.includes(GUEST_FAILED_MARKER)) {
      throw new Error(`guest ${guest.name} init failed; console:\n${log.slice(-4000)}`);
    }
    if (log.includes(GUEST_READY_MARKER)) return Date.now() - t0;
    const state = await domainState(guest.name);
    if (state !== 'running') {
      throw new Error(`guest ${guest.name} is ${state ?? 'gone'} before becoming ready; console:\n${log.slice(-4000)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`guest ${guest.name} not ready after ${timeoutMs} ms; console:\n${log.slice(-4000)}`);
    }
    await sleep(250);
  }
}

// ------------------------------------------------------------- guest agent ---

/**
 * `virsh qemu-agent-command --timeout T NAME JSON`; returns the parsed "return" value.
 * T defaults to 10 s; the host-side process timeout is T + 15 s (libvirt adds
 * its own guest-sync round trip).
 */
export async function agentCommand<T = unknown>(
  name: string,
  execute: string,
  args?: Record<string, unknown>,
  opts: { timeoutSec?: number } & LibvirtTarget = {},
): Promise<T> {
  const timeoutSec = opts.timeoutSec ?? 10;
  const cmd = JSON.stringify(args === undefined ? { execute } : { execute, arguments: args });
  const out = await virsh(['qemu-agent-command', '--timeout', String(timeoutSec), name, cmd], {
    uri: opts.uri,
    timeoutMs: (timeoutSec + 15) * 1000,
  });
  let parsed: { return?: T; error?: unknown };
  try {
    parsed = JSON.parse(out) as { return?: T; error?: unknown };
  } catch {
    throw new Error(`guest agent ${execute} on ${name}: unparsable reply: ${out}`);
  }
  if (parsed.error !== undefined || !('return' in parsed)) {
    throw new Error(`guest agent ${execute} on ${name} failed: ${out}`);
  }
  return parsed.return as T;
}

/** One guest-ping with a short timeout; true if the agent answered. */
export async function agentPing(name: string, timeoutSec = 2): Promise<boolean> {
  try {
    await agentCommand(name, 'guest-ping', undefined, { timeoutSec });
    return true;
  } catch {
    return false;
  }
}

/** Poll guest-ping until it answers; returns elapsed ms. Fails fast if the domain stops running. */
export async function waitForAgent(name: string, timeoutMs = 120_000, target: LibvirtTarget = {}): Promise<number> {
  const t0 = Date.now();
  let lastErr: unknown;
  for (;;) {
    try {
      await agentCommand(name, 'guest-ping', undefined, { ...target, timeoutSec: 2 });
      return Date.now() - t0;
    } catch (err) {
      lastErr = err;
    }
    const state = await domainState(name, target);
    if (state !== 'running') throw new Error(`waitForAgent: domain ${name} is ${state ?? 'gone'}`);
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`guest agent of ${name} not answering after ${timeoutMs} ms: ${String(lastErr)}`);
    }
    await sleep(500);
  }
}

export interface GuestExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Raw stdout bytes (for binary output). */
  stdoutBuffer: Buffer;
  signal?: number;
}

interface GuestExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: boolean;
  'err-truncated'?: boolean;
}

/**
 * Run argv[0] with argv[1..] inside the guest via guest-exec (capture-output)
 * and poll guest-exec-status until it exits. argv[0] must be an absolute path
 * or on the guest PATH (/bin:/sbin:/usr/bin:/usr/sbin; all busybox applets are in /bin).
 * Does not throw on a non-zero exit code; throws on timeout / agent failure.
 */
export async function guestExec(
  name: string,
  argv: readonly string[],
  opts: { timeoutMs?: number; input?: Buffer | string } & LibvirtTarget = {},
): Promise<GuestExecResult> {
  if (argv.length === 0) throw new Error('guestExec: empty argv');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const args: Record<string, unknown> = { path: argv[0], arg: argv.slice(1), 'capture-output': true };
  if (opts.input !== undefined) args['input-data'] = Buffer.from(opts.input).toString('base64');
  const target = { uri: opts.uri };
  const { pid } = await agentCommand<{ pid: number }>(name, 'guest-exec', args, target);
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  for (;;) {
    const st = await agentCommand<GuestExecStatus>(name, 'guest-exec-status', { pid }, target);
    if (st.exited) {
      const out = Buffer.from(st['out-data'] ?? '', 'base64');
      const err = Buffer.from(st['err-data'] ?? '', 'base64');
      if (st['out-truncated'] || st['err-truncated']) {
        throw new Error(`guestExec ${JSON.stringify(argv)}: output truncated by the guest agent`);
      }
      const res: GuestExecResult = {
        exitCode: st.exitcode ?? (st.signal !== undefined ? 128 + st.signal : -1),
        stdout: out.toString('utf8'),
        stderr: err.toString('utf8'),
        stdoutBuffer: out,
      };
      if (st.signal !== undefined) res.signal = st.signal;
      return res;
    }
    if (Date.now() > deadline) {
      throw new Error(`guestExec ${JSON.stringify(argv)} on ${name}: still running after ${timeoutMs} ms (pid ${pid})`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 500);
  }
}

/** guestExec that throws (with stdout/stderr) unless the exit code is 0. */
export async function guestExecOk(
  name: string,
  argv: readonly string[],
  opts: { timeoutMs?: number; input?: Buffer | string } & LibvirtTarget = {},
): Promise<GuestExecResult> {
  const r = await guestExec(name, argv, opts);
  if (r.exitCode !== 0) {
    throw new Error(
      `guestExec ${JSON.stringify(argv)} on ${name} exited ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return r;
}

/**
 * Write `bytes` random bytes to guestPath inside the guest, `sync`, and return
 * the sha256 (hex) computed inside the guest.
 */
export async function guestWriteRandomFile(name: string, guestPath: string, bytes: number, target: LibvirtTarget = {}): Promise<string> {
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`bad byte count ${bytes}`);
  const script =
    'set -e; mkdir -p "$(dirname "$2")"; head -c "$1" /dev/urandom > "$2"; sync; sha256sum "$2"';
  const r = await guestExecOk(name, ['/bin/sh', '-c', script, 'sh', String(bytes), guestPath], {
    ...target,
    timeoutMs: 300_000,
  });
  const hex = r.stdout.trim().split(/\s+/)[0] ?? '';
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`unexpected sha256sum output: ${r.stdout}`);
  return hex;
}

/** sha256 (hex) of a file, computed inside the guest. */
export async function guestSha256(name: string, guestPath: string, target: LibvirtTarget = {}): Promise<string> {
  const r = await guestExecOk(name, ['/bin/sha256sum', guestPath], target);
  return r.stdout.trim().split(/\s+/)[0] ?? '';
}

/** Number of lines in /data/heartbeat (grows by ~2 per second while the guest runs). */
export async function heartbeatCount(name: string, target: LibvirtTarget = {}): Promise<number> {
  const r = await guestExecOk(name, ['/bin/sh', '-c', 'wc -l < "$1"', 'sh', GUEST_HEARTBEAT_PATH], target);
  const n = Number.parseInt(r.stdout.trim(), 10);
  if (!Number.isFinite(n)) throw new Error(`heartbeatCount: unexpected output ${JSON.stringify(r.stdout)}`);
  return n;
}

/** Parse heartbeat file content (e.g. from readFileFromQcow2) into its line count. */
export function countHeartbeatLines(content: Buffer | string): number {
  return content
    .toString('utf8')
    .split('\n')
    .filter((l) => /^\d+ \d+ /.test(l)).length;
}

/**
 * Make the guest agent stop answering for `seconds` without killing it
 * (SIGSTOP, then SIGCONT from a guest-side sh). Resolves once guest-ping has
 * been observed failing (so the freeze is really in effect); `thawsAt` is the
 * approximate Date.now() at which the agent resumes. Use waitForAgent() to wait
 * for it to answer again.
 */
export async function freezeAgent(name: string, seconds: number): Promise<{ thawsAt: number }> {
  if (!(seconds > 0)) throw new Error('freezeAgent: seconds must be > 0');
  // The 1 s delay lets qemu-ga send the guest-exec reply before it is stopped.
  const script = 'sleep 1; P=$(cat "$2"); kill -STOP "$P"; sleep "$1"; kill -CONT "$P"';
  await agentCommand(name, 'guest-exec', {
    path: '/bin/sh',
    arg: ['-c', script, 'sh', String(seconds), GUEST_AGENT_PID_FILE],
    'capture-output': false,
  });
  const thawsAt = Date.now() + 1000 + seconds * 1000;
  await sleep(1200);
  // Confirm that the agent really stopped answering.
  if (await agentPing(name, 2)) {
    throw new Error(`freezeAgent: guest agent of ${name} still answers after SIGSTOP`);
  }
  return { thawsAt };
}

// ------------------------------------------------------- offline image read ---

/**
 * Read a file out of the ext4 filesystem inside a qcow2 (following its backing
 * chain): `qemu-img convert -U -O raw` to a temp file, then `debugfs -R "cat PATH"`.
 * pathInFs is relative to the filesystem root, i.e. the guest path without the
 * /data prefix (guest /data/foo -> "/foo").
 * -U (force-share) lets it read an image that a running VM has open; only freeze
 * (domfsfreeze) or stop the guest first if you need a consistent view.
 * replayJournal: run `e2fsck -fy` on the temp copy first (replays the ext4
 * journal, like a mount would) — needed for images taken without fsfreeze.
 */
export async function readFileFromQcow2(
  qcow2Path: string,
  pathInFs: string,
  opts: { replayJournal?: boolean } = {},
): Promise<Buffer> {
  return withRawCopy(qcow2Path, async (raw) => {
    if (opts.replayJournal) await fsckRaw(raw, true);
    return debugfsCat(raw, pathInFs);
  });
}

/** Convert an image (and its backing chain) to a temp raw file, run fn, delete the temp file. */
export async function withRawCopy<T>(imagePath: string, fn: (rawPath: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vdr-raw-'));
  const raw = path.join(dir, `${randomUUID()}.raw`);
  try {
    await run('qemu-img', ['convert', '-U', '-O', 'raw', imagePath, raw], { timeoutMs: 10 * 60_000 });
    return await fn(raw);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function debugfsCat(rawPath: string, pathInFs: string): Promise<Buffer> {
  if (!pathInFs.startsWith('/')) pathInFs = `/${pathInFs}`;
  if (/["\n]/.test(pathInFs)) throw new Error(`unsupported path for debugfs: ${JSON.stringify(pathInFs)}`);
  // debugfs parses its request like a command line: quote the path.
  const r = await runBuffer('debugfs', ['-R', `cat "${pathInFs}"`, rawPath], {
    timeoutMs: 10 * 60_000,
    maxBuffer: 2 * 1024 * 1024 * 1024,
  });
  // debugfs exits 0 even when the file is missing; anything on stderr besides its banner is an error.
  const errs = r.stderr
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^debugfs \d/.test(l));
  if (errs.length > 0) throw new Error(`debugfs cat ${pathInFs} in ${rawPath}: ${errs.join('; ')}`);
  return r.stdout;
}

async function fsckRaw(rawPath: string, fix: boolean): Promise<{ exitCode: number; output: string }> {
  try {
    const r = await run('e2fsck', [fix ? '-fy' : '-fn', rawPath], { timeoutMs: 10 * 60_000 });
    return { exitCode: 0, output: r.stdout + r.stderr };
  } catch (err) {
    if (err instanceof CommandError && typeof err.exitCode === 'number' && err.exitCode < 4) {
      // 1 = errors corrected, 2 = corrected + reboot: fine for a scratch copy.
      return { exitCode: err.exitCode, output: err.stdout + err.stderr };
    }
    throw err;
  }
}

/**
 * Read-only `e2fsck -fn` of the filesystem in an image (via a temp raw copy).
 * exitCode 0 = clean; 4 = uncorrected errors (also reported for a journal that
 * needs recovery). Never modifies the image.
 */
export async function fsckQcow2(imagePath: string): Promise<{ exitCode: number; output: string }> {
  return withRawCopy(imagePath, async (raw) => {
    try {
      const r = await run('e2fsck', ['-fn', raw], { timeoutMs: 10 * 60_000 });
      return { exitCode: 0, output: r.stdout + r.stderr };
    } catch (err) {
      if (err instanceof CommandError && typeof err.exitCode === 'number') {
        return { exitCode: err.exitCode, output: err.stdout + err.stderr };
      }
      throw err;
    }
  });
}

/** `qemu-img info --output=json -U` (use backingChain for the whole chain). */
export async function qemuImgInfo(imagePath: string, backingChain = false): Promise<unknown> {
  const args = ['info', '--output=json', '-U', ...(backingChain ? ['--backing-chain'] : []), imagePath];
  const r = await run('qemu-img', args, { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as unknown;
}
