import type { DeleteOptions, DeleteReport } from './delete-point.js';
import type { InvalidPoint, PointScan } from './point-reading.js';
import type { Manifest } from './point.js';

/**
 * The repository port: a place that keeps points, whatever carries the bytes. The file
 * target (a local folder, an NFS or CephFS mount), the SSH target (a DR node) and the S3
 * target (a bucket of an object store) implement it; backup, restore, verify, delete, list and the start-up sweep use nothing else.
 * `test/integration/repository-target-conformance.test.ts` is its behaviour, and every
 * implementation passes it.
 *
 * A point's files are produced and consumed as local files, because QEMU and qemu-img
 * open them: a backup writes into `beginPoint`'s local folder and publishes from there;
 * a restore or verify reads through `openPoints`. Where the target is not local, those are
 * a local spool and a verified local copy.
 *
 * What every target guarantees:
 * - A point is listed only once its files and then its manifest are complete and durable
 *   on the target: an interrupted publish never looks like a point.
 * - What is read is not trusted: entries that are not what they claim are reported as
 *   invalid, never followed, never deleted.
 * - Only ids, UUIDs and the host name that passed their pattern check become path parts.
 */
export interface RepositoryTarget {
  /** The name a point's `targets` list uses for this target. */
  readonly name: string;
  /** The target's URL with no secret in it: for logs, errors and replies. */
  readonly location: string;
  /**
   * True when `openPoints` gives the target's own files at paths that stay (a file
   * target): what an instant restore needs, since its domain reads them until its copy ends.
   */
  readonly opensInPlace: boolean;

  /** The UUIDs of the domains the target holds anything for. */
  listDomains(): Promise<string[]>;
  /** The trusted points of a domain, oldest first, and the ones kept but not trusted. */
  scanPoints(domainUuid: string): Promise<PointScan>;
  listPoints(domainUuid: string): Promise<Manifest[]>;
  listInvalidPoints(domainUuid: string): Promise<InvalidPoint[]>;
  latestPoint(domainUuid: string): Promise<Manifest | null>;
  /** A trusted point; BackupNotFound when absent, InvalidRepositoryEntry when untrusted. */
  getPoint(domainUuid: string, backupId: string): Promise<Manifest>;
  hasPoint(domainUuid: string, backupId: string): Promise<boolean>;

  /** The local folder a new point's files are produced in; the same path every time. */
  stagingFolder(domainUuid: string, backupId: string): string;
  /** Empties (or makes) the staging folder of a new point and returns it. */
  beginPoint(domainUuid: string, backupId: string): Promise<string>;
  /**
   * Stores the point whose files are in the local folder `from` (its staging folder, or
   * another target's opened point) and publishes it: each disk file is written, made
   * durable and checked against the manifest's size and sha256 on the target, then the
   * manifest goes in last and one atomic step makes the point visible. A broken transfer
   * resumes on the next call where the target can; the staged files stay until it lands.
   */
  publishPoint(manifest: Manifest, from: string, options?: TransferOptions): Promise<void>;
  /** Removes what this host staged for a point, here and on the target; nothing else. */
  discardPartial(domainUuid: string, backupId: string): Promise<void>;

  /**
   * Deletes a point, merging it into its children first so they keep their content; null
   * when the target has no such point. Refuses (and changes nothing) when it cannot.
   */
  deletePoint(domainUuid: string, backupId: string, options: DeleteOptions): Promise<DeleteReport | null>;
  /** After a crash: finishes a delete that committed, rolls back one that did not. Safe to repeat. */
  finishDelete(domainUuid: string, backupId: string): Promise<'deleted' | 'kept'>;

  /** Null for a target with no fixed size to report (an object store). */
  freeSpace(): Promise<FreeSpace | null>;

  /**
   * Local folders holding these points' files, laid out as on the target (so a point's
   * relative backing path `../<parent>/vda.qcow2` resolves): the folders themselves for a
   * file target, a copy checked against each manifest otherwise. QEMU and qemu-img read
   * them; nobody writes them. `release` says the caller is done.
   */
  openPoints(domainUuid: string, backupIds: readonly string[], options?: TransferOptions): Promise<OpenedPoints>;

  /** Start-up: removes this host's staging leftovers and reports untrusted entries; a file target makes its folder if missing. */
  sweep(): Promise<SweepReport>;
  /** Lets go of connections; the target can still be used and reconnects. */
  close(): Promise<void>;
}

export interface OpenedPoints {
  /** The local folder that mirrors the target's root. */
  readonly root: string;

  /** The local folder of one of the opened points. */
  dirOf(backupId: string): string;
  release(): Promise<void>;
}

export interface TransferOptions {
  signal?: AbortSignal;
  /** Bytes moved or read, as they go. */
  onBytes?: (bytes: number) => void;
}

export interface FreeSpace {
  free_bytes: number;
  total_bytes: number;
}

/** What the start-up sweep did: it removes this host's staging folders, nothing else. */
export interface SweepReport {
  removed: string[];
  /** Points (and domain folders) kept but not trusted. */
  invalid: InvalidPoint[];
  /** Staging entries left alone: other hosts', older unnamed ones, symlinks. */
  kept: { path: string; reason: string }[];
}
