import { randomBytes } from 'node:crypto';
import { join, posix } from 'node:path';
import { InvalidRepositoryEntry, VerificationFailed } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Manifest } from '../point.js';
import type { TransferOptions } from '../target.js';
import { MANIFEST } from '../point-reading.js';
import type { RepositoryLayout } from '../layout.js';
import type { PointListing } from '../point-listing.js';
import { alreadyPublished } from '../published-point.js';
import type { RemoteHasher } from './remote-hash.js';
import type { RemoteFs } from './remote-fs.js';
import type { TokenBucket } from '../throttle.js';
import { uploadFile, writeRemoteFileAtomic } from './upload.js';

/**
 * Publishing a point on an SSH target, the file target's way: everything goes into this
 * host's staging folder `.partial-<host>-<id>/`, each disk file is uploaded (resuming a
 * staged one), fsynced and checked by sha256 on the target, anything else in the folder
 * goes, the manifest is written under a temporary name, fsynced and renamed into place,
 * and one rename of the folder makes the point visible. Until that rename no listing
 * shows it, so an interrupted publish never looks like a point; its staged files stay for
 * the next attempt to continue, until discardPartial or the sweep removes them.
 *
 * SFTP cannot fsync a folder, so the renames' durability is the target file system's
 * (ext4 and XFS journal them in order, within seconds); the data they name is fsynced.
 */
export interface PublishContext {
  fs: RemoteFs;
  hasher: RemoteHasher;
  listing: PointListing;
  layout: RepositoryLayout;
  bucket: TokenBucket | null;
  log: Logger;
  /** The target's name, for messages. */
  name: string;
  /** Makes the domain's folder (and the root) exist as real folders. */
  ensureDomainFolder(domainUuid: string): Promise<void>;
}

export async function publishPoint(ctx: PublishContext, manifest: Manifest, from: string, options: TransferOptions = {}): Promise<void> {
  const { domain_uuid: domainUuid, backup_id: backupId } = manifest;
  const signal = options.signal ?? new AbortController().signal;
  const finalDir = ctx.layout.pointDir(domainUuid, backupId);
  const staging = ctx.layout.partialDir(domainUuid, backupId);
  if (await alreadyPublished(ctx.listing, manifest, ctx.name)) {
    // What beginPoint made for it is not needed any more.
    if ((await ctx.fs.kind(staging)) === 'directory') await ctx.fs.removeTree(staging);
    return;
  }
  await ctx.ensureDomainFolder(domainUuid);
  if (!(await ctx.fs.mkdir(staging))) {
    const kind = await ctx.fs.kind(staging);
    if (kind !== 'directory') throw new InvalidRepositoryEntry(`staging entry ${posix.basename(staging)} of domain ${domainUuid} on target ${ctx.name} is a ${kind}`);
  }
  const log = ctx.log.child({ domain_uuid: domainUuid, backup_id: backupId });
  for (const disk of manifest.disks) {
    const remote = posix.join(staging, disk.file);
    signal.throwIfAborted();
    const upload = await uploadFile(ctx.fs, join(from, disk.file), remote, disk.size, {
      signal,
      bucket: ctx.bucket,
      onBytes: options.onBytes ?? (() => undefined),
    });
    const sha256 = await ctx.hasher.sha256(remote, signal);
    if (sha256 !== disk.sha256) {
      await ctx.fs.unlink(remote);
      throw new VerificationFailed(
        `${disk.file} of backup ${backupId} reads as sha256 ${sha256} on target ${ctx.name}, its manifest says ${disk.sha256}; the staged copy was removed`,
      );
    }
    log.info({ file: disk.file, bytes: disk.size, resumed_from: upload.resumedFrom, sent: upload.sent }, 'disk file stored and verified on the target');
  }
  await removeStrays(ctx.fs, staging, new Set(manifest.disks.map((d) => d.file)));
  const temporary = posix.join(staging, `.${MANIFEST}.${randomBytes(4).toString('hex')}.tmp`);
  await writeRemoteFileAtomic(ctx.fs, temporary, posix.join(staging, MANIFEST), Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));
  await ctx.fs.rename(staging, finalDir);
  log.info('point published on the target');
}

/** Whatever an earlier attempt left in the staging folder that the point does not name. */
async function removeStrays(fs: RemoteFs, staging: string, keep: ReadonlySet<string>): Promise<void> {
  for (const name of await fs.list(staging)) {
    if (!keep.has(name)) await fs.removeTree(posix.join(staging, name));
  }
}
