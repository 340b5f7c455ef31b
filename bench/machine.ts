import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { MachineFacts } from './model.js';

const execFileP = promisify(execFile);

/** The run's machine and versions, for the table's header. A fact that cannot be read is "unknown". */
export async function collectMachineFacts(imagesDir: string, versions: Record<string, string>): Promise<MachineFacts> {
  const [cpu, disk, libvirt, qemu, qemuImg, rabbitmq, gnuplot] = await Promise.all([
    readFile('/proc/cpuinfo', 'utf8').then((t) => /^model name\s*:\s*(.+)$/m.exec(t)?.[1] ?? 'unknown', () => 'unknown'),
    diskOf(imagesDir),
    firstMatch(['virsh', '-c', 'qemu:///system', 'version', '--daemon'], /Running against daemon: (\S+)/),
    firstMatch(['qemu-system-x86_64', '--version'], /version (\S+)/),
    firstMatch(['qemu-img', '--version'], /version (\S+)/),
    firstMatch(['rabbitmqctl', 'version'], /^(\S+)/),
    firstMatch(['gnuplot', '--version'], /gnuplot (.+)$/m),
  ]);
  return {
    date: new Date().toISOString(),
    cpu,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    disk,
    kernel: release(),
    versions: { node: process.version, libvirt, qemu, 'qemu-img': qemuImg, rabbitmq, gnuplot, ...versions },
  };
}

async function firstMatch(argv: string[], pattern: RegExp): Promise<string> {
  try {
    const { stdout } = await execFileP(argv[0]!, argv.slice(1), { timeout: 30_000 });
    return pattern.exec(stdout.trim())?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * "/dev/vda ext4 252G": where the images (and the repository) live. Whether it is an SSD
 * is left out: virtio disks always claim to be rotational.
 */
async function diskOf(dir: string): Promise<string> {
  try {
    const { stdout } = await execFileP('df', ['-h', '--output=source,fstype,size', dir], { timeout: 30_000 });
    const [source, fstype, size] = (stdout.trim().split('\n')[1] ?? '').trim().split(/\s+/);
    return source && fstype && size ? `${source} ${fstype} ${size}` : 'unknown';
  } catch {
    return 'unknown';
  }
}
