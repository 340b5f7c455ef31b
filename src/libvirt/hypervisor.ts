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

export interface CommitOptions {
  signal: AbortSignal;
  onProgress?: (progress: BlockJobProgress) => void;
}

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
  xml(): Promise<string>;
  runState(): Promise<RunState>;
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
  blockJob(disk: string): Promise<BlockJobProgress | null>;

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
  /** A separate connection for one job, so a slow call never queues another job's. */
  openSession(): Promise<HypervisorSession>;
}

export interface HypervisorSession {
  lookup(nameOrUuid: string): Promise<HypervisorDomain>;
  close(): Promise<void>;
}
