import { posix } from 'node:path';
import { InvalidRepositoryEntry } from '../errors.js';
import { isBackupId, isUuid } from '../util/ids.js';
import { UnreadableEntry, wrongKind, type EntryKind } from '../util/no-follow-fs.js';
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
import { STAGING_PREFIX, type RepositoryLayout } from './layout.js';

/**
 * Listing a repository without trusting it, the file target's rules over any file access
 * that can tell a symlink from what it points to: a domain folder, a point folder, a
 * manifest or a disk file that is not what it claims is reported invalid (with the file
 * target's own reasons), never followed; the manifest is judged by readPoint. The SSH
 * target reads through SFTP (remote-fs.ts); nothing here knows how, so the file target
 * could read through it too (no-follow-fs.ts is such a reader).
 */
export interface EntryReader {
  /** lstat: throws UnreadableEntry when the entry cannot be examined. */
  kind(path: string): Promise<EntryKind>;
  /** The names in a folder; empty when it does not exist. */
  list(path: string): Promise<string[]>;
  /** A regular file of at most `maxBytes`; UnreadableEntry otherwise. */
  readRegularFile(path: string, maxBytes: number): Promise<Buffer>;
}

export type DomainListing = { names: string[] } | { untrusted: InvalidPoint };

export class PointListing {
  constructor(
    private readonly reader: EntryReader,
    private readonly layout: RepositoryLayout,
  ) {}

  /** The UUIDs of the domains the repository has a folder for (lower-case only: the only ones written). */
  async listDomains(): Promise<string[]> {
    let names: string[];
    try {
      names = await this.reader.list(this.layout.root);
    } catch (err) {
      if (err instanceof UnreadableEntry) throw new InvalidRepositoryEntry(`the repository root cannot be listed: ${err.message}`);
      throw err;
    }
    return names.filter((n) => isUuid(n) && n === n.toLowerCase());
  }

  async scanPoints(domainUuid: string): Promise<PointScan> {
    const listing = await this.listDomainFolder(domainUuid);
    if ('untrusted' in listing) return { points: [], invalid: [listing.untrusted] };
    return this.readPoints(domainUuid, listing.names);
  }

  /** The names in a domain's folder, or why the folder itself is not trusted. */
  async listDomainFolder(domainUuid: string): Promise<DomainListing> {
    const untrusted = (reason: string) => ({ untrusted: invalidPoint({ domainUuid: domainUuid.toLowerCase(), backupId: null }, reason) });
    const problem = await this.domainFolderProblem(domainUuid);
    if (problem) return untrusted(problem);
    try {
      return { names: await this.reader.list(this.layout.domainDir(domainUuid)) };
    } catch (err) {
      if (err instanceof UnreadableEntry) return untrusted(err.message);
      throw err;
    }
  }

  /** Why the domain's folder cannot be used, or null when it is a real folder or absent. */
  async domainFolderProblem(domainUuid: string): Promise<string | null> {
    const dir = this.layout.domainDir(domainUuid);
    try {
      const kind = await this.reader.kind(dir);
      return kind === 'directory' || kind === 'missing' ? null : wrongKind(dir, kind).message;
    } catch (err) {
      if (err instanceof UnreadableEntry) return err.message;
      throw err;
    }
  }

  async readPoints(domainUuid: string, names: readonly string[]): Promise<PointScan> {
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
  async readTrustedPoint(domainUuid: string, backupId: string): Promise<PointReading | null> {
    const problem = await this.domainFolderProblem(domainUuid);
    if (problem) return { valid: false, reason: `the domain folder is not trusted: ${problem}` };
    return this.readPointFolder(domainUuid, backupId);
  }

  /** The staging entries of a domain's folder, each with whether this host made it. */
  stagingNames(names: readonly string[]): { name: string; own: boolean }[] {
    return names.filter((n) => n.startsWith(STAGING_PREFIX)).map((name) => ({ name, own: this.layout.isOwnStaging(name) }));
  }

  /**
   * Reads one point folder without following a symlink at any level: the folder, its
   * manifest and each disk file must be what they claim. Null when the folder is absent.
   */
  private async readPointFolder(domainUuid: string, backupId: string): Promise<PointReading | null> {
    const dir = this.layout.pointDir(domainUuid, backupId);
    try {
      const kind = await this.reader.kind(dir);
      if (kind === 'missing') return null;
      if (kind !== 'directory') throw wrongKind(dir, kind);
      const reading = readPoint(await this.reader.readRegularFile(posix.join(dir, MANIFEST), MAX_MANIFEST_BYTES), { domainUuid, backupId });
      if (!reading.valid) return reading;
      return (await this.diskFilesProblem(dir, reading.manifest)) ?? reading;
    } catch (err) {
      if (err instanceof UnreadableEntry) return { valid: false, reason: err.message };
      throw err;
    }
  }

  /** Each disk file must be a regular file in its folder; one simply absent means lost data. */
  private async diskFilesProblem(pointDir: string, manifest: Manifest): Promise<PointReading | null> {
    for (const disk of manifest.disks) {
      const file = posix.join(pointDir, disk.file);
      const kind = await this.reader.kind(file);
      if (kind === 'missing') return { valid: false, reason: wrongKind(file, kind).message, filesMissing: true };
      if (kind !== 'file') throw wrongKind(file, kind);
    }
    return null;
  }
}
