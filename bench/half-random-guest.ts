import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createTestGuest, type TestGuest } from '../test/support/guest.js';
import type { BenchContext } from './context.js';
import { MiB } from './stats.js';

/** Where the bench keeps a guest's disk, XML and console log. */
export function benchGuestDir(workDir: string, name: string): string {
  return path.join(workDir, 'guests', name);
}

/**
 * A guest whose ext4 data disk of `sizeMiB` is half random data (`/data/random.bin`),
 * written on the host into the file system (a TCG guest would take minutes). Returns once
 * the domain runs; its guest agent answers later (waitForAgent).
 */
export async function createHalfRandomGuest(ctx: Pick<BenchContext, 'workDir' | 'assets'>, name: string, sizeMiB: number): Promise<TestGuest> {
  const content = path.join(ctx.workDir, `content-${name}`);
  try {
    await writeRandomFile(path.join(content, 'random.bin'), (sizeMiB / 2) * MiB);
    return await createTestGuest({ name, dataDiskMiB: sizeMiB, dataDiskContent: content, workDir: benchGuestDir(ctx.workDir, name), assets: ctx.assets });
  } finally {
    await rm(content, { recursive: true, force: true });
  }
}

export function sizeLabel(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

/** Incompressible content for the guest's file system, written in 4 MiB chunks. */
async function writeRandomFile(file: string, bytes: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(4 * MiB);
    for (let left = bytes; left > 0; left -= chunk.length) {
      writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, left));
    }
  } finally {
    closeSync(fd);
  }
}
