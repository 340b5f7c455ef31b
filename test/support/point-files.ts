/**
 * A point's files written into a local folder (a target's staging folder), with the
 * manifest that describes them: random bytes of chosen sizes and their sha256, for the
 * repository targets' tests. Random data, so no transfer can compress or dedupe it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../../src/repo/point.js';

export interface DiskSpec {
  target: string;
  file: string;
  bytes: number;
}

const CHUNK = 4 << 20;

/** Writes each disk file into `folder` and returns the point's manifest. */
export async function writePointFiles(
  folder: string,
  point: { domainUuid: string; backupId: string; parent: string | null },
  disks: DiskSpec[],
): Promise<Manifest> {
  const written = [];
  for (const disk of disks) {
    const sha256 = await writeRandomFile(path.join(folder, disk.file), disk.bytes);
    written.push({ target: disk.target, file: disk.file, format: 'raw' as const, virtual_size: disk.bytes, size: disk.bytes, sha256 });
  }
  return {
    manifest_version: 1,
    backup_id: point.backupId,
    domain: 'vm-ssh-test',
    domain_uuid: point.domainUuid,
    mode: point.parent ? 'incremental' : 'full',
    kind: 'manual',
    tier: 'manual',
    engine: 'snapshot',
    reason: point.parent ? null : 'first backup',
    parent: point.parent,
    host: 'compute-ssh-a',
    created_at: `${point.backupId.slice(0, 4)}-${point.backupId.slice(4, 6)}-${point.backupId.slice(6, 8)}T00:00:00.${point.backupId.slice(15, 18)}Z`,
    quiesce: 'none',
    freeze_ms: 0,
    bytes: written.reduce((sum, d) => sum + d.size, 0),
    disks: written,
    domain_xml: '<domain type="kvm"><name>vm-ssh-test</name></domain>',
    checkpoint: null,
    host_disks: [],
  };
}

/** A file of `bytes` random bytes; returns its sha256. */
export async function writeRandomFile(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'w', 0o640);
  try {
    for (let done = 0; done < bytes; ) {
      const chunk = randomBytes(Math.min(CHUNK, bytes - done));
      hash.update(chunk);
      await handle.write(chunk, 0, chunk.length, done);
      done += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** The sha256 of a local file. */
export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
