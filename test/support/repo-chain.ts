/**
 * Real repository chains for tests of verify and delete: real qcow2 and raw files made
 * with qemu-img and written with qemu-io (random patterns at random offsets, overwrites of
 * earlier points' data, zero writes), real manifests, published the way FileRepository
 * publishes a point (staging folder, manifest last, one rename). No libvirt.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { copyFile, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { flushAndHash } from '../../src/backup/snapshot/copy-disk.js';
import { chainSpec, imageInfo, readChain } from '../../src/qemu/qemu-img.js';
import type { FileRepository } from '../../src/repo/file-repository.js';
import type { Manifest, PointDisk } from '../../src/repo/point.js';
import { mulberry32 } from './prng.js';

const execFileP = promisify(execFile);
const qemu = (tool: 'qemu-img' | 'qemu-io', ...args: string[]) => execFileP(tool, args, { maxBuffer: 1 << 24 });

export interface ChainDisk {
  target: string;
  format: 'qcow2' | 'raw';
}

export interface RepoChainSpec {
  domainUuid: string;
  /** Each point's parent, by index (null: a full). Default: a straight chain of `points`. */
  parents?: (number | null)[];
  points?: number;
  disks?: ChainDisk[];
  /** Virtual size of each disk; default 16 MiB. */
  virtualSize?: number;
  /** Seeds the writes, so a chain is the same on every run. */
  seed?: number;
  /** How much each point writes, by index; default 12 writes of up to 384 KiB. */
  writes?: (index: number) => WriteLoad;
}

export interface WriteLoad {
  count: number;
  /** Each write is 4 KiB to this many bytes (a multiple of 4 KiB). */
  maxBytes: number;
}

const DEFAULT_WRITES: WriteLoad = { count: 12, maxBytes: 96 * 4096 };

const MIB = 1 << 20;
const never = new AbortController().signal;

/** A backup id that sorts by `n` (the repository orders points by created_at, then id). */
export function chainBackupId(n: number): string {
  return `20260301T000000${String(n).padStart(3, '0')}Z-c0ffee`;
}

/** Builds and publishes the points of `spec`, oldest first; returns their manifests. */
export async function buildRepoChain(repo: FileRepository, spec: RepoChainSpec): Promise<Manifest[]> {
  const parents = spec.parents ?? Array.from({ length: spec.points ?? 4 }, (_, i) => (i === 0 ? null : i - 1));
  const disks = spec.disks ?? [{ target: 'vda', format: 'qcow2' }];
  const size = spec.virtualSize ?? 16 * MIB;
  const random = mulberry32(spec.seed ?? 1);
  const manifests: Manifest[] = [];
  for (const [index, parentIndex] of parents.entries()) {
    const backupId = chainBackupId(index + 1);
    const parent = parentIndex === null ? null : manifests[parentIndex]!;
    const staging = await repo.beginPoint(spec.domainUuid, backupId);
    const pointDisks: PointDisk[] = [];
    for (const disk of disks) {
      const file = join(staging, `${disk.target}.${disk.format}`);
      await createDiskFile(repo, spec.domainUuid, file, disk, parent, size);
      await qemu('qemu-io', '-f', disk.format, ...writeCommands(random, size, spec.writes?.(index) ?? DEFAULT_WRITES), file);
      const sha256 = await flushAndHash(file, never);
      pointDisks.push({
        target: disk.target,
        file: `${disk.target}.${disk.format}`,
        format: disk.format,
        virtual_size: (await imageInfo(file, disk.format)).virtualSize,
        size: (await stat(file)).size,
        sha256,
      });
    }
    const manifest = pointManifest(spec.domainUuid, backupId, index, parent, pointDisks);
    await repo.publishPoint(manifest, repo.stagingFolder(spec.domainUuid, backupId));
    manifests.push(manifest);
  }
  return manifests;
}

/** A qcow2 overlay of the parent's file (relative, as the agent records it), or a whole copy. */
async function createDiskFile(repo: FileRepository, domainUuid: string, file: string, disk: ChainDisk, parent: Manifest | null, size: number) {
  const parentDisk = parent?.disks.find((d) => d.target === disk.target);
  if (!parent || !parentDisk) {
    await qemu('qemu-img', 'create', '-q', '-f', disk.format, file, String(size));
  } else if (disk.format === 'raw') {
    // Raw disks are copied whole into every point.
    await copyFile(join(repo.pointDir(domainUuid, parent.backup_id), parentDisk.file), file);
  } else {
    await qemu('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', `../${parent.backup_id}/${parentDisk.file}`, '-F', parentDisk.format, file);
  }
}

/** qemu-io commands: data at random 4 KiB-aligned offsets, crossing clusters, some zeroes. */
function writeCommands(random: () => number, size: number, load: WriteLoad): string[] {
  const commands: string[] = [];
  for (let i = 0; i < load.count; i++) {
    const length = (1 + Math.floor(random() * (load.maxBytes / 4096))) * 4096;
    const offset = Math.floor(random() * ((size - length) / 4096)) * 4096;
    const zero = random() < 0.25;
    const pattern = 1 + Math.floor(random() * 254);
    commands.push('-c', zero ? `write -z ${offset} ${length}` : `write -P ${pattern} ${offset} ${length}`);
  }
  return commands;
}

function pointManifest(domainUuid: string, backupId: string, index: number, parent: Manifest | null, disks: PointDisk[]): Manifest {
  return {
    manifest_version: 1,
    backup_id: backupId,
    domain: 'repo-chain-vm',
    domain_uuid: domainUuid,
    mode: parent ? 'incremental' : 'full',
    kind: 'manual',
    tier: 'manual',
    engine: 'snapshot',
    reason: parent ? null : 'the domain has no backup yet',
    parent: parent?.backup_id ?? null,
    created_at: new Date(Date.UTC(2026, 2, 1, 0, 0, 0, index + 1)).toISOString(),
    host: 'repo-chain-host',
    quiesce: 'none',
    freeze_ms: 0,
    bytes: disks.reduce((sum, d) => sum + d.size, 0),
    disks,
    domain_xml: domainXml(domainUuid, disks),
    checkpoint: null,
    host_disks: [],
  };
}

function domainXml(domainUuid: string, disks: PointDisk[]): string {
  const devices = disks
    .map(
      (d) =>
        `<disk type='file' device='disk'><driver name='qemu' type='${d.format}'/>` +
        `<source file='/var/lib/libvirt/images/repo-chain-vm-${d.target}.${d.format}'/><target dev='${d.target}' bus='virtio'/></disk>`,
    )
    .join('');
  return `<domain type='kvm'><name>repo-chain-vm</name><uuid>${domainUuid}</uuid><memory unit='MiB'>256</memory><devices>${devices}</devices></domain>`;
}

/**
 * The guest-visible content of each disk of a point, as the sha256 of its whole chain
 * converted to raw (every layer's format named, nothing probed), by target.
 */
export async function flattenedSha256(repo: FileRepository, domainUuid: string, backupId: string): Promise<Record<string, string>> {
  return flattenedSha256At(await repo.getPoint(domainUuid, backupId), repo.pointDir(domainUuid, backupId), repo.root);
}

/** The same for a point whose files are in `pointDir`; the raw copies go in `scratch`. */
export async function flattenedSha256At(manifest: Manifest, pointDir: string, scratch: string): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const disk of manifest.disks) {
    const chain = await readChain({ file: join(pointDir, disk.file), format: disk.format });
    const raw = join(scratch, `flat-${randomUUID()}.raw`);
    try {
      await qemu('qemu-img', 'convert', '-U', '-f', disk.format, '-O', 'raw', chainSpec(chain), raw);
      sums[disk.target] = await sha256Of(raw);
    } finally {
      await rm(raw, { force: true });
    }
  }
  return sums;
}

/** Flattened checksums of every trusted point of the domain, by backup id. */
export async function flattenedChain(repo: FileRepository, domainUuid: string): Promise<Record<string, Record<string, string>>> {
  const sums: Record<string, Record<string, string>> = {};
  for (const point of await repo.listPoints(domainUuid)) sums[point.backup_id] = await flattenedSha256(repo, domainUuid, point.backup_id);
  return sums;
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Every file below `dir` with its sha256: what "nothing changed" is checked against. */
export async function fileSums(dir: string): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) sums[join(entry.parentPath, entry.name).slice(dir.length + 1)] = await sha256Of(join(entry.parentPath, entry.name));
  }
  return sums;
}

/** Where in an image file the guest's data starts (a byte of the first allocated data cluster). */
export async function dataOffsetOf(file: string): Promise<number> {
  const { stdout } = await qemu('qemu-img', 'map', '-U', '--output=json', '-f', 'qcow2', chainSpec([{ file, format: 'qcow2' }]));
  const extents = JSON.parse(stdout) as { data: boolean; offset?: number; depth: number }[];
  const extent = extents.find((e) => e.data && e.depth === 0 && e.offset !== undefined);
  if (!extent) throw new Error(`${file} holds no data of its own`);
  return extent.offset! + 100;
}

/** Flips one byte of a file, in place. */
export async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}
