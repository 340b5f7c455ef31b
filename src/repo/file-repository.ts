import { lchown, mkdir, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { copyFileHashed } from '../backup/snapshot/copy-file.js';
import { InvalidRepositoryEntry, VerificationFailed } from '../errors.js';
import { ensureDirectory, fsyncDirectory, fsyncFile, writeJsonAtomic } from '../util/atomic-file.js';
import { entryKind, readRegularFile, UnreadableEntry, type EntryKind } from '../util/no-follow-fs.js';
import { RepositoryLayout } from './layout.js';
import { ListedTarget } from './listed-target.js';
import { PointListing, type EntryReader } from './point-listing.js';
import { MANIFEST } from './point-reading.js';
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
export class FileRepository extends ListedTarget implements RepositoryTarget {
  protected readonly layout: RepositoryLayout;
  protected readonly listing: PointListing;
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
    super();
    this.layout = new RepositoryLayout(root, host);
    this.listing = new PointListing(LOCAL_ENTRIES, this.layout);
    this.name = options.name ?? 'local';
    this.location = `file://${root}`;
    this.bandwidthBytesPerS = options.bandwidthBytesPerS ?? 0;
  }

  domainDir(domainUuid: string): string {
    return this.layout.domainDir(domainUuid);
  }

  pointDir(domainUuid: string, backupId: string): string {
    return this.layout.pointDir(domainUuid, backupId);
  }

  /** This host's staging folder for a point; other hosts' never share its name. */
  partialDir(domainUuid: string, backupId: string): string {
    return this.layout.partialDir(domainUuid, backupId);
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
      throw new InvalidRepositoryEntry(`staging entry ${this.layout.ownStagingPrefix}${backupId} of domain ${domainUuid} is a ${found}`);
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
    await this.giveToRootOwner(staging);
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
   * Start-up sweep: makes the repository's folder if it is not there yet (a fresh host),
   * and removes this host's staging folders, which no job of this host can still be
   * writing (it runs before the job runner starts). Every point is read, and the untrusted
   * ones are reported; no point folder, other host's staging folder, or anything reached
   * through a symlink is touched.
   */
  async sweep(): Promise<SweepReport> {
    await ensureDirectory(this.root);
    const report: SweepReport = { removed: [], invalid: [], kept: [] };
    await this.sweepDomains(report, (path) => this.removeStaging(path), (path) => path);
    return report;
  }

  /** Removes `path` only if it is a real folder; says what it found there. */
  private async removeStaging(path: string): Promise<EntryKind> {
    const kind = await entryKind(path);
    if (kind === 'directory') await rm(path, { recursive: true, force: true });
    return kind;
  }

  /**
   * What the agent puts in the repository belongs to the owner of its root: on a compute
   * host that is root itself (nothing changes), on a DR node the user its SSH server
   * writes as, who must go on reading and removing every point there. A folder the agent
   * made is given away with the files in it (none is a link: it wrote them itself).
   */
  private async giveToRootOwner(path: string): Promise<void> {
    const { uid, gid } = await stat(this.root);
    if (uid === process.getuid?.()) return;
    if ((await stat(path)).isDirectory()) {
      for (const name of await readdir(path)) await lchown(join(path, name), uid, gid);
    }
    await lchown(path, uid, gid);
  }

  private async ensureDomainFolder(domainUuid: string): Promise<void> {
    await ensureDirectory(this.root);
    try {
      await mkdir(this.domainDir(domainUuid), { mode: FOLDER_MODE });
      await this.giveToRootOwner(this.domainDir(domainUuid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const problem = await this.listing.domainFolderProblem(domainUuid);
    if (problem) throw new InvalidRepositoryEntry(`the repository folder of domain ${domainUuid} is not trusted: ${problem}`);
  }
}

const FOLDER_MODE = 0o750;

/**
 * The local file system as the listing reads it: lstat without following, folders listed
 * (absent: empty), manifests read as bounded regular files (no-follow-fs.ts). An error
 * names the entry, never a host path, since it becomes a reason in replies.
 */
const LOCAL_ENTRIES: EntryReader = {
  kind: entryKind,
  async list(path) {
    try {
      return await readdir(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return [];
      throw new UnreadableEntry(`${basename(path)} cannot be listed (${code ?? 'unknown error'})`);
    }
  },
  readRegularFile,
};
