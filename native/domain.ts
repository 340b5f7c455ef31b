/**
 * A domain handle: the Connection plus the domain's UUID and name. Every operation looks
 * the virDomainPtr up by UUID, uses it and frees it, so handles survive reconnects and
 * never own native memory.
 */
import type { CallContext, Connection } from './connection.js';
import { borrowCString, takeCString } from './call.js';
import {
  BLOCK_JOB_INFO_OFFSET_BANDWIDTH,
  BLOCK_JOB_INFO_OFFSET_CUR,
  BLOCK_JOB_INFO_OFFSET_END,
  BLOCK_JOB_INFO_OFFSET_TYPE,
  BLOCK_JOB_INFO_SIZE,
  libvirt,
  NULL,
  type Ptr,
  VIR_DOMAIN_BLOCK_COMMIT_ACTIVE,
  VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES,
  VIR_DOMAIN_BLOCK_COMMIT_SHALLOW,
  VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC,
  VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT,
  VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES,
  VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT,
  VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP,
  VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT,
  VIR_DOMAIN_BLOCK_JOB_TYPE_COPY,
  VIR_DOMAIN_BLOCK_JOB_TYPE_PULL,
  VIR_DOMAIN_BLOCKED,
  VIR_DOMAIN_CRASHED,
  VIR_DOMAIN_NOSTATE,
  VIR_DOMAIN_PAUSED,
  VIR_DOMAIN_PMSUSPENDED,
  VIR_DOMAIN_RUNNING,
  VIR_DOMAIN_SHUTDOWN,
  VIR_DOMAIN_SHUTOFF,
  VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC,
  VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY,
  VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA,
  VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE,
  VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT,
  VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
  VIR_DOMAIN_UNDEFINE_KEEP_NVRAM,
  VIR_DOMAIN_UNDEFINE_NVRAM,
  VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
  VIR_DOMAIN_XML_INACTIVE,
  VIR_DOMAIN_XML_SECURE,
} from './libvirt-ffi.js';
import { LibvirtError, VIR_ERR_INVALID_ARG, VIR_ERR_NO_SUPPORT } from './errors.js';

export type DomainState =
  | 'nostate'
  | 'running'
  | 'blocked'
  | 'paused'
  | 'shutdown'
  | 'shutoff'
  | 'crashed'
  | 'pmsuspended';

const STATE_NAMES: Readonly<Record<number, DomainState>> = {
  [VIR_DOMAIN_NOSTATE]: 'nostate',
  [VIR_DOMAIN_RUNNING]: 'running',
  [VIR_DOMAIN_BLOCKED]: 'blocked',
  [VIR_DOMAIN_PAUSED]: 'paused',
  [VIR_DOMAIN_SHUTDOWN]: 'shutdown',
  [VIR_DOMAIN_SHUTOFF]: 'shutoff',
  [VIR_DOMAIN_CRASHED]: 'crashed',
  [VIR_DOMAIN_PMSUSPENDED]: 'pmsuspended',
};

export interface DomainStateInfo {
  state: DomainState;
  /** The state-specific reason enum (virDomainRunningReason, virDomainPausedReason, ...). */
  reason: number;
}

export interface GetXmlOptions {
  /** The persistent definition used at next boot rather than the live one. */
  inactive?: boolean;
  /** Include security-sensitive data (passwords). */
  secure?: boolean;
}

export interface SnapshotFlags {
  /** VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY: external disk snapshot, no memory state. */
  diskOnly?: boolean;
  /** VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC: all disks or none. */
  atomic?: boolean;
  /** VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA: libvirt does not track the snapshot. */
  noMetadata?: boolean;
  /** VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE: freeze/thaw through the guest agent. */
  quiesce?: boolean;
  /** VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT: the overlay files were pre-created. */
  reuseExternal?: boolean;
}

export interface BlockCommitOptions {
  /** File (or "vda[2]" notation) to commit into; null = default (see `shallow`). */
  base: string | null;
  /** File to commit from; null = the active layer. */
  top: string | null;
  /** Commit the active layer (VIR_DOMAIN_BLOCK_COMMIT_ACTIVE): the job then waits for a pivot. */
  active: boolean;
  /**
   * With base null: commit into the immediate backing file of top instead of the
   * deepest one (VIR_DOMAIN_BLOCK_COMMIT_SHALLOW). Important when the bottom of the chain
   * is a shared image (e.g. Nova's _base files), which must never be written to.
   */
  shallow?: boolean;
  /** Speed limit in bytes/s (VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES); omitted/0 = unlimited. */
  bandwidthBytesPerSec?: number;
}

export type BlockJobKind = 'unknown' | 'pull' | 'copy' | 'commit' | 'active-commit' | 'backup';

const JOB_KINDS: Readonly<Record<number, BlockJobKind>> = {
  [VIR_DOMAIN_BLOCK_JOB_TYPE_PULL]: 'pull',
  [VIR_DOMAIN_BLOCK_JOB_TYPE_COPY]: 'copy',
  [VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT]: 'commit',
  [VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT]: 'active-commit',
  [VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP]: 'backup',
};

export interface BlockJobInfo {
  /** virDomainBlockJobType number (VIR_DOMAIN_BLOCK_JOB_TYPE_*). */
  type: number;
  kind: BlockJobKind;
  /** Current bandwidth limit in bytes/s (0 = unlimited). */
  bandwidth: number;
  /** Progress cursor; the job is done (or, for active commit, ready to pivot) when cur == end. */
  cur: number;
  end: number;
}

export interface AbortBlockJobOptions {
  /** Switch the disk to the job's target (active commit / copy) — VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT. */
  pivot?: boolean;
  /** Return before the job has ended (VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC). */
  async?: boolean;
}

export interface BlockPullOptions {
  /** Speed limit in MiB/s; omitted/0 = unlimited. */
  bandwidthMiBps?: number;
}

export interface UndefineOptions {
  /** Keep the UEFI NVRAM file (default: delete it together with the definition). */
  keepNvram?: boolean;
}

function checkSeconds(seconds: number, what: string): void {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 2_147_483_647) {
    throw new RangeError(`${what}: timeout must be a positive integer number of seconds, got ${seconds}`);
  }
}

function snapshotFlagBits(flags: SnapshotFlags): number {
  return (
    (flags.diskOnly ? VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY : 0) |
    (flags.atomic ? VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC : 0) |
    (flags.noMetadata ? VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA : 0) |
    (flags.quiesce ? VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE : 0) |
    (flags.reuseExternal ? VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT : 0)
  );
}

export class Domain {
  /**
   * Normally obtained from Connection.lookupDomain / defineDomain / listAllDomains.
   * `name` is the name at lookup time; operations go by `uuid`.
   */
  constructor(
    readonly connection: Connection,
    readonly uuid: string,
    readonly name: string,
  ) {}

  /** Domain XML (virDomainGetXMLDesc). */
  getXml(opts: GetXmlOptions = {}): Promise<string> {
    const flags = (opts.inactive ? VIR_DOMAIN_XML_INACTIVE : 0) | (opts.secure ? VIR_DOMAIN_XML_SECURE : 0);
    return this.#with(async (ctx, dom) => takeCString(await ctx.ptr('virDomainGetXMLDesc', dom, flags)));
  }

  /** State and reason (virDomainGetState). */
  getState(): Promise<DomainStateInfo> {
    return this.#with(async (ctx, dom) => {
      const state = Buffer.alloc(4);
      const reason = Buffer.alloc(4);
      await ctx.int('virDomainGetState', dom, state, reason, 0);
      const code = state.readInt32LE(0);
      return { state: STATE_NAMES[code] ?? 'nostate', reason: reason.readInt32LE(0) };
    });
  }

  /** Whether the domain is running (any active state, including paused). */
  isActive(): Promise<boolean> {
    return this.#with(async (ctx, dom) => (await ctx.int('virDomainIsActive', dom)) === 1);
  }

  /**
   * How long libvirt waits for guest-agent replies, in seconds
   * (virDomainAgentSetResponseTimeout). Special values: -2 block forever, -1 libvirt's
   * default, 0 don't wait. Persists for the running domain.
   */
  async setAgentResponseTimeout(seconds: number): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < -2) throw new RangeError(`invalid agent timeout ${seconds}`);
    return this.#with(async (ctx, dom) => {
      await ctx.int('virDomainAgentSetResponseTimeout', dom, seconds, 0);
    });
  }

  /**
   * Freeze all guest filesystems through the guest agent (virDomainFSFreeze, mountpoints
   * NULL). Returns how many were frozen. The agent response timeout is set to
   * `timeoutSeconds` first, so a dead agent cannot hold a pool thread indefinitely; it
   * fails with VIR_ERR_AGENT_UNRESPONSIVE instead. (The timeout stays set on the domain.)
   * After any failure the guest may still freeze late, so callers should always try
   * fsThaw afterwards.
   */
  fsFreeze(timeoutSeconds: number): Promise<number> {
    return this.#filesystemCall('virDomainFSFreeze', timeoutSeconds);
  }

  /** Thaw guest filesystems (virDomainFSThaw); returns how many were thawed. See fsFreeze. */
  fsThaw(timeoutSeconds: number): Promise<number> {
    return this.#filesystemCall('virDomainFSThaw', timeoutSeconds);
  }

  /** A guest-agent filesystem call on all mountpoints, bounded by the agent response timeout. */
  async #filesystemCall(name: 'virDomainFSFreeze' | 'virDomainFSThaw', timeoutSeconds: number): Promise<number> {
    checkSeconds(timeoutSeconds, name);
    return this.#with(async (ctx, dom) => {
      await this.#setAgentTimeoutIfSupported(ctx, dom, timeoutSeconds);
      return ctx.int(name, dom, NULL, 0, 0);
    });
  }

  /** Pause the vCPUs (virDomainSuspend). */
  suspend(): Promise<void> {
    return this.#void('virDomainSuspend');
  }

  /** Resume paused vCPUs (virDomainResume). */
  resume(): Promise<void> {
    return this.#void('virDomainResume');
  }

  /** Start the defined domain (virDomainCreate). */
  create(): Promise<void> {
    return this.#void('virDomainCreate');
  }

  /**
   * Ask the guest to power off (virDomainShutdown: ACPI or the guest agent). Returns once
   * the request is sent; the guest may take its time, or ignore it: poll getState.
   */
  shutdown(): Promise<void> {
    return this.#void('virDomainShutdown');
  }

  /** Hard power-off (virDomainDestroy). */
  destroy(): Promise<void> {
    return this.#void('virDomainDestroy');
  }

  /**
   * Remove the persistent definition (virDomainUndefineFlags) together with its
   * snapshot and checkpoint metadata and (unless keepNvram) its NVRAM file. A running
   * domain becomes transient. Drivers that reject some of these flags (the test driver
   * rejects NVRAM and CHECKPOINTS_METADATA) are retried with SNAPSHOTS_METADATA only.
   */
  undefine(opts: UndefineOptions = {}): Promise<void> {
    const flags =
      VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
      VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
      (opts.keepNvram ? VIR_DOMAIN_UNDEFINE_KEEP_NVRAM : VIR_DOMAIN_UNDEFINE_NVRAM);
    return this.#with(async (ctx, dom) => {
      try {
        await ctx.int('virDomainUndefineFlags', dom, flags);
      } catch (err) {
        if (!(err instanceof LibvirtError && err.code === VIR_ERR_INVALID_ARG && /unsupported flags/i.test(err.message))) {
          throw err;
        }
        await ctx.int('virDomainUndefineFlags', dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
      }
    });
  }

  /**
   * Remove the persistent definition with no flags (virDomainUndefineFlags(0)), as Nova
   * does: libvirt refuses while it still holds snapshot or checkpoint metadata or an NVRAM
   * file for the domain, so nothing it keeps is dropped silently.
   */
  undefineWithoutFlags(): Promise<void> {
    return this.#with(async (ctx, dom) => {
      await ctx.int('virDomainUndefineFlags', dom, 0);
    });
  }

  /**
   * Create a snapshot from snapshot XML (virDomainSnapshotCreateXML). Returns the
   * snapshot's name; the snapshot object is freed right away.
   */
  createSnapshot(xml: string, flags: SnapshotFlags = {}): Promise<string> {
    const bits = snapshotFlagBits(flags);
    return this.#with(async (ctx, dom) => {
      const snap = await ctx.ptr('virDomainSnapshotCreateXML', dom, xml, bits);
      try {
        return borrowCString(libvirt.virDomainSnapshotGetName(snap)); // LOCAL, owned by snap
      } finally {
        libvirt.virDomainSnapshotFree(snap);
      }
    });
  }

  /**
   * Start a block commit job (virDomainBlockCommit). Returns once the job is started;
   * follow it with getBlockJobInfo / waitForBlockJob.
   */
  async blockCommit(disk: string, opts: BlockCommitOptions): Promise<void> {
    const bandwidth = opts.bandwidthBytesPerSec ?? 0;
    if (!Number.isSafeInteger(bandwidth) || bandwidth < 0) throw new RangeError(`invalid bandwidth ${bandwidth}`);
    const flags =
      (opts.active ? VIR_DOMAIN_BLOCK_COMMIT_ACTIVE : 0) |
      (opts.shallow ? VIR_DOMAIN_BLOCK_COMMIT_SHALLOW : 0) |
      (bandwidth > 0 ? VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES : 0);
    return this.#with(async (ctx, dom) => {
      await ctx.int('virDomainBlockCommit', dom, disk, opts.base, opts.top, bandwidth, flags);
    });
  }

  /**
   * Start a block pull job (virDomainBlockPull): the whole backing chain of `disk` is
   * copied into its active layer, which loses its backing file when the job completes.
   * Returns once the job is started; follow it with pullBacking / waitForBlockJob.
   */
  async blockPull(disk: string, opts: BlockPullOptions = {}): Promise<void> {
    const bandwidth = opts.bandwidthMiBps ?? 0;
    if (!Number.isSafeInteger(bandwidth) || bandwidth < 0) throw new RangeError(`invalid bandwidth ${bandwidth} MiB/s`);
    return this.#with(async (ctx, dom) => {
      await ctx.int('virDomainBlockPull', dom, disk, bandwidth, 0);
    });
  }

  /** The block job on `disk`, or null when there is none (virDomainGetBlockJobInfo). */
  getBlockJobInfo(disk: string): Promise<BlockJobInfo | null> {
    return this.#with(async (ctx, dom) => {
      const info = Buffer.alloc(BLOCK_JOB_INFO_SIZE);
      const found = await ctx.int(
        'virDomainGetBlockJobInfo',
        dom,
        disk,
        info,
        VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES,
      );
      if (found === 0) return null;
      const type = info.readInt32LE(BLOCK_JOB_INFO_OFFSET_TYPE);
      return {
        type,
        kind: JOB_KINDS[type] ?? 'unknown',
        bandwidth: Number(info.readBigUInt64LE(BLOCK_JOB_INFO_OFFSET_BANDWIDTH)),
        cur: Number(info.readBigUInt64LE(BLOCK_JOB_INFO_OFFSET_CUR)),
        end: Number(info.readBigUInt64LE(BLOCK_JOB_INFO_OFFSET_END)),
      };
    });
  }

  /**
   * End the block job on `disk` (virDomainBlockJobAbort): with pivot, switch to the
   * commit/copy target; without, cancel. Without `async` it returns once the job is gone.
   */
  abortBlockJob(disk: string, opts: AbortBlockJobOptions = {}): Promise<void> {
    const flags =
      (opts.pivot ? VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT : 0) | (opts.async ? VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC : 0);
    return this.#with(async (ctx, dom) => {
      await ctx.int('virDomainBlockJobAbort', dom, disk, flags);
    });
  }

  toString(): string {
    return `Domain(${this.name}, ${this.uuid})`;
  }

  #with<T>(body: (ctx: CallContext, dom: Ptr) => Promise<T>): Promise<T> {
    return this.connection.withDomain(this.uuid, body);
  }

  #void(
    name: 'virDomainSuspend' | 'virDomainResume' | 'virDomainCreate' | 'virDomainShutdown' | 'virDomainDestroy',
  ): Promise<void> {
    return this.#with(async (ctx, dom) => {
      await ctx.int(name, dom);
    });
  }

  async #setAgentTimeoutIfSupported(ctx: CallContext, dom: Ptr, seconds: number): Promise<void> {
    try {
      await ctx.int('virDomainAgentSetResponseTimeout', dom, seconds, 0);
    } catch (err) {
      // Drivers without a guest agent (test:///) don't implement it; nothing can hang there.
      if (!(err instanceof LibvirtError && err.code === VIR_ERR_NO_SUPPORT)) throw err;
    }
  }
}
