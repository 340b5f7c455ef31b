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
}

export interface Hypervisor {
  libvirtVersion(): Promise<string>;
  /** Finds a domain by name or UUID; DomainNotFound when there is none. */
  lookup(nameOrUuid: string): Promise<HypervisorDomain>;
  /** A separate connection for one job, so a slow call never queues another job's. */
  openSession(): Promise<HypervisorSession>;
}

export interface HypervisorSession {
  lookup(nameOrUuid: string): Promise<HypervisorDomain>;
  close(): Promise<void>;
}
