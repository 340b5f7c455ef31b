/**
 * What the operations need from the hypervisor, in their own terms. The libvirt adapter
 * (libvirt-hypervisor.ts) implements it over native/; unit tests use a fake. Errors
 * arrive already translated into VirtDrError classes.
 */
export type RunState = 'running' | 'paused' | 'shutoff' | 'other';

export interface DomainRef {
  name: string;
  uuid: string;
}

export interface BlockJobProgress {
  cur: number;
  end: number;
}

/** What a running block job does (libvirt's virDomainBlockJobType). */
export type BlockJobKind = 'pull' | 'copy' | 'commit' | 'active-commit' | 'backup' | 'unknown';

export interface BlockJob extends BlockJobProgress {
  kind: BlockJobKind;
}

export interface CommitOptions {
  signal: AbortSignal;
  onProgress?: (progress: BlockJobProgress) => void;
}

export interface PullOptions extends CommitOptions {
  /** Speed limit in MiB/s of a pull this call starts (0/omitted: unlimited). */
  bandwidthMiBps?: number;
}

/**
 * How a disk became independent of its backing chain: this call's pull; a pull that was
 * already running (an earlier caller died, QEMU went on) and was followed to its end; or
 * none needed, the disk had no backing (a pull completed while nobody watched).
 */
export type PullOutcome = 'pulled' | 'attached' | 'already-flat';

/** A backup job libvirt is running for the domain. */
export interface BackupJobProgress {
  bytesTotal: number;
  bytesDone: number;
}

/** How the domain's last job ended (virDomainGetJobStats with COMPLETED). */
export interface JobOutcome {
  state: 'succeeded' | 'failed' | 'cancelled' | 'unknown';
  /** libvirt's error message when the job failed. */
  error: string | null;
}

export interface HypervisorDomain extends DomainRef {
  /** The live XML (of the running domain; the persistent one when it is shut off). */
  xml(): Promise<string>;
  /** The persistent definition, what the next start uses. */
  persistentXml(): Promise<string>;
  runState(): Promise<RunState>;
  /** Starts the defined domain; resolves once QEMU runs it. */
  start(): Promise<void>;
  /** Asks the guest to power off (ACPI or the guest agent) and returns at once: poll runState. */
  shutdown(): Promise<void>;
  /** Powers the domain off at once, as pulling the plug does. */
  destroy(): Promise<void>;
  /**
   * Removes the persistent definition, without flags (as Nova does): refused while libvirt
   * holds snapshot or checkpoint metadata or an NVRAM file for the domain. A running
   * domain becomes transient.
   */
  undefine(): Promise<void>;
  /** Freezes guest filesystems through the guest agent; the agent must answer within the timeout. */
  freezeFilesystems(timeoutSeconds: number): Promise<void>;
  /** Returns how many filesystems were thawed: 0 when none was frozen. */
  thawFilesystems(timeoutSeconds: number): Promise<number>;
  suspend(): Promise<void>;
  resume(): Promise<void>;
  /** One atomic, external, disk-only snapshot without libvirt metadata. */
  createDiskSnapshot(snapshotXml: string, options: { quiesce: boolean }): Promise<void>;
  /** Commits `top` into `base` below the active layer; resolves when the job is gone. */
  commitIntermediate(disk: string, base: string, top: string, options: CommitOptions): Promise<void>;
  /** Commits the active layer into its backing and pivots the disk onto the backing. */
  commitActive(disk: string, options: CommitOptions): Promise<void>;
  /** The running block job on a disk, or null. */
  blockJob(disk: string): Promise<BlockJob | null>;
  /**
   * Copies a disk's whole backing chain into its active layer while the guest runs, and
   * resolves once the disk has no backing left (a block pull). Any time again: a pull that
   * already runs is followed rather than doubled, a flat disk is left alone. On abort the
   * pull is cancelled; the guest goes on on its overlay and loses nothing.
   */
  pullBacking(disk: string, options: PullOptions): Promise<PullOutcome>;

  /**
   * Starts a push-mode backup job into target files that already exist (empty images of
   * each disk's size); with `checkpointXml` libvirt creates that checkpoint (and its dirty
   * bitmaps) at the backup's point in time. Resolves once the job runs.
   */
  beginBackup(backupXml: string, checkpointXml: string | null): Promise<void>;
  /** The running backup job's progress, or null when no job runs. */
  backupJob(): Promise<BackupJobProgress | null>;
  /** The running backup job's XML (its targets), or null when none runs. */
  backupJobXml(): Promise<string | null>;
  /** How the last job ended; call once backupJob() says none runs. */
  lastJobOutcome(): Promise<JobOutcome>;
  /** Aborts the running backup job. */
  abortJob(): Promise<void>;
  /** Names of the checkpoints libvirt holds metadata for. */
  checkpoints(): Promise<string[]>;
  /** A checkpoint's XML, without the domain copy. */
  checkpointXml(name: string): Promise<string>;
  /**
   * Gives libvirt the metadata of a checkpoint whose bitmaps are in the images. With
   * `validate`, a missing or inconsistent bitmap fails with CheckpointInvalid.
   */
  redefineCheckpoint(xml: string, options: { validate: boolean }): Promise<void>;
  /** Deletes a checkpoint's metadata, and with `metadataOnly: false` its bitmaps too. */
  deleteCheckpoint(name: string, options: { metadataOnly: boolean }): Promise<void>;
}

export interface Hypervisor {
  libvirtVersion(): Promise<string>;
  /** Whether the hypervisor offers libvirt's backup API (domain capabilities `<backup supported='yes'/>`). */
  supportsBackupApi(): Promise<boolean>;
  /** Finds a domain by name or UUID; DomainNotFound when there is none. */
  lookup(nameOrUuid: string): Promise<HypervisorDomain>;
  /** Every domain libvirt knows, running or not: what the scheduler walks. */
  listDomains(): Promise<DomainRef[]>;
  /** A separate connection for one job, so a slow call never queues another job's. */
  openSession(): Promise<HypervisorSession>;
}

export interface HypervisorSession {
  lookup(nameOrUuid: string): Promise<HypervisorDomain>;
  /**
   * Defines (or redefines, same name and UUID) a persistent domain from XML, checked
   * against libvirt's schema. DomainExists when another domain has the name or the UUID.
   */
  define(xml: string): Promise<HypervisorDomain>;
  close(): Promise<void>;
}
