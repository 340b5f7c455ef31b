/**
 * A repository-like point chain for instant-restore tests, laid out and protected as
 * src/repo/file-repository.ts lays out a repository: `<repo>/<domain uuid>/<backup id>/vda.qcow2`,
 * folders root's and 0750, files root's and 0600, an incremental a qcow2 overlay of its
 * parent by the relative path `../<parent id>/vda.qcow2` with the format recorded.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { letQemuReach } from '../../src/repo/qemu-access.js';
import { makeDataDisk, run } from './guest.js';

export const FULL_ID = '20261124T010000000Z-aaaaaa';
export const INCREMENTAL_ID = '20261124T020000000Z-bbbbbb';

export interface PointChain {
  repo: string;
  /** The full point's image and the incremental's, absolute. */
  full: string;
  incremental: string;
  /** sha256 of the files the guest finds in /data: `a.txt` and `ballast.bin` from the full, `b.bin` from the incremental. */
  guestFiles: Record<'a.txt' | 'ballast.bin' | 'b.bin', string>;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export async function sha256File(file: string): Promise<string> {
  return sha256(await readFile(file));
}

/**
 * A full point (an ext4 filesystem with `ballastMiB` of random data and a.txt) and an
 * incremental on it that adds b.bin and holds only the clusters that differ from its parent.
 */
export async function makePointChain(root: string, domainUuid: string, ballastMiB: number): Promise<PointChain> {
  const repo = path.join(root, 'repo');
  const domainDir = path.join(repo, domainUuid);
  const full = path.join(domainDir, FULL_ID, 'vda.qcow2');
  const incremental = path.join(domainDir, INCREMENTAL_ID, 'vda.qcow2');
  const scratch = path.join(root, 'scratch');
  await rm(repo, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
  for (const dir of [path.dirname(full), path.dirname(incremental), scratch]) await mkdir(dir, { recursive: true });
  try {
    const content = path.join(scratch, 'content');
    await mkdir(content);
    await run('bash', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'sh', `${ballastMiB}M`, path.join(content, 'ballast.bin')]);
    await writeFile(path.join(content, 'a.txt'), 'written before the full point\n');
    await makeDataDisk(full, ballastMiB + 32, content);
    const raw = path.join(scratch, 'incremental.raw');
    const b = path.join(scratch, 'b.bin');
    await run('bash', ['-c', 'head -c 1M /dev/urandom > "$1"', 'sh', b]);
    await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', full, raw]);
    await run('debugfs', ['-w', '-R', `write ${b} b.bin`, raw]);
    // An overlay of the whole new state, rebased in safe mode onto the full point: it keeps
    // only the clusters that differ from it (convert -B would write every cluster of a raw source).
    const whole = path.join(scratch, 'whole.qcow2');
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, whole]);
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', whole, '-F', 'qcow2', incremental]);
    await run('qemu-img', ['rebase', '-f', 'qcow2', '-b', path.join('..', FULL_ID, 'vda.qcow2'), '-F', 'qcow2', incremental]);
    const guestFiles = {
      'a.txt': await sha256File(path.join(content, 'a.txt')),
      'ballast.bin': await sha256File(path.join(content, 'ballast.bin')),
      'b.bin': await sha256File(b),
    };
    for (const dir of [repo, domainDir, path.dirname(full), path.dirname(incremental)]) await chmod(dir, 0o750);
    for (const file of [full, incremental]) await chmod(file, 0o600);
    return { repo, full, incremental, guestFiles };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * What QEMU, running as `uid`, needs to read the chain when libvirt does not relabel it:
 * search on every folder on the way (letQemuReach, as a backup's staging folder gets)
 * and read on each image, both as POSIX ACL entries; owner and mode bits stay.
 */
export async function letQemuRead(chain: PointChain, uid: number): Promise<void> {
  for (const image of [chain.full, chain.incremental]) await letQemuReach(path.dirname(image), uid);
  await run('setfacl', ['-m', `u:${uid}:r`, chain.full, chain.incremental]);
}

export interface FileLabel {
  uid: number;
  gid: number;
  mode: string;
  /** Names of the extended attributes (libvirt's DAC driver remembers owners in `trusted.libvirt.security.*`). */
  xattrs: string[];
}

const READ_LABELS = `import json, os, sys
print(json.dumps([{"uid": st.st_uid, "gid": st.st_gid, "mode": oct(st.st_mode & 0o7777)[2:], "xattrs": sorted(os.listxattr(f))}
                  for f in sys.argv[1:] for st in [os.stat(f)]]))`;

/** Owner, mode and extended attribute names of files (what `stat` and `getfattr -d -m -` show). */
export async function fileLabels(files: string[]): Promise<FileLabel[]> {
  const { stdout } = await run('python3', ['-c', READ_LABELS, ...files]);
  return JSON.parse(stdout) as FileLabel[];
}

/** A new qcow2 overlay at `file` on `backing` (absolute path, format named). */
export async function freshOverlay(file: string, backing: string): Promise<void> {
  await rm(file, { force: true });
  await mkdir(path.dirname(file), { recursive: true });
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', 'qcow2', file]);
}
