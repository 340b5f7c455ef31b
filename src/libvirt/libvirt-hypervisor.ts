import {
  Connection,
  Domain,
  LibvirtError,
  commitActiveWithPivot,
  commitIntermediate,
  isConnectionLost,
  isNoDomain,
} from '../../native/index.js';
import { DomainNotFound, HypervisorError, VirtDrError } from '../errors.js';
import type { Hypervisor, HypervisorDomain, HypervisorSession, RunState } from './hypervisor.js';

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

  async blockJob(disk: string): Promise<{ cur: number; end: number } | null> {
    const info = await translated(`block job info of ${this.name}/${disk}`, () => this.domain.getBlockJobInfo(disk));
    return info ? { cur: info.cur, end: info.end } : null;
  }
}

class LibvirtSession implements HypervisorSession {
  constructor(private readonly connection: Connection) {}

  async lookup(nameOrUuid: string): Promise<HypervisorDomain> {
    const domain = await translated(`look up domain ${nameOrUuid}`, () => this.connection.lookupDomain(nameOrUuid));
    return new LibvirtDomain(domain);
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

/**
 * The agent's long-lived connection serves quick calls (ping, lookups); every job opens
 * a session of its own, because calls on one connection run one at a time.
 */
export class LibvirtHypervisor implements Hypervisor {
  private constructor(
    private readonly uri: string,
    private readonly main: LibvirtSession,
    private readonly connection: Connection,
  ) {}

  static async connect(uri: string): Promise<LibvirtHypervisor> {
    const connection = await translated(`connect to ${uri}`, () => Connection.open(uri));
    return new LibvirtHypervisor(uri, new LibvirtSession(connection), connection);
  }

  libvirtVersion(): Promise<string> {
    return translated('libvirt version', () => this.connection.libvirtVersion());
  }

  lookup(nameOrUuid: string): Promise<HypervisorDomain> {
    return this.main.lookup(nameOrUuid);
  }

  async openSession(): Promise<HypervisorSession> {
    return new LibvirtSession(await translated(`connect to ${this.uri}`, () => Connection.open(this.uri)));
  }

  close(): Promise<void> {
    return this.main.close();
  }
}
