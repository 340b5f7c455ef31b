import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ToolFailed } from '../errors.js';

/**
 * In push mode QEMU itself writes the backup into the staging folder, as the unprivileged
 * user it runs as (libvirt-qemu on Debian). libvirt creates the target file and hands it
 * to that user, but QEMU must still reach it: every folder on the way needs search (x)
 * permission for that user. The repository is root's and 0750, so that user alone gets a
 * POSIX ACL entry `u:<uid>:x` on each folder on the way that others cannot search, and
 * nobody else gains anything. After the job the staging folder's entry is removed again.
 */
export async function letQemuReach(staging: string, uid: number | null): Promise<void> {
  if (uid === null || uid === 0) return;
  const folders: string[] = [];
  for (let dir = staging; ; dir = dirname(dir)) {
    const { mode } = await stat(dir);
    if (dir === staging || (mode & 0o001) === 0) folders.push(dir);
    if (dirname(dir) === dir) break;
  }
  await setfacl(['-m', `u:${uid}:x`, ...folders]);
}

/** Takes the staging folder's entry away once QEMU is done writing there. */
export async function revokeQemuAccess(staging: string, uid: number | null): Promise<void> {
  if (uid === null || uid === 0) return;
  await setfacl(['-x', `u:${uid}`, staging]);
}

/**
 * An instant restore's domain reads points straight from the repository, as backing
 * files libvirt is told not to relabel (it would chown them to QEMU's user for good):
 * QEMU's user gets `u:<uid>:r` on each file and search access on the way to it.
 */
export async function letQemuRead(files: readonly string[], uid: number | null): Promise<void> {
  if (uid === null || uid === 0 || files.length === 0) return;
  for (const folder of new Set(files.map((f) => dirname(f)))) await letQemuReach(folder, uid);
  await setfacl(['-m', `u:${uid}:r`, ...files]);
}

/**
 * Takes the read access away once no domain reads the files. Point files carry no ACL of
 * their own (the repository writes them 0600), so removing every extended entry (`-b`)
 * gives back exactly what they had; `-x` would leave an empty mask behind. The search
 * entries on the folders stay: they let QEMU open nothing it cannot read.
 */
export async function revokeQemuRead(files: readonly string[], uid: number | null): Promise<void> {
  if (uid === null || uid === 0 || files.length === 0) return;
  await setfacl(['-b', ...files]);
}

function setfacl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('setfacl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
    child.on('error', (err) => reject(new ToolFailed(`setfacl: ${err.message} (is the acl package installed?)`, { cause: err })));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new ToolFailed(`setfacl ${args.join(' ')} exited ${code}: ${stderr.trim()}`)),
    );
  });
}
