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
