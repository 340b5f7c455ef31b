import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { destroyTestGuest, qcow2DiskXml, run, virsh, xmlEscape } from '../test/support/guest.js';
import { BENCH_DOMAIN_PREFIX } from './context.js';

/**
 * Running domains that cost almost nothing: no kernel and a blank disk, so SeaBIOS finds
 * nothing to boot and halts the vCPU. The bus suite needs many domains that the agent
 * accepts backups for, not guests that do anything.
 */
export async function createIdleDomains(workDir: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${BENCH_DOMAIN_PREFIX}idle-${i}`);
  for (const name of names) {
    const dir = idleDir(workDir, name);
    await destroyTestGuest(name, { workDir: dir });
    // libvirt's qemu user opens the disk: the folders and the file must be readable to it.
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(dir, 0o755);
    const disk = path.join(dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    await chmod(disk, 0o644);
    const xmlPath = path.join(dir, 'domain.xml');
    await writeFile(xmlPath, idleDomainXml(name, disk));
    await virsh(['define', xmlPath]);
    await virsh(['start', name], { timeoutMs: 120_000 });
  }
  return names;
}

export async function destroyIdleDomains(names: string[], workDir: string): Promise<void> {
  for (const name of names) await destroyTestGuest(name, { workDir: idleDir(workDir, name) });
}

function idleDir(workDir: string, name: string): string {
  return path.join(workDir, 'idle', name);
}

/** Names come from this module and paths from the bench's own folder; both are escaped anyway. */
export function idleDomainXml(name: string, disk: string): string {
  return `<domain type='qemu'>
  <name>${xmlEscape(name)}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_reboot>restart</on_reboot>
  <devices>
${qcow2DiskXml(disk, 'vda')}    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}
