import { posix } from 'node:path';
import { InvalidRepositoryEntry } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { DeleteOptions, DeleteReport } from '../delete-point.js';
import { MERGE_SUFFIX } from '../merge-child.js';
import { childrenOf } from '../point-chain.js';
import type { Manifest } from '../point.js';
import type { FreeSpace, OpenedPoints, RepositoryTarget, SweepReport, TransferOptions } from '../target.js';
import { SshConnection } from './connection.js';
import { checkedBackupId, RepositoryLayout } from '../layout.js';
import { PointListing } from '../point-listing.js';
import { ListedTarget } from '../listed-target.js';
import { openCopies, type DownloadFile } from '../open-copies.js';
import { LocalSpool } from '../local-spool.js';
import { downloadHashed } from './download.js';
import { publishPoint } from './publish.js';
import { qcow2BackingFile } from './qcow2-backing.js';
import { RemoteHasher } from './remote-hash.js';
import { RemoteFs } from './remote-fs.js';
import { sshLocation, type SshUrl } from './ssh-url.js';
import { bucketFor, type TokenBucket } from '../throttle.js';

export interface SshTargetOptions {
  name: string;
  /** From parseSshUrl. */
  url: SshUrl;
  privateKeyPath: string;
  knownHostsPath: string;
  /** The limit on the bytes moved to and from the target; 0 means none. */
  bandwidthBytesPerS: number;
  /** This agent's host name: it names the staging folders this host may remove. */
  host: string;
  /** Local folder: a new point's files are produced in `<spoolRoot>/<uuid>/<id>` before they are published. */
  spoolRoot: string;
  /** Local folder: openPoints' verified copies. */
  cacheRoot: string;
  log: Logger;
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
}

const FOLDER_MODE = 0o750;

/**
 * A repository on another machine (a DR node) over SSH: the file target's layout and
 * rules on the far side of one SFTP session (see docs/ARCHITECTURE.md, "SSH target").
 * The modules next to this one each do one part: connection.ts (the session, host key,
 * errors), remote-fs.ts (SFTP without following links), listing.ts (trust), publish.ts
 * and upload.ts (staging, resume, verify, publish by rename), download.ts (hashed reads for
 * ../open-copies.ts' verified local copies), ../throttle.ts (the bandwidth limit).
 */
export class SshTarget extends ListedTarget implements RepositoryTarget {
  readonly name: string;
  readonly location: string;
  /** openPoints gives local copies, not the target's own files. */
  readonly opensInPlace = false;
  private readonly connection: SshConnection;
  private readonly fs: RemoteFs;
  protected readonly layout: RepositoryLayout;
  protected readonly listing: PointListing;
  private readonly hasher: RemoteHasher;
  private readonly bucket: TokenBucket | null;
  private readonly spool: LocalSpool;
  private readonly log: Logger;

  constructor(options: SshTargetOptions) {
    super();
    this.name = options.name;
    this.location = sshLocation(options.url);
    this.layout = new RepositoryLayout(options.url.path, options.host);
    this.log = options.log.child({ target: options.name, location: this.location });
    this.connection = new SshConnection({
      url: options.url,
      location: this.location,
      privateKeyPath: options.privateKeyPath,
      knownHostsPath: options.knownHostsPath,
      log: this.log,
      connectTimeoutMs: options.connectTimeoutMs,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
    });
    this.fs = new RemoteFs(this.connection);
    this.listing = new PointListing(this.fs, this.layout);
    this.bucket = bucketFor(options.bandwidthBytesPerS);
    this.hasher = new RemoteHasher(this.connection, this.fs, this.bucket, this.log);
    this.spool = new LocalSpool(options.spoolRoot, options.cacheRoot, this.layout);
  }

  stagingFolder(domainUuid: string, backupId: string): string {
    return this.spool.folder(domainUuid, backupId);
  }

  /**
   * Empties (or makes) the local spool folder the point's files are produced in, and this
   * host's staging folder on the target, which marks the point as being written by this
   * host (another host's sweep leaves it) until publishPoint fills and renames it.
   */
  async beginPoint(domainUuid: string, backupId: string): Promise<string> {
    const folder = await this.spool.fresh(domainUuid, backupId);
    await this.ensureDomainFolder(domainUuid);
    const staging = this.layout.partialDir(domainUuid, backupId);
    const found = await this.removeOwnStaging(staging);
    if (found !== 'missing' && found !== 'directory') {
      throw new InvalidRepositoryEntry(`staging entry ${posix.basename(staging)} of domain ${domainUuid} on target ${this.name} is a ${found}`);
    }
    await this.fs.mkdir(staging, FOLDER_MODE);
    return folder;
  }

  publishPoint(manifest: Manifest, from: string, options?: TransferOptions): Promise<void> {
    return publishPoint(
      {
        fs: this.fs,
        hasher: this.hasher,
        listing: this.listing,
        layout: this.layout,
        bucket: this.bucket,
        log: this.log,
        name: this.name,
        ensureDomainFolder: (uuid) => this.ensureDomainFolder(uuid),
      },
      manifest,
      from,
      options,
    );
  }

  async discardPartial(domainUuid: string, backupId: string): Promise<void> {
    await this.spool.discard(domainUuid, backupId);
    await this.removeOwnStaging(this.layout.partialDir(domainUuid, backupId));
  }

  /**
   * Removes a point nothing depends on: one rename makes it this host's staging folder
   * (a crash then leaves what the sweep removes, never half a point), then it goes. A
   * point with children is kept: merging them on the target needs qemu-img there. Null
   * when there is no trusted point by that id (an untrusted entry is never deleted).
   */
  async deletePoint(domainUuid: string, backupId: string, options: DeleteOptions): Promise<DeleteReport | null> {
    checkedBackupId(backupId);
    if (!(await this.hasPoint(domainUuid, backupId))) return null;
    if (childrenOf(await this.listPoints(domainUuid), backupId).length > 0) {
      throw new InvalidRepositoryEntry(`backup ${backupId} is kept on target ${this.name}: its children need it merged into them, which the agent that owns the repository does: name it as this target's "agent" in repo.targets`);
    }
    const blockers = await this.dependentsOf(domainUuid, backupId);
    if (blockers.length > 0) {
      const named = blockers.length > 5 ? `${blockers.slice(0, 5).join(', ')} and ${blockers.length - 5} more` : blockers.join(', ');
      throw new InvalidRepositoryEntry(`backup ${backupId} is kept on target ${this.name}: ${named} depend on it`);
    }
    options.onTotal?.(0);
    const staging = this.layout.partialDir(domainUuid, backupId);
    await this.removeOwnStaging(staging);
    await this.fs.rename(this.layout.pointDir(domainUuid, backupId), staging);
    await this.removeOwnStaging(staging);
    this.log.info({ domain_uuid: domainUuid, backup_id: backupId }, 'point deleted on the target');
    return { backup_id: backupId, merged_into: [], bytes_written: 0 };
  }

  async finishDelete(domainUuid: string, backupId: string): Promise<'deleted' | 'kept'> {
    await this.removeOwnStaging(this.layout.partialDir(domainUuid, backupId));
    return (await this.fs.kind(this.layout.pointDir(domainUuid, backupId))) === 'missing' ? 'deleted' : 'kept';
  }

  /** The file system the root is (or, before its first point, will be) on. */
  async freeSpace(): Promise<FreeSpace> {
    let dir = this.layout.root;
    while (dir !== '/' && (await this.fs.kind(dir)) === 'missing') dir = posix.dirname(dir);
    const vfs = await this.fs.statvfs(dir);
    return { free_bytes: vfs.f_bavail * vfs.f_frsize, total_bytes: vfs.f_blocks * vfs.f_frsize };
  }

  openPoints(domainUuid: string, backupIds: readonly string[], options?: TransferOptions): Promise<OpenedPoints> {
    const download: DownloadFile = (uuid, id, file, sink, opts) =>
      downloadHashed(this.fs, posix.join(this.layout.pointDir(uuid, id), file), { ...opts, bucket: this.bucket, sink });
    return openCopies(this, this.spool.cacheRoot, download, domainUuid, backupIds, options);
  }

  /**
   * Start-up: removes this host's staging folders on the target, and its local spool and
   * opened copies (nothing of this host can still use them: jobs have not started);
   * reports untrusted points; leaves other hosts' staging folders and anything that is
   * not a real folder.
   */
  async sweep(): Promise<SweepReport> {
    const report: SweepReport = { removed: [], invalid: [], kept: [] };
    report.removed.push(...(await this.spool.sweep()));
    // Named by the target's URL: a path on the far side means nothing on this host.
    await this.sweepDomains(report, (path) => this.removeOwnStaging(path), (path) => `${this.location}${path.slice(this.layout.root.length)}`);
    return report;
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  /** Makes the root (as configured, which may pass through links) and the domain's real folder. */
  private async ensureDomainFolder(domainUuid: string): Promise<void> {
    const parts = this.layout.root.split('/').slice(1);
    for (let i = 1; i <= parts.length; i += 1) await this.fs.mkdir(`/${parts.slice(0, i).join('/')}`, FOLDER_MODE);
    await this.fs.mkdir(this.layout.domainDir(domainUuid), FOLDER_MODE);
    const problem = await this.listing.domainFolderProblem(domainUuid);
    if (problem) throw new InvalidRepositoryEntry(`the folder of domain ${domainUuid} on target ${this.name} is not trusted: ${problem}`);
  }

  /** Removes `path` only if it is a real folder; says what it found there. */
  private async removeOwnStaging(path: string) {
    const kind = await this.fs.kind(path);
    if (kind === 'directory') await this.fs.removeTree(path);
    return kind;
  }

  /**
   * What in the domain's folder depends on the point besides its trusted children, as
   * `<folder>/<file>`: every qcow2 file whose header names a file of the point as its
   * backing (in untrusted points and in other hosts' staging folders: a copy of a child
   * may be on its way), and every merge work file. No symlink is followed.
   */
  private async dependentsOf(domainUuid: string, backupId: string): Promise<string[]> {
    const domainDir = this.layout.domainDir(domainUuid);
    const pointDir = this.layout.pointDir(domainUuid, backupId);
    const own = new Set([backupId, posix.basename(this.layout.partialDir(domainUuid, backupId))]);
    const dependents: string[] = [];
    for (const folder of (await this.fs.list(domainDir)).filter((n) => !own.has(n)).sort()) {
      const dir = posix.join(domainDir, folder);
      if ((await this.fs.kind(dir)) !== 'directory') continue;
      for (const name of (await this.fs.list(dir)).sort()) {
        const file = posix.join(dir, name);
        if (name.endsWith(MERGE_SUFFIX)) dependents.push(`${folder}/${name}`);
        else if (name.endsWith('.qcow2') && (await this.backsOnto(file, pointDir))) dependents.push(`${folder}/${name}`);
      }
    }
    return dependents;
  }

  private async backsOnto(file: string, pointDir: string): Promise<boolean> {
    if ((await this.fs.kind(file)) !== 'file') return false;
    const remote = await this.fs.open(file, 'r');
    try {
      const backing = await qcow2BackingFile((offset, length) => this.fs.read(remote, offset, length));
      return backing !== null && posix.dirname(posix.resolve(posix.dirname(file), backing)) === pointDir;
    } finally {
      await this.fs.closeQuietly(remote);
    }
  }
}
