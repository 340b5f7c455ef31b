import { open, rename, mkdir, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Crash-safe file replacement: write a sibling temporary file, fsync it, rename it over
 * the target, then fsync the folder so the rename itself survives a power cut. A reader
 * sees the old content or the new one, never a torn mix.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o640): Promise<void> {
  const dir = dirname(path);
  const temporary = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temporary, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  await fsyncDirectory(dir);
}

export async function writeJsonAtomic(path: string, value: unknown, mode?: number): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode);
}

export async function fsyncDirectory(dir: string): Promise<void> {
  await syncPath(dir);
}

/** Makes a file's data durable (the folder's entry for it is fsyncDirectory's job). */
export async function fsyncFile(path: string): Promise<void> {
  await syncPath(path);
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function ensureDirectory(dir: string, mode = 0o750): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}

/** True for temporary files writeFileAtomic leaves behind when a crash interrupts it. */
export function isAtomicTemporary(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}
