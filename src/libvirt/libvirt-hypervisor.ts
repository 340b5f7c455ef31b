import {
  Connection,
  Domain,
  LibvirtError,
  VIR_ERR_NO_DOMAIN_BACKUP,
  abortJob,
  backupBegin,
  backupXml,
  commitActiveWithPivot,
  commitIntermediate,
  deleteCheckpoint,
  getCheckpointXml,
  isConnectionLost,
  isLibvirtError,
  isNoDomain,
  jobStats,
  listCheckpoints,
  pullBacking,
  redefineCheckpoint,
  VIR_ERR_OPERATION_FAILED,
} from '../../native/index.js';
import { CheckpointInvalid, DomainExists, DomainNotFound, HypervisorError, VirtDrError } from '../errors.js';
import type {
  BackupJobProgress,
  BlockJob,
  DomainRef,
  Hypervisor,
  HypervisorDomain,
  HypervisorSession,
  JobOutcome,
  PullOptions,
  PullOutcome,
  RunState,
} from './hypervisor.js';

/**
 * The Hypervisor port over native/. This is the one place where libvirt's errors become
 * the agent's: an unknown domain fails fast as DomainNotFound; a dropped connection is a
 * retryable HypervisorError; everything else is a HypervisorError carrying libvirt's
 * code, domain and message.
 */
export function translateLibvirtError(err: unknown, what: string): VirtDrError {
  if (err instanceof LibvirtError) {
    const detail = { code: err.code, domain: err.domain, message: err.libvirtMessage };
    if (isNoDomain(err)) return new DomainNotFound(`${what}: ${err.libvirtMessage}`, { cause: err });
    return new HypervisorError(`${what}: ${err.libvirtMessage}`, isConnectionLost(err), detail, { cause: err });
  }
  if (err instanceof VirtDrError) return err;
  return new HypervisorError(`${what}: ${err instanceof Error ? err.message : String(err)}`, false, null, { cause: err });
}

async function translated<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw translateLibvirtError(err, what);
  }
}

class LibvirtDomain implements HypervisorDomain {
  constructor(private readonly domain: Domain) {}

  get name(): string {
    return this.domain.name;
  }

  get uuid(): string {
    return this.domain.uuid;
  }

  xml(): Promise<string> {
    return translated(`get XML of ${this.name}`, () => this.domain.getXml());
  }

  persistentXml(): Promise<string> {
    return translated(`get the persistent XML of ${this.name}`, () => this.domain.getXml({ inactive: true }));
  }

  start(): Promise<void> {
    return translated(`start ${this.name}`, () => this.domain.create());
  }

  shutdown(): Promise<void> {
    return translated(`shut down ${this.name}`, () => this.domain.shutdown());
  }

  destroy(): Promise<void> {
    return translated(`destroy ${this.name}`, () => this.domain.destroy());
  }

  undefine(): Promise<void> {
    return translated(`undefine ${this.name}`, () => this.domain.undefineWithoutFlags());
  }

  async runState(): Promise<RunState> {
    const { state } = await translated(`get state of ${this.name}`, () => this.domain.getState());
    return state === 'running' || state === 'paused' || state === 'shutoff' ? state : 'other';
  }

  async freezeFilesystems(timeoutSeconds: number): Promise<void> {
    await translated(`fsfreeze ${this.name}`, () => this.domain.fsFreeze(timeoutSeconds));
  }

  thawFilesystems(timeoutSeconds: number): Promise<number> {
    return translated(`fsthaw ${this.name}`, () => this.domain.fsThaw(timeoutSeconds));
  }

  suspend(): Promise<void> {
    return translated(`suspend ${this.name}`, () => this.domain.suspend());
  }

  resume(): Promise<void> {
    return translated(`resume ${this.name}`, () => this.domain.resume());
  }

  async createDiskSnapshot(snapshotXml: string, options: { quiesce: boolean }): Promise<void> {
    await translated(`snapshot ${this.name}`, () =>
      this.domain.createSnapshot(snapshotXml, { diskOnly: true, atomic: true, noMetadata: true, quiesce: options.quiesce }),
    );
  }

  commitIntermediate(
    disk: string,
    base: string,
    top: string,
    options: { signal: AbortSignal; onProgress?: (p: { cur: number; end: number }) => void },
  ): Promise<void> {
    return translated(`commit ${top} into ${base} on ${this.name}/${disk}`, () =>
      commitIntermediate(this.domain, disk, base, top, {
        signal: options.signal,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      }),
    );
  }

  commitActive(
    disk: string,
    options: { signal: AbortSignal; onProgress?: (p: { cur: number; end: number }) => void },
  ): Promise<void> {
    return translated(`active commit on ${this.name}/${disk}`, () =>
      commitActiveWithPivot(this.domain, disk, {
        signal: options.signal,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      }),
    );
  }

  async blockJob(disk: string): Promise<BlockJob | null> {
    const info = await translated(`block job info of ${this.name}/${disk}`, () => this.domain.getBlockJobInfo(disk));
    return info ? { kind: info.kind, cur: info.cur, end: info.end } : null;
  }

  pullBacking(disk: string, options: PullOptions): Promise<PullOutcome> {
    const { signal, onProgress, bandwidthMiBps } = options;
    return translated(`pull the backing chain of ${this.name}/${disk}`, () =>
      pullBacking(this.domain, disk, {
        signal,
        ...(bandwidthMiBps !== undefined ? { bandwidthMiBps } : {}),
        ...(onProgress ? { onProgress: ({ cur, end }) => onProgress({ cur, end }) } : {}),
      }),
    );
  }

  beginBackup(backupXmlText: string, checkpointXml: string | null): Promise<void> {
    return translated(`begin backup of ${this.name}`, () =>
      backupBegin(this.domain, backupXmlText, checkpointXml, { reuseExternal: true }),
    );
  }

  async backupJob(): Promise<BackupJobProgress | null> {
    let stats;
    try {
      stats = await jobStats(this.domain);
    } catch (err) {
      // Asked while libvirt still sets the job up, libvirt 9.0 answers this: a job exists.
      if (isLibvirtError(err) && /backup job data missing/i.test(err.libvirtMessage)) return { bytesTotal: 0, bytesDone: 0 };
      throw translateLibvirtError(err, `job stats of ${this.name}`);
    }
    if (stats.kind !== 'bounded' && stats.kind !== 'unbounded') return null;
    return { bytesTotal: numberField(stats.fields.disk_total), bytesDone: numberField(stats.fields.disk_processed) };
  }

  async backupJobXml(): Promise<string | null> {
    try {
      return await backupXml(this.domain);
    } catch (err) {
      if (isLibvirtError(err, VIR_ERR_NO_DOMAIN_BACKUP)) return null;
      throw translateLibvirtError(err, `backup job XML of ${this.name}`);
    }
  }

  async lastJobOutcome(): Promise<JobOutcome> {
    const stats = await translated(`completed job stats of ${this.name}`, () => jobStats(this.domain, { completed: true }));
    const error = typeof stats.fields.errmsg === 'string' ? stats.fields.errmsg : null;
    if (stats.kind === 'completed' && stats.fields.success !== false) return { state: 'succeeded', error: null };
    if (stats.kind === 'completed' || stats.kind === 'failed') return { state: 'failed', error };
    if (stats.kind === 'cancelled') return { state: 'cancelled', error };
    return { state: 'unknown', error };
  }

  abortJob(): Promise<void> {
    return translated(`abort the job of ${this.name}`, () => abortJob(this.domain));
  }

  checkpoints(): Promise<string[]> {
    return translated(`list checkpoints of ${this.name}`, () => listCheckpoints(this.domain));
  }

  checkpointXml(name: string): Promise<string> {
    return translated(`checkpoint ${name} of ${this.name}`, () => getCheckpointXml(this.domain, name));
  }

  async redefineCheckpoint(xml: string, options: { validate: boolean }): Promise<void> {
    try {
      await redefineCheckpoint(this.domain, xml, options);
    } catch (err) {
      // With validation, libvirt's refusal is the answer to "is this bitmap usable?"
      // (missing, inconsistent, on a replaced disk), whatever code it comes with.
      if (options.validate && err instanceof LibvirtError && !isConnectionLost(err)) {
        throw new CheckpointInvalid(err.libvirtMessage, { cause: err });
      }
      throw translateLibvirtError(err, `redefine a checkpoint of ${this.name}`);
    }
  }

  deleteCheckpoint(name: string, options: { metadataOnly: boolean }): Promise<void> {
    return translated(`delete checkpoint ${name} of ${this.name}`, () => deleteCheckpoint(this.domain, name, options));
  }
}

function numberField(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

class LibvirtSession implements HypervisorSession {
  constructor(private readonly connection: Connection) {}

  async lookup(nameOrUuid: string): Promise<HypervisorDomain> {
    const domain = await translated(`look up domain ${nameOrUuid}`, () => this.connection.lookupDomain(nameOrUuid));
    return new LibvirtDomain(domain);
  }

  async define(xml: string): Promise<HypervisorDomain> {
    try {
      return new LibvirtDomain(await this.connection.defineDomain(xml, { validate: true }));
    } catch (err) {
      // libvirt 9.0 reports a name or UUID another domain has as a failed operation, told
      // apart only by its message ("domain 'x' already exists with uuid …", "… is already
      // defined with uuid …").
      if (isLibvirtError(err, VIR_ERR_OPERATION_FAILED) && /already (exists|defined) with uuid/i.test(err.libvirtMessage)) {
        throw new DomainExists(err.libvirtMessage, { cause: err });
      }
      throw translateLibvirtError(err, 'define a domain');
    }
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

export interface LibvirtHypervisorOptions {
  /**
   * How long a job's calls wait for libvirtd to answer again after a restart (see
   * native/reconnect.ts). The agent's own connection does not wait: a request that finds
   * libvirtd gone fails at once with a retryable HypervisorError, before its caller's
   * timeout.
   */
  reconnectTimeoutMs: number;
}

/**
 * The agent's long-lived connection serves quick calls (ping, lookups); every job opens
 * a session of its own, because calls on one connection run one at a time.
 */
export class LibvirtHypervisor implements Hypervisor {
  private backupApi: Promise<boolean> | undefined;

  private constructor(
    private readonly uri: string,
    private readonly options: LibvirtHypervisorOptions,
    private readonly main: LibvirtSession,
    private readonly connection: Connection,
  ) {}

  static async connect(uri: string, options: LibvirtHypervisorOptions): Promise<LibvirtHypervisor> {
    const connection = await translated(`connect to ${uri}`, () => Connection.open(uri));
    return new LibvirtHypervisor(uri, options, new LibvirtSession(connection), connection);
  }

  libvirtVersion(): Promise<string> {
    return translated('libvirt version', () => this.connection.libvirtVersion());
  }

  async supportsBackupApi(): Promise<boolean> {
    // The host's capabilities do not change while the agent runs: ask once.
    this.backupApi ??= translated('domain capabilities', () => this.connection.domainCapabilities()).then(
      (xml) => /<backup\s+supported=['"]yes['"]/.test(xml),
      (err: unknown) => {
        this.backupApi = undefined; // a failed question is asked again next time
        throw err;
      },
    );
    return this.backupApi;
  }

  lookup(nameOrUuid: string): Promise<HypervisorDomain> {
    return this.main.lookup(nameOrUuid);
  }

  async listDomains(): Promise<DomainRef[]> {
    const domains = await translated('list domains', () => this.connection.listAllDomains());
    return domains.map(({ name, uuid }) => ({ name, uuid }));
  }

  async openSession(): Promise<HypervisorSession> {
    const connection = await translated(`connect to ${this.uri}`, () =>
      Connection.open(this.uri, { reconnectTimeoutMs: this.options.reconnectTimeoutMs }),
    );
    return new LibvirtSession(connection);
  }

  close(): Promise<void> {
    return this.main.close();
  }
}
