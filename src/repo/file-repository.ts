import { mkdir, readdir, rename, rm, statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { copyFileHashed } from '../backup/snapshot/copy-file.js';
import { BackupNotFound, InvalidArgument, InvalidRepositoryEntry, VerificationFailed } from '../errors.js';
import { ensureDirectory, fsyncDirectory, fsyncFile, writeJsonAtomic } from '../util/atomic-file.js';
import { isBackupId, isHostName, isUuid } from '../util/ids.js';
import { entryKind, readRegularFile, UnreadableEntry, wrongKind, type EntryKind } from '../util/no-follow-fs.js';
import {
  invalidPoint,
  MANIFEST,
  MAX_MANIFEST_BYTES,
  readPoint,
  sortPoints,
  type InvalidPoint,
  type PointReading,
  type PointScan,
} from './point-reading.js';
import type { Manifest } from './point.js';
import { deletePoint, finishDelete, type DeleteOptions, type DeleteReport } from './delete-point.js';
import type { FreeSpace, OpenedPoints, RepositoryTarget, SweepReport, TransferOptions } from './target.js';

export interface FileTargetOptions {
  /** The target's name in a point's `targets`. */
  name: string;
  /** Bytes per second for copies into this target (replication); 0 means unlimited. */
  bandwidthBytesPerS: number;
}

/**
 * The backup repository on a local or mounted file system, possibly shared by hosts.
 *
 *   <root>/<domain-uuid>/<backup-id>/manifest.json            the point, written last
 *   <root>/<domain-uuid>/<backup-id>/vda.qcow2                an overlay of ../<parent>/vda.qcow2
 *   <root>/<domain-uuid>/.partial-<host>-<backup-id>/         a point being written by <host>
 *
 * A point becomes visible in one rename, after its files and manifest are fsynced, so a
 * folder named like a backup id held a complete, verified point when it was published.
 * What is there now is read without trust: below the root no symlink is followed, a
 * manifest is read only as a bounded regular file, and a point that is unreadable, of a
 * newer format, or filed under another domain is reported and skipped, never deleted.
 * Only ids, UUIDs and the host name that passed their pattern check become path parts.
 */
export class FileRepository implements RepositoryTarget {
  private readonly ownStagingPrefix: string;
  readonly name: string;
  readonly location: string;
  readonly opensInPlace = true;
  private readonly bandwidthBytesPerS: number;

  constructor(
    readonly root: string,
    /** This agent's host name: it names the staging folders this host may remove. */
    readonly host: string,
    options: Partial<FileTargetOptions> = {},
  ) {
    if (!isHostName(host)) {
      throw new InvalidArgument(`host name ${JSON.stringify(host)} cannot name staging folders: use letters, digits, '.', '_' and '-'`);
    }
    this.ownStagingPrefix = `${STAGING_PREFIX}${host}-`;
    this.name = options.name ?? 'local';
    this.location = `file://${root}`;
    this.bandwidthBytesPerS = options.bandwidthBytesPerS ?? 0;
  }

  domainDir(domainUuid: string): string {
    if (!isUuid(domainUuid)) throw new InvalidArgument(`not a domain UUID: ${domainUuid}`);
    return join(this.root, domainUuid.toLowerCase());
  }

  pointDir(domainUuid: string, backupId: string): string {
    if (!isBackupId(backupId)) throw new InvalidArgument(`not a backup id: ${backupId}`);
    return join(this.domainDir(domainUuid), backupId);
  }

  /** This host's staging folder for a point; other hosts' never share its name. */
  partialDir(domainUuid: string, backupId: string): string {
    if (!isBackupId(backupId)) throw new InvalidArgument(`not a backup id: ${backupId}`);
    return join(this.domainDir(domainUuid), `${this.ownStagingPrefix}${backupId}`);
  }

  /** The UUIDs of the domains the repository has a folder for. */
  async listDomains(): Promise<string[]> {
    // Upper-case names are never written (domainDir lower-cases), so they are not ours.
    return (await readdirOrEmpty(this.root)).filter((n) => isUuid(n) && n === n.toLowerCase());
  }

  /** The trusted points of a domain, oldest first, and the ones kept but not trusted. */
  async scanPoints(domainUuid: string): Promise<PointScan> {
    const listing = await this.listDomainFolder(domainUuid);
    if ('untrusted' in listing) return { points: [], invalid: [listing.untrusted] };
    return this.readPoints(domainUuid, listing.names);
  }

  /** Trusted points of a domain, oldest first. */
  async listPoints(domainUuid: string): Promise<Manifest[]> {
    return (await this.scanPoints(domainUuid)).points;
  }

  /** Points of a domain that are kept but not trusted, each with why (for verify). */
  async listInvalidPoints(domainUuid: string): Promise<InvalidPoint[]> {
    return (await this.scanPoints(domainUuid)).invalid;
  }

  async getPoint(domainUuid: string, backupId: string): Promise<Manifest> {
    if (!isBackupId(backupId)) throw new InvalidArgument(`backup_id ${JSON.stringify(backupId)} is not a backup id`);
    const reading = await this.readTrustedPoint(domainUuid, backupId);
    if (!reading) throw new BackupNotFound(`no backup ${backupId} for domain ${domainUuid}`);
    if (!reading.valid) throw new InvalidRepositoryEntry(`backup ${backupId} of domain ${domainUuid} is not trusted: ${reading.reason}`);
    return reading.manifest;
  }

  /** True only for a published point that reads as trusted. */
  async hasPoint(domainUuid: string, backupId: string): Promise<boolean> {
    return (await this.readTrustedPoint(domainUuid, backupId))?.valid === true;
  }

  async latestPoint(domainUuid: string): Promise<Manifest | null> {
    const points = await this.listPoints(domainUuid);
    return points.at(-1) ?? null;
  }

  /**
   * Makes an empty staging folder for a new point, replacing a leftover folder of the
   * same id. Refuses a domain folder or staging entry that is anything but a real folder,
   * so a backup is never written through a symlink.
   */
  async beginPoint(domainUuid: string, backupId: string): Promise<string> {
    await this.ensureDomainFolder(domainUuid);
    const staging = this.partialDir(domainUuid, backupId);
    const found = await this.removeStaging(staging);
    if (found !== 'missing' && found !== 'directory') {
      throw new InvalidRepositoryEntry(`staging entry ${this.ownStagingPrefix}${backupId} of domain ${domainUuid} is a ${found}`);
    }
    await mkdir(staging, { mode: FOLDER_MODE });
    return staging;
  }

  /** The staging folder is in the repository itself: QEMU writes the point where it stays. */
  stagingFolder(domainUuid: string, backupId: string): string {
    return this.partialDir(domainUuid, backupId);
  }

  /**
   * Publishes a point. From its own staging folder the files are in place, fsynced and
   * hashed by the engine that wrote them; from anywhere else (another target's opened
   * point) each file is copied into staging, fsynced and its sha256 compared first.
   */
  async publishPoint(manifest: Manifest, from: string, options: TransferOptions = {}): Promise<void> {
    const staging = this.partialDir(manifest.domain_uuid, manifest.backup_id);
    if (resolve(from) !== staging) {
      await this.beginPoint(manifest.domain_uuid, manifest.backup_id);
      for (const disk of manifest.disks) {
        const copy = join(staging, disk.file);
        const sha256 = await copyFileHashed(join(from, disk.file), copy, {
          signal: options.signal ?? new AbortController().signal,
          onBytes: options.onBytes ?? (() => undefined),
          bandwidth: this.bandwidthBytesPerS,
        });
        await fsyncFile(copy);
        if (sha256 !== disk.sha256) {
          throw new VerificationFailed(`${disk.file} of backup ${manifest.backup_id} copied as sha256 ${sha256}, its manifest says ${disk.sha256}`);
        }
      }
    }
    await this.commitPoint(manifest);
  }

  /**
   * Publishes a staged point: the manifest goes in last (fsynced), then one rename makes
   * the folder a point. The caller has fsynced the data files already.
   */
  private async commitPoint(manifest: Manifest): Promise<string> {
    const staging = this.partialDir(manifest.domain_uuid, manifest.backup_id);
    const final = this.pointDir(manifest.domain_uuid, manifest.backup_id);
    await writeJsonAtomic(join(staging, MANIFEST), manifest);
    await rename(staging, final);
    await fsyncDirectory(this.domainDir(manifest.domain_uuid));
    return final;
  }

  /**
   * Removes a published point: one rename makes it this host's staging folder (so a crash
   * leaves what the start-up sweep removes, never half a point), then it goes. The caller
   * has made sure no point depends on it. Refuses anything but a real folder.
   */
  async removePoint(domainUuid: string, backupId: string): Promise<void> {
    const dir = this.pointDir(domainUuid, backupId);
    const kind = await entryKind(dir);
    if (kind === 'missing') return this.discardPartial(domainUuid, backupId);
    if (kind !== 'directory') throw new InvalidRepositoryEntry(`backup ${backupId} of domain ${domainUuid} is a ${kind}; it is kept`);
    await this.discardPartial(domainUuid, backupId);
    await rename(dir, this.partialDir(domainUuid, backupId));
    await fsyncDirectory(this.domainDir(domainUuid));
    await this.discardPartial(domainUuid, backupId);
  }

  async deletePoint(domainUuid: string, backupId: string, options: DeleteOptions): Promise<DeleteReport | null> {
    if (!(await this.hasPoint(domainUuid, backupId))) return null;
    return deletePoint(this, domainUuid, backupId, options);
  }

  finishDelete(domainUuid: string, backupId: string): Promise<'deleted' | 'kept'> {
    return finishDelete(this, domainUuid, backupId);
  }

  /** The file system the repository is (or, before its first point, will be) on. */
  async freeSpace(): Promise<FreeSpace> {
    for (let dir = this.root; ; dir = dirname(dir)) {
      try {
        const fs = await statfs(dir);
        return { free_bytes: fs.bavail * fs.bsize, total_bytes: fs.blocks * fs.bsize };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err;
      }
    }
  }

  /** The points' own folders: QEMU and qemu-img read the repository in place. */
  async openPoints(domainUuid: string, backupIds: readonly string[]): Promise<OpenedPoints> {
    for (const backupId of backupIds) this.pointDir(domainUuid, backupId);
    return { root: this.root, dirOf: (backupId) => this.pointDir(domainUuid, backupId), release: async () => undefined };
  }

  async close(): Promise<void> {}

  /** Removes this host's staging folder of a point; anything else by that name stays. */
  async discardPartial(domainUuid: string, backupId: string): Promise<void> {
    await this.removeStaging(this.partialDir(domainUuid, backupId));
  }

  /**
   * Start-up sweep: removes this host's staging folders, which no job of this host can
   * still be writing (it runs before the job runner starts). Every point is read, and the
   * untrusted ones are reported; no point folder, other host's staging folder, or anything
   * reached through a symlink is touched.
   */
  async sweep(): Promise<SweepReport> {
    const report: SweepReport = { removed: [], invalid: [], kept: [] };
    for (const domainUuid of await this.listDomains()) {
      const listing = await this.listDomainFolder(domainUuid);
      if ('untrusted' in listing) {
        report.invalid.push(listing.untrusted);
        continue;
      }
      report.invalid.push(...(await this.readPoints(domainUuid, listing.names)).invalid);
      for (const name of listing.names.filter((n) => n.startsWith(STAGING_PREFIX))) {
        const path = join(this.domainDir(domainUuid), name);
        if (!this.isOwnStaging(name)) {
          report.kept.push({ path, reason: 'not named by this host: another host may be writing it' });
          continue;
        }
        const found = await this.removeStaging(path);
        if (found === 'directory') report.removed.push(path);
        else if (found !== 'missing') report.kept.push({ path, reason: `a ${found}, not a folder` });
      }
    }
    return report;
  }

  private isOwnStaging(name: string): boolean {
    return name.startsWith(this.ownStagingPrefix) && isBackupId(name.slice(this.ownStagingPrefix.length));
  }

  /** Removes `path` only if it is a real folder; says what it found there. */
  private async removeStaging(path: string): Promise<EntryKind> {
    const kind = await entryKind(path);
    if (kind === 'directory') await rm(path, { recursive: true, force: true });
    return kind;
  }

  private async ensureDomainFolder(domainUuid: string): Promise<void> {
    await ensureDirectory(this.root);
    try {
      await mkdir(this.domainDir(domainUuid), { mode: FOLDER_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const problem = await this.domainFolderProblem(domainUuid);
    if (problem) throw new InvalidRepositoryEntry(`the repository folder of domain ${domainUuid} is not trusted: ${problem}`);
  }

  /** Why the domain's folder cannot be used, or null when it is a real folder or absent. */
  private async domainFolderProblem(domainUuid: string): Promise<string | null> {
    const dir = this.domainDir(domainUuid);
    try {
      const kind = await entryKind(dir);
      return kind === 'directory' || kind === 'missing' ? null : wrongKind(dir, kind).message;
    } catch (err) {
      if (err instanceof UnreadableEntry) return err.message;
      throw err;
    }
  }

  private async listDomainFolder(domainUuid: string): Promise<{ names: string[] } | { untrusted: InvalidPoint }> {
    const untrusted = (reason: string) => ({ untrusted: invalidPoint({ domainUuid: domainUuid.toLowerCase(), backupId: null }, reason) });
    const problem = await this.domainFolderProblem(domainUuid);
    if (problem) return untrusted(problem);
    try {
      return { names: await readdirOrEmpty(this.domainDir(domainUuid)) };
    } catch (err) {
      return untrusted(`the domain folder cannot be listed (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`);
    }
  }

  private async readPoints(domainUuid: string, names: string[]): Promise<PointScan> {
    const scan: PointScan = { points: [], invalid: [] };
    for (const backupId of names.filter(isBackupId).sort()) {
      const reading = await this.readPointFolder(domainUuid, backupId);
      if (reading?.valid) scan.points.push(reading.manifest);
      else if (reading) scan.invalid.push(invalidPoint({ domainUuid: domainUuid.toLowerCase(), backupId }, reading.reason, reading.filesMissing));
    }
    sortPoints(scan.points);
    return scan;
  }

  /** One point, after checking the domain's folder; null when there is no such point. */
  private async readTrustedPoint(domainUuid: string, backupId: string): Promise<PointReading | null> {
    const problem = await this.domainFolderProblem(domainUuid);
    if (problem) return { valid: false, reason: `the domain folder is not trusted: ${problem}` };
    return this.readPointFolder(domainUuid, backupId);
  }

  /**
   * Reads one point folder without following a symlink at any level: the folder, its
   * manifest and each disk file must be what they claim. Null when the folder is absent.
   */
  private async readPointFolder(domainUuid: string, backupId: string): Promise<PointReading | null> {
    const dir = this.pointDir(domainUuid, backupId);
    try {
      const kind = await entryKind(dir);
      if (kind === 'missing') return null;
      if (kind !== 'directory') throw wrongKind(dir, kind);
      const reading = readPoint(await readRegularFile(join(dir, MANIFEST), MAX_MANIFEST_BYTES), { domainUuid, backupId });
      if (!reading.valid) return reading;
      return (await diskFilesProblem(dir, reading.manifest)) ?? reading;
    } catch (err) {
      if (err instanceof UnreadableEntry) return { valid: false, reason: err.message };
      throw err;
    }
  }
}

const STAGING_PREFIX = '.partial-';
const FOLDER_MODE = 0o750;

/**
 * Each disk file of a point must be a regular file in its folder, not a link elsewhere.
 * A file that is simply absent is told apart: the point lost data, nobody planted it.
 */
async function diskFilesProblem(pointDir: string, manifest: Manifest): Promise<PointReading | null> {
  for (const disk of manifest.disks) {
    const file = join(pointDir, disk.file);
    const kind = await entryKind(file);
    if (kind === 'missing') return { valid: false, reason: wrongKind(file, kind).message, filesMissing: true };
    if (kind !== 'file') throw wrongKind(file, kind);
  }
  return null;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
