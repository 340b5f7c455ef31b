import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupNotFound, InvalidArgument } from '../errors.js';
import { ensureDirectory, fsyncDirectory, writeJsonAtomic } from '../util/atomic-file.js';
import { isBackupId, isUuid } from '../util/ids.js';
import { parseManifest, InvalidManifest } from './manifest.js';
import type { Manifest } from './point.js';

/**
 * The backup repository on a local or mounted file system.
 *
 *   <root>/<domain-uuid>/<backup-id>/manifest.json     the point, written last
 *   <root>/<domain-uuid>/<backup-id>/vda.qcow2         an overlay of ../<parent>/vda.qcow2
 *   <root>/<domain-uuid>/.partial-<backup-id>/         a point being written
 *
 * A point becomes visible in one rename, after its files and manifest are fsynced, so a
 * folder named like a backup id always holds a complete, verified point. Only ids and
 * UUIDs that passed their pattern check ever become path parts.
 */
export class FileRepository {
  constructor(readonly root: string) {}

  domainDir(domainUuid: string): string {
    if (!isUuid(domainUuid)) throw new InvalidArgument(`not a domain UUID: ${domainUuid}`);
    return join(this.root, domainUuid.toLowerCase());
  }

  pointDir(domainUuid: string, backupId: string): string {
    if (!isBackupId(backupId)) throw new InvalidArgument(`not a backup id: ${backupId}`);
    return join(this.domainDir(domainUuid), backupId);
  }

  partialDir(domainUuid: string, backupId: string): string {
    if (!isBackupId(backupId)) throw new InvalidArgument(`not a backup id: ${backupId}`);
    return join(this.domainDir(domainUuid), `${PARTIAL_PREFIX}${backupId}`);
  }

  /** Complete points of a domain, oldest first. */
  async listPoints(domainUuid: string): Promise<Manifest[]> {
    const dir = this.domainDir(domainUuid);
    const names = await readdirOrEmpty(dir);
    const points: Manifest[] = [];
    for (const name of names.filter(isBackupId)) {
      const manifest = await this.readManifest(join(dir, name));
      if (manifest && manifest.backup_id === name) points.push(manifest);
    }
    return points.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.backup_id.localeCompare(b.backup_id));
  }

  async getPoint(domainUuid: string, backupId: string): Promise<Manifest> {
    if (!isBackupId(backupId)) throw new InvalidArgument(`backup_id ${JSON.stringify(backupId)} is not a backup id`);
    const manifest = await this.readManifest(this.pointDir(domainUuid, backupId));
    if (!manifest) throw new BackupNotFound(`no backup ${backupId} for domain ${domainUuid}`);
    return manifest;
  }

  async hasPoint(domainUuid: string, backupId: string): Promise<boolean> {
    return (await this.readManifest(this.pointDir(domainUuid, backupId))) !== null;
  }

  async latestPoint(domainUuid: string): Promise<Manifest | null> {
    const points = await this.listPoints(domainUuid);
    return points.at(-1) ?? null;
  }

  /** Makes an empty staging folder for a new point, replacing any leftover of the same id. */
  async beginPoint(domainUuid: string, backupId: string): Promise<string> {
    const staging = this.partialDir(domainUuid, backupId);
    await rm(staging, { recursive: true, force: true });
    await ensureDirectory(staging);
    return staging;
  }

  /**
   * Publishes a staged point: the manifest goes in last (fsynced), then one rename makes
   * the folder a point. The caller has fsynced the data files already.
   */
  async commitPoint(manifest: Manifest): Promise<string> {
    const staging = this.partialDir(manifest.domain_uuid, manifest.backup_id);
    const final = this.pointDir(manifest.domain_uuid, manifest.backup_id);
    await writeJsonAtomic(join(staging, MANIFEST), manifest);
    await rename(staging, final);
    await fsyncDirectory(this.domainDir(manifest.domain_uuid));
    return final;
  }

  async discardPartial(domainUuid: string, backupId: string): Promise<void> {
    await rm(this.partialDir(domainUuid, backupId), { recursive: true, force: true });
  }

  /**
   * Start-up sweep: removes staging folders and any point folder without a valid
   * manifest. Returns what it removed so recovery can report it.
   */
  async removeIncompletePoints(): Promise<string[]> {
    const removed: string[] = [];
    for (const domain of (await readdirOrEmpty(this.root)).filter(isUuid)) {
      const dir = join(this.root, domain);
      for (const name of await readdirOrEmpty(dir)) {
        const path = join(dir, name);
        const incomplete =
          name.startsWith(PARTIAL_PREFIX) || (isBackupId(name) && (await this.readManifest(path)) === null);
        if (incomplete) {
          await rm(path, { recursive: true, force: true });
          removed.push(path);
        }
      }
    }
    return removed;
  }

  private async readManifest(pointDir: string): Promise<Manifest | null> {
    let text: string;
    try {
      text = await readFile(join(pointDir, MANIFEST), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    try {
      return parseManifest(text);
    } catch (err) {
      if (err instanceof InvalidManifest) return null;
      throw err;
    }
  }
}

const MANIFEST = 'manifest.json';
const PARTIAL_PREFIX = '.partial-';

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}
