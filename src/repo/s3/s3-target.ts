import { join, posix } from 'node:path';
import { createHash } from 'node:crypto';
import { InvalidRepositoryEntry, VerificationFailed } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { DeleteOptions, DeleteReport } from '../delete-point.js';
import { checkedBackupId, RepositoryLayout } from '../layout.js';
import { ListedTarget } from '../listed-target.js';
import { LocalSpool } from '../local-spool.js';
import { openCopies, type DownloadFile } from '../open-copies.js';
import { childrenOf } from '../point-chain.js';
import { PointListing, type EntryReader } from '../point-listing.js';
import { MANIFEST } from '../point-reading.js';
import type { Manifest } from '../point.js';
import { alreadyPublished } from '../published-point.js';
import type { FreeSpace, OpenedPoints, RepositoryTarget, SweepReport, TransferOptions } from '../target.js';
import type { S3Settings } from '../target-config.js';
import { bucketFor, type TokenBucket } from '../throttle.js';
import { downloadObject } from './s3-download.js';
import { keyOf, rootOf, s3Entries } from './s3-entries.js';
import { mergeIntoChildren, pendingMerges, settleMerges, type MergeContext } from './s3-merge.js';
import { S3Objects } from './s3-objects.js';
import { S3Staging } from './s3-staging.js';
import { alreadyStored, uploadVerified } from './s3-upload.js';
import { s3Location, type S3Address } from './s3-url.js';

export interface S3TargetOptions {
  name: string;
  address: S3Address;
  settings: S3Settings;
  /** The limit on the bytes moved to and from the target; 0 means none. */
  bandwidthBytesPerS: number;
  /** This agent's host name: it names the staging markers this host may remove. */
  host: string;
  /** Local folder: a new point's files are produced in `<spoolRoot>/<uuid>/<id>` before they are published. */
  spoolRoot: string;
  /** Local folder: openPoints' verified copies. */
  cacheRoot: string;
  log: Logger;
}

/**
 * A repository in an S3 bucket (a Ceph RADOS Gateway, or any S3 service), under a key
 * prefix: the file layout as keys, `<prefix>/<uuid>/<backup-id>/vda.qcow2` and
 * `manifest.json`, so a point downloaded with any S3 client into one folder per point
 * opens with plain qemu-img. See docs/ARCHITECTURE.md, "S3 target". The modules next to
 * this one each do one part: s3-client.ts (the client, Content-MD5), s3-objects.ts (the
 * calls, typed errors), s3-entries.ts (the bucket as folders; a point is its manifest),
 * s3-staging.ts (whose unpublished objects are whose), s3-upload.ts (multipart, verified),
 * s3-merge.ts (a delete's merge into the children, on local copies).
 */
export class S3Target extends ListedTarget implements RepositoryTarget {
  readonly name: string;
  readonly location: string;
  /** openPoints gives local copies, not the target's own files. */
  readonly opensInPlace = false;
  protected readonly layout: RepositoryLayout;
  protected readonly listing: PointListing;
  private readonly objects: S3Objects;
  /** The bucket as folders: what the listing and the sweep read through. */
  private readonly entries: EntryReader;
  private readonly staging: S3Staging;
  private readonly spool: LocalSpool;
  private readonly bucket: TokenBucket | null;
  private readonly merges: MergeContext;
  private readonly log: Logger;

  constructor(private readonly options: S3TargetOptions) {
    super();
    this.name = options.name;
    this.location = s3Location(options.address);
    this.layout = new RepositoryLayout(rootOf(options.address.prefix), options.host);
    this.log = options.log.child({ target: options.name, location: this.location });
    this.objects = new S3Objects(options.settings, options.settings.parallelParts * 2 + 4, options.address.bucket, this.location);
    this.entries = s3Entries(this.objects, this.layout.root);
    this.listing = new PointListing(this.entries, this.layout);
    this.staging = new S3Staging(this.objects, this.layout);
    this.spool = new LocalSpool(options.spoolRoot, options.cacheRoot, this.layout);
    this.bucket = bucketFor(options.bandwidthBytesPerS);
    this.merges = {
      objects: this.objects,
      layout: this.layout,
      host: options.host,
      partSizeBytes: options.settings.partSizeBytes,
      parallelParts: options.settings.parallelParts,
      bucket: this.bucket,
      log: this.log,
      listPoints: (uuid) => this.listPoints(uuid),
      getPoint: (uuid, id) => this.getPoint(uuid, id),
      // Only the transfer's signal: the merge's progress counts its own bytes, not the download's.
      openPoints: (uuid, ids, opts) => this.openPoints(uuid, ids, { signal: opts?.signal }),
    };
  }

  stagingFolder(domainUuid: string, backupId: string): string {
    return this.spool.folder(domainUuid, backupId);
  }

  /**
   * Claims the point's keys for this host with its staging marker (what an earlier attempt
   * left under them goes first), then empties (or makes) the local spool folder the point's
   * files are produced in. Wrong keys, a missing bucket or no answer fail here, before a
   * byte is written anywhere.
   */
  async beginPoint(domainUuid: string, backupId: string): Promise<string> {
    this.spool.folder(domainUuid, backupId);
    await this.checkDomainFolder(domainUuid);
    await this.staging.clear(domainUuid, backupId);
    await this.staging.mark(domainUuid, backupId);
    return this.spool.fresh(domainUuid, backupId);
  }

  /**
   * Stores the point whose files are in `from`: each disk is uploaded to its final key and
   * verified (s3-upload.ts), one already stored there by an interrupted attempt is kept,
   * anything else under the point's keys goes (objects and abandoned uploads), and the
   * manifest is put last: that PUT publishes the point. The staging marker goes after it.
   */
  async publishPoint(manifest: Manifest, from: string, options: TransferOptions = {}): Promise<void> {
    const { domain_uuid: domainUuid, backup_id: backupId } = manifest;
    const signal = options.signal ?? new AbortController().signal;
    if (await alreadyPublished(this.listing, manifest, this.name)) {
      await this.staging.unmark(domainUuid, backupId);
      return;
    }
    await this.checkDomainFolder(domainUuid);
    if (!(await this.staging.isMarked(domainUuid, backupId))) await this.staging.mark(domainUuid, backupId);
    const pointKey = keyOf(this.layout.pointDir(domainUuid, backupId));
    const log = this.log.child({ domain_uuid: domainUuid, backup_id: backupId });
    const { partSizeBytes, parallelParts } = this.options.settings;
    for (const disk of manifest.disks) {
      signal.throwIfAborted();
      const key = `${pointKey}/${disk.file}`;
      const local = join(from, disk.file);
      if (await alreadyStored(this.objects, key, local, disk, partSizeBytes)) {
        log.info({ file: disk.file, bytes: disk.size }, 'disk file already stored and verified on the target: kept');
        continue;
      }
      await uploadVerified(this.objects, key, local, disk, { partSizeBytes, parallelParts, signal, bucket: this.bucket, onBytes: options.onBytes });
      log.info({ file: disk.file, bytes: disk.size }, 'disk file stored and verified on the target');
    }
    // Uploads an interrupted attempt left (the claim says they are this host's) go too.
    for (const upload of await this.objects.pendingUploads(`${pointKey}/`)) await this.objects.abortUpload(upload);
    const named = new Set(manifest.disks.map((d) => `${pointKey}/${d.file}`));
    await this.objects.deleteKeys((await this.objects.listKeys(`${pointKey}/`)).filter((key) => !named.has(key)));
    const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
    const stored = await this.objects.put(`${pointKey}/${MANIFEST}`, body);
    if (stored.etag !== createHash('md5').update(body).digest('hex')) {
      throw new VerificationFailed(`the manifest of backup ${backupId} was stored on target ${this.name} with ETag ${stored.etag}, not the MD5 of what was sent`);
    }
    await this.staging.unmark(domainUuid, backupId);
    log.info('point published on the target');
  }

  async discardPartial(domainUuid: string, backupId: string): Promise<void> {
    await this.spool.discard(domainUuid, backupId);
    await this.staging.clear(domainUuid, backupId);
  }

  /**
   * Deletes a point and every object of it, merging it into its children first so they
   * keep their content (s3-merge.ts: on local copies, then back under work keys). This
   * host's claim goes first, then the merges, then the point's manifest (the point is gone
   * from that moment), its disks, and the claim. A crash in between is settled by
   * finishDelete. Refused while another point of the domain is being written or merged.
   * Null when there is no trusted point by that id (an untrusted entry is never deleted).
   */
  async deletePoint(domainUuid: string, backupId: string, options: DeleteOptions): Promise<DeleteReport | null> {
    checkedBackupId(backupId);
    if (!(await this.hasPoint(domainUuid, backupId))) return null;
    const busy = [...(await this.unpublishedOf(domainUuid, backupId)), ...(await pendingMerges(this.merges, domainUuid))];
    if (busy.length > 0) {
      throw new InvalidRepositoryEntry(`backup ${backupId} is kept on target ${this.name}: ${busy.join(', ')} being written or merged may build on it`);
    }
    await this.staging.mark(domainUuid, backupId);
    let report: DeleteReport = { backup_id: backupId, merged_into: [], bytes_written: 0 };
    if (childrenOf(await this.listPoints(domainUuid), backupId).length > 0) report = await mergeIntoChildren(this.merges, domainUuid, backupId, options);
    else options.onTotal?.(0);
    await this.removePointObjects(domainUuid, backupId);
    this.log.info({ domain_uuid: domainUuid, backup_id: backupId, merged_into: report.merged_into }, 'point deleted on the target');
    return report;
  }

  /**
   * After a crash: settles the merges into the point's children (forward once committed,
   * back before), then removes the point unless a child still builds on it or it is not
   * trusted. Repeatable.
   */
  async finishDelete(domainUuid: string, backupId: string): Promise<'deleted' | 'kept'> {
    await settleMerges(this.merges, domainUuid, backupId);
    const manifestKey = `${keyOf(this.layout.pointDir(domainUuid, backupId))}/${MANIFEST}`;
    const present = (await this.objects.head(manifestKey)) !== null;
    if (present && (!(await this.hasPoint(domainUuid, backupId)) || childrenOf(await this.listPoints(domainUuid), backupId).length > 0)) {
      await this.staging.unmark(domainUuid, backupId);
      return 'kept';
    }
    await this.removePointObjects(domainUuid, backupId);
    return 'deleted';
  }

  /** An object store has no fixed size to report. */
  async freeSpace(): Promise<FreeSpace | null> {
    return null;
  }

  openPoints(domainUuid: string, backupIds: readonly string[], options?: TransferOptions): Promise<OpenedPoints> {
    const download: DownloadFile = (uuid, id, file, sink, opts) =>
      downloadObject(this.objects, `${keyOf(this.layout.pointDir(uuid, id))}/${file}`, sink, this.bucket, opts);
    return openCopies(this, this.spool.cacheRoot, download, domainUuid, backupIds, options);
  }

  /**
   * Start-up: removes this host's spool and opened copies, and what this host left on the
   * target (the points it claimed and did not finish: their uploads aborted, their objects
   * deleted unless published); reports untrusted points; leaves other hosts' claims.
   */
  async sweep(): Promise<SweepReport> {
    const report: SweepReport = { removed: [], invalid: [], kept: [] };
    report.removed.push(...(await this.spool.sweep()));
    await this.sweepDomains(
      report,
      async (path) => {
        const kind = await this.entries.kind(path);
        if (kind === 'directory') {
          const name = posix.basename(path);
          await this.staging.clear(posix.basename(posix.dirname(path)), name.slice(this.layout.ownStagingPrefix.length));
        }
        return kind;
      },
      (path) => `${this.location}${path.slice(this.layout.root.length)}`,
    );
    return report;
  }

  async close(): Promise<void> {
    this.objects.client.destroy();
  }

  /** A domain "folder" that is an object is refused, as a file in its place is on a file target. */
  private async checkDomainFolder(domainUuid: string): Promise<void> {
    const problem = await this.listing.domainFolderProblem(domainUuid);
    if (problem) throw new InvalidRepositoryEntry(`the folder of domain ${domainUuid} on target ${this.name} is not trusted: ${problem}`);
  }

  /** The manifest, then every other object of the point, then this host's claim on it. */
  private async removePointObjects(domainUuid: string, backupId: string): Promise<void> {
    const pointKey = keyOf(this.layout.pointDir(domainUuid, backupId));
    await this.objects.deleteKeys([`${pointKey}/${MANIFEST}`]);
    for (const upload of await this.objects.pendingUploads(`${pointKey}/`)) await this.objects.abortUpload(upload);
    await this.objects.deleteKeys(await this.objects.listKeys(`${pointKey}/`));
    await this.staging.unmark(domainUuid, backupId);
  }

  /**
   * Other points of the domain that are being written (a staging claim of any host, or a
   * multipart upload under way): a copy of a child may be among them.
   */
  private async unpublishedOf(domainUuid: string, backupId: string): Promise<string[]> {
    const domainKey = keyOf(this.layout.domainDir(domainUuid));
    const claims = (await this.objects.listNames(`${domainKey}/`)).filter((n) => this.listing.stagingNames([n]).length > 0 && !n.endsWith(`-${backupId}`));
    const uploads = (await this.objects.pendingUploads(`${domainKey}/`)).map((u) => u.key.slice(domainKey.length + 1)).filter((k) => !k.startsWith(`${backupId}/`));
    return [...claims, ...uploads];
  }
}
