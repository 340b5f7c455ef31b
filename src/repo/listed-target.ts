import { BackupNotFound, InvalidRepositoryEntry } from '../errors.js';
import type { EntryKind } from '../util/no-follow-fs.js';
import { checkedBackupId, type RepositoryLayout } from './layout.js';
import type { PointListing } from './point-listing.js';
import type { InvalidPoint, PointScan } from './point-reading.js';
import type { Manifest } from './point.js';
import type { SweepReport } from './target.js';

/**
 * The reading half of the repository port, the same for every target: what a target's
 * listing (point-listing.ts over its own way of reading entries) trusts is a point.
 */
export abstract class ListedTarget {
  abstract readonly name: string;
  protected abstract readonly layout: RepositoryLayout;
  protected abstract readonly listing: PointListing;

  /** The UUIDs of the domains the repository has a folder for. */
  listDomains(): Promise<string[]> {
    return this.listing.listDomains();
  }

  /** The trusted points of a domain, oldest first, and the ones kept but not trusted. */
  scanPoints(domainUuid: string): Promise<PointScan> {
    return this.listing.scanPoints(domainUuid);
  }

  async listPoints(domainUuid: string): Promise<Manifest[]> {
    return (await this.scanPoints(domainUuid)).points;
  }

  /** Points of a domain that are kept but not trusted, each with why (for verify). */
  async listInvalidPoints(domainUuid: string): Promise<InvalidPoint[]> {
    return (await this.scanPoints(domainUuid)).invalid;
  }

  async latestPoint(domainUuid: string): Promise<Manifest | null> {
    return (await this.listPoints(domainUuid)).at(-1) ?? null;
  }

  async getPoint(domainUuid: string, backupId: string): Promise<Manifest> {
    checkedBackupId(backupId);
    const reading = await this.listing.readTrustedPoint(domainUuid, backupId);
    if (!reading) throw new BackupNotFound(`no backup ${backupId} for domain ${domainUuid} on target ${this.name}`);
    if (!reading.valid) throw new InvalidRepositoryEntry(`backup ${backupId} of domain ${domainUuid} on target ${this.name} is not trusted: ${reading.reason}`);
    return reading.manifest;
  }

  /** True only for a published point that reads as trusted. */
  async hasPoint(domainUuid: string, backupId: string): Promise<boolean> {
    return (await this.listing.readTrustedPoint(domainUuid, backupId))?.valid === true;
  }

  /**
   * The start-up sweep's walk, the same on every target: every point is read and the
   * untrusted ones reported; this host's staging folders go (`removeStaging` removes a
   * real folder only and says what it found), other hosts' stay. `shown` is how a
   * report names an entry.
   */
  protected async sweepDomains(report: SweepReport, removeStaging: (path: string) => Promise<EntryKind>, shown: (path: string) => string): Promise<void> {
    for (const domainUuid of await this.listDomains()) {
      const listing = await this.listing.listDomainFolder(domainUuid);
      if ('untrusted' in listing) {
        report.invalid.push(listing.untrusted);
        continue;
      }
      report.invalid.push(...(await this.listing.readPoints(domainUuid, listing.names)).invalid);
      for (const { name, own } of this.listing.stagingNames(listing.names)) {
        const path = `${this.layout.domainDir(domainUuid)}/${name}`;
        if (!own) {
          report.kept.push({ path: shown(path), reason: 'not named by this host: another host may be writing it' });
          continue;
        }
        const found = await removeStaging(path);
        if (found === 'directory') report.removed.push(shown(path));
        else if (found !== 'missing') report.kept.push({ path: shown(path), reason: `a ${found}, not a folder` });
      }
    }
  }
}
