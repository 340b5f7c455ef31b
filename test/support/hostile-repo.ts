/**
 * Plants hostile and broken entries in a real repository folder, as a review found them:
 * points the agent must keep but not trust, staging folders of other hosts, and symlinks
 * out of the repository. Shared by the repository's unit tests and the real agent's
 * integration test, so both check the same entries.
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { lstat, mkdir, open, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Backup ids that sort in the order of `n`. */
export function backupIdAt(n: number): string {
  return `20260101T000000${String(n).padStart(3, '0')}Z-abcdef`;
}

/** A manifest.json that the agent reads as a valid point. */
export function pointManifest(domainUuid: string, backupId: string, parent: string | null): Record<string, unknown> {
  return {
    manifest_version: 1,
    backup_id: backupId,
    domain: 'vm-gone',
    domain_uuid: domainUuid,
    mode: parent ? 'incremental' : 'full',
    kind: 'manual',
    tier: 'manual',
    parent,
    created_at: `2026-01-01T00:00:00.${backupId.slice(15, 18)}Z`,
    quiesce: 'agent',
    freeze_ms: 12,
    bytes: 4,
    disks: [{ target: 'vda', file: 'vda.qcow2', format: 'qcow2', virtual_size: 1048576, size: 4, sha256: '0'.repeat(64) }],
    domain_xml: '<domain/>',
  };
}

/** A complete point folder: its disk file and its manifest (optionally changed). */
export async function writePoint(pointDir: string, manifest: Record<string, unknown>): Promise<void> {
  await mkdir(pointDir, { recursive: true });
  await writeFile(path.join(pointDir, 'vda.qcow2'), 'disk');
  await writeFile(path.join(pointDir, 'manifest.json'), JSON.stringify(manifest));
}

export interface PlantContext {
  domainUuid: string;
  backupId: string;
  /** A folder outside the repository that symlinks may point into. */
  outside: string;
}

/** One bad point: how to plant it at `pointDir`, and what its invalid reason must say. */
export interface HostilePoint {
  name: string;
  reason: RegExp;
  plant(pointDir: string, ctx: PlantContext): Promise<void>;
}

const OTHER_UUID = '99999999-0000-4000-8000-000000000099';
const MANIFEST_CAP_BYTES = 16 * 1024 * 1024;

const changed = (ctx: PlantContext, change: Record<string, unknown>) => ({ ...pointManifest(ctx.domainUuid, ctx.backupId, null), ...change });

export const HOSTILE_POINTS: HostilePoint[] = [
  {
    name: 'a point written by a newer agent (manifest_version 2)',
    reason: /manifest_version/,
    plant: (dir, ctx) => writePoint(dir, changed(ctx, { manifest_version: 2 })),
  },
  {
    name: 'a point with one odd field',
    reason: /freeze_ms/,
    plant: (dir, ctx) => writePoint(dir, changed(ctx, { freeze_ms: 'twelve' })),
  },
  {
    name: 'a manifest that is not JSON',
    reason: /not JSON/,
    async plant(dir) {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'manifest.json'), '{"manifest_version": 1,');
    },
  },
  {
    name: 'a directory named manifest.json',
    reason: /manifest\.json is a directory/,
    async plant(dir) {
      await mkdir(path.join(dir, 'manifest.json'), { recursive: true });
    },
  },
  {
    name: 'a FIFO named manifest.json',
    reason: /manifest\.json is a FIFO/,
    async plant(dir) {
      await mkdir(dir, { recursive: true });
      const made = spawnSync('mkfifo', [path.join(dir, 'manifest.json')], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
    },
  },
  {
    name: 'an oversized manifest',
    reason: /larger than/,
    async plant(dir) {
      await mkdir(dir, { recursive: true });
      const manifest = path.join(dir, 'manifest.json');
      await writeFile(manifest, '{');
      // Sparse: the cap is what is tested, not the disk.
      await truncate(manifest, MANIFEST_CAP_BYTES + 1);
    },
  },
  {
    name: 'a point filed under the wrong domain (domain_uuid mismatch)',
    reason: /domain_uuid/,
    plant: (dir, ctx) => writePoint(dir, changed(ctx, { domain_uuid: OTHER_UUID })),
  },
  {
    name: 'a manifest naming another backup id',
    reason: /backup_id/,
    plant: (dir, ctx) => writePoint(dir, changed(ctx, { backup_id: backupIdAt(999) })),
  },
  {
    name: 'a point folder without manifest.json',
    reason: /manifest\.json is missing/,
    async plant(dir) {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'vda.qcow2'), 'disk');
    },
  },
  {
    name: 'a point folder that is a symlink out of the repository',
    reason: /symlink/,
    async plant(dir, ctx) {
      const target = path.join(ctx.outside, `point-${ctx.backupId}`);
      await writePoint(target, pointManifest(ctx.domainUuid, ctx.backupId, null));
      await symlink(target, dir);
    },
  },
  {
    name: 'a manifest.json that is a symlink',
    reason: /manifest\.json is a symlink/,
    async plant(dir, ctx) {
      const target = path.join(ctx.outside, `manifest-${ctx.backupId}.json`);
      await mkdir(ctx.outside, { recursive: true });
      await writeFile(target, JSON.stringify(pointManifest(ctx.domainUuid, ctx.backupId, null)));
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'vda.qcow2'), 'disk');
      await symlink(target, path.join(dir, 'manifest.json'));
    },
  },
  {
    name: 'a disk file that is a symlink to a host file',
    reason: /vda\.qcow2 is a symlink/,
    async plant(dir, ctx) {
      const secret = path.join(ctx.outside, `secret-${ctx.backupId}`);
      await mkdir(ctx.outside, { recursive: true });
      await writeFile(secret, 'host secret');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(pointManifest(ctx.domainUuid, ctx.backupId, null)));
      await symlink(secret, path.join(dir, 'vda.qcow2'));
    },
  },
];

export interface PlantedRepository {
  /** The domain (unknown to libvirt) whose folder holds good and bad points. */
  domainUuid: string;
  /** A domain whose folder is a symlink to a folder outside the repository. */
  linkedDomainUuid: string;
  /** Ids list_backups must return, oldest first. */
  good: string[];
  /** Ids list_backups must mark, with what each reason must say. */
  invalid: { backup_id: string; reason: RegExp }[];
  /** This host's own staging folder: the only entry the sweep may remove. */
  ownStaging: string;
  /** Every other planted path: all must survive start-up (checked without following links). */
  mustSurvive: string[];
  /** The FIFOs planted, so a test can release a reader the old code left blocked. */
  fifos: string[];
}

/**
 * Fills `repo` with two good points, every HOSTILE_POINTS case, this host's staging
 * folder, another host's, a staging folder of the old unnamed kind, and a domain folder
 * that is a symlink to `outside` (holding entries the old sweep deleted through the link).
 */
export async function plantHostileRepository(repo: string, outside: string, host: string, otherHost: string): Promise<PlantedRepository> {
  const domainUuid = '0b5c3f5e-0000-4000-8000-0000000000aa';
  const linkedDomainUuid = '0b5c3f5e-0000-4000-8000-0000000000bb';
  const domainDir = path.join(repo, domainUuid);
  const mustSurvive: string[] = [];

  const good = [backupIdAt(1), backupIdAt(2)];
  await writePoint(path.join(domainDir, good[0]!), pointManifest(domainUuid, good[0]!, null));
  // An extra field a newer agent may add is no reason to distrust a point (protocol: add freely).
  await writePoint(path.join(domainDir, good[1]!), { ...pointManifest(domainUuid, good[1]!, good[0]!), engine: 'checkpoint' });
  mustSurvive.push(...good.map((id) => path.join(domainDir, id, 'manifest.json')));

  const invalid: PlantedRepository['invalid'] = [];
  const fifos: string[] = [];
  for (const [index, hostile] of HOSTILE_POINTS.entries()) {
    const backupId = backupIdAt(100 + index);
    const pointDir = path.join(domainDir, backupId);
    await hostile.plant(pointDir, { domainUuid, backupId, outside });
    invalid.push({ backup_id: backupId, reason: hostile.reason });
    mustSurvive.push(...(await plantedPaths(pointDir)));
    if (hostile.name.includes('FIFO')) fifos.push(path.join(pointDir, 'manifest.json'));
  }

  const ownStaging = path.join(domainDir, `.partial-${host}-${backupIdAt(200)}`);
  await writeStaging(ownStaging);
  const foreignStaging = path.join(domainDir, `.partial-${otherHost}-${backupIdAt(201)}`);
  const legacyStaging = path.join(domainDir, `.partial-${backupIdAt(202)}`);
  for (const staging of [foreignStaging, legacyStaging]) {
    await writeStaging(staging);
    mustSurvive.push(path.join(staging, 'vda.qcow2'));
  }

  const linkedTarget = path.join(outside, 'linked-domain');
  const outsideStaging = path.join(linkedTarget, `.partial-${host}-${backupIdAt(300)}`);
  await writeStaging(outsideStaging);
  const outsideBroken = path.join(linkedTarget, backupIdAt(301));
  await mkdir(outsideBroken, { recursive: true });
  await writeFile(path.join(outsideBroken, 'manifest.json'), 'not json');
  await symlink(linkedTarget, path.join(repo, linkedDomainUuid));
  mustSurvive.push(path.join(repo, linkedDomainUuid), path.join(outsideStaging, 'vda.qcow2'), path.join(outsideBroken, 'manifest.json'));

  return { domainUuid, linkedDomainUuid, good, invalid, ownStaging, mustSurvive, fifos };
}

async function writeStaging(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vda.qcow2'), 'partial disk');
}

/** The planted point folder and what is in it, without following a symlinked folder. */
async function plantedPaths(pointDir: string): Promise<string[]> {
  if ((await lstat(pointDir)).isSymbolicLink()) return [pointDir];
  const names = ['manifest.json', 'vda.qcow2'];
  const present = await Promise.all(names.map(async (n) => ((await existsNoFollow(path.join(pointDir, n))) ? path.join(pointDir, n) : null)));
  return [pointDir, ...present.filter((p): p is string => p !== null)];
}

export async function existsNoFollow(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** The paths of `paths` that no longer exist (a symlink counts as itself). */
export async function missingPaths(paths: string[]): Promise<string[]> {
  const present = await Promise.all(paths.map(existsNoFollow));
  return paths.filter((_, i) => !present[i]);
}

/**
 * Opens each FIFO for writing without blocking, which releases a reader stuck in open()
 * (code that reads a FIFO as a file). ENXIO means nobody is reading: nothing to release.
 */
export async function releaseFifoReaders(fifos: string[]): Promise<void> {
  for (const fifo of fifos) {
    try {
      const handle = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      await handle.close();
    } catch {
      // ENXIO (no reader) or the FIFO is gone: nothing is blocked on it.
    }
  }
}
