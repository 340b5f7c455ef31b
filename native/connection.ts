/**
 * A libvirt connection with a per-connection call queue and transparent reconnect.
 */
import ref from '@2060.io/ref-napi';
import {
  libc,
  libvirt,
  type LibvirtBindings,
  type NativeFn,
  type Ptr,
  VIR_CONNECT_LIST_DOMAINS_ALL,
  VIR_DOMAIN_DEFINE_VALIDATE,
  VIR_UUID_STRING_BUFLEN,
} from './libvirt-ffi.js';
import {
  installQuietErrorHandler,
  isConnectionLost,
  LibvirtError,
  takeConnError,
  takeThreadError,
  VIR_ERR_INVALID_CONN,
  VIR_ERR_NO_CONNECT,
  VIR_ERR_NO_DOMAIN,
  VIR_FROM_NONE,
} from './errors.js';
import { Domain } from './domain.js';
import { borrowCString, callOffLoop, takeCString } from './call.js';
import { REPEATABLE_FUNCTIONS, retryWhileUnreachable } from './reconnect.js';

type FnName = keyof LibvirtBindings;
type ArgsOf<K extends FnName> = LibvirtBindings[K] extends NativeFn<infer A, unknown> ? A : never;
type RetOf<K extends FnName> = LibvirtBindings[K] extends NativeFn<infer _A, infer R> ? R : never;

/**
 * What an operation body gets: the live connection pointer, and helpers that run a
 * BLOCKING libvirt function off the event loop and turn a failure into a LibvirtError
 * read from this connection (see takeConnError).
 */
export interface CallContext {
  readonly conn: Ptr;
  /** For functions returning int: failure is a negative result. */
  int<K extends FnName>(name: K, ...args: ArgsOf<K>): Promise<number>;
  /** For functions returning a pointer: failure is NULL. */
  ptr<K extends FnName>(name: K, ...args: ArgsOf<K>): Promise<Ptr>;
}

export interface OpenOptions {
  /**
   * How long a call waits for libvirtd to answer again once the connection is lost (the
   * daemon restarted): the open and every reopen are retried until then, and a call that
   * only read state is repeated on the new connection. 0 (the default): one reopen
   * attempt and one repeat, no waiting.
   */
  reconnectTimeoutMs?: number;
}

export interface DefineOptions {
  /** Validate the XML against libvirt's RNG schema (VIR_DOMAIN_DEFINE_VALIDATE). */
  validate?: boolean;
}

const UUID_RE = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/i;

/** Whether a string has the shape of a UUID (with or without dashes), as libvirt parses them. */
export function looksLikeUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/**
 * Open a connection pointer, or throw the LibvirtError describing why not.
 */
async function openPointer(uri: string): Promise<Ptr> {
  const ptr = await callOffLoop(libvirt.virConnectOpen, [uri]);
  if (!ref.isNull(ptr)) return ptr;
  // The failure was recorded in the thread-local error slot of the pool thread that ran
  // virConnectOpen, which cannot be read from here, and there is no connection object
  // for virDispatchError to copy it into. So repeat the open once synchronously on this
  // (main) thread, solely to read libvirt's error with virGetLastError. For the local
  // URIs the agent uses (qemu:///system, test:///) a failing open returns at once
  // (socket missing / refused). Should it succeed this time, keep that connection.
  const again = libvirt.virConnectOpen(uri);
  if (!ref.isNull(again)) return again;
  throw (
    takeThreadError('virConnectOpen') ??
    new LibvirtError({
      code: VIR_ERR_NO_CONNECT,
      domain: VIR_FROM_NONE,
      message: `could not connect to ${uri}`,
      operation: 'virConnectOpen',
    })
  );
}

/** One run of an operation body on one connection pointer. */
interface Attempt {
  context: CallContext;
  /** Whether the body issued a function outside REPEATABLE_FUNCTIONS (its effect is then unknown on a lost connection). */
  readonly issuedSideEffect: boolean;
}

function makeAttempt(conn: Ptr): Attempt {
  let issuedSideEffect = false;
  const invoke = async <K extends FnName>(
    name: K,
    args: ArgsOf<K>,
    failed: (r: RetOf<K>) => boolean,
  ): Promise<RetOf<K>> => {
    if (!REPEATABLE_FUNCTIONS.has(name)) issuedSideEffect = true;
    const fn = libvirt[name] as unknown as NativeFn<ArgsOf<K>, RetOf<K>>;
    const result = await callOffLoop(fn, args);
    if (failed(result)) throw takeConnError(conn, name);
    return result;
  };
  return {
    context: {
      conn,
      int: (name, ...args) =>
        invoke(name, args, (r) => (r as unknown as number) < 0) as unknown as Promise<number>,
      ptr: (name, ...args) =>
        invoke(name, args, (r) => ref.isNull(r as unknown as Ptr)) as unknown as Promise<Ptr>,
    },
    get issuedSideEffect() {
      return issuedSideEffect;
    },
  };
}

export class Connection {
  readonly uri: string;
  readonly #reconnectTimeoutMs: number;
  #ptr: Ptr | null;
  #closed = false;
  /** Set when the socket to libvirtd is known dead: the next call reopens first. */
  #stale = false;
  #queue: Promise<void> = Promise.resolve();
  #reconnects = 0;

  private constructor(uri: string, ptr: Ptr, reconnectTimeoutMs: number) {
    this.uri = uri;
    this.#ptr = ptr;
    this.#reconnectTimeoutMs = reconnectTimeoutMs;
  }

  /**
   * Open a connection, e.g. `qemu:///system` or `test:///default`. With a reconnect
   * timeout the first open waits as long for an unreachable libvirtd as reopens do.
   */
  static async open(uri: string, opts: OpenOptions = {}): Promise<Connection> {
    installQuietErrorHandler();
    const timeout = opts.reconnectTimeoutMs ?? 0;
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new RangeError(`invalid reconnect timeout ${timeout}`);
    const ptr = await retryWhileUnreachable(() => openPointer(uri), Date.now() + timeout);
    return new Connection(uri, ptr, timeout);
  }

  /** How many times this object transparently reopened its URI. */
  get reconnectCount(): number {
    return this.#reconnects;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Run `body` with exclusive use of this connection. Calls on one Connection are
   * serialized, because a failed call's error is read from the connection object right
   * after it (libvirt's last error is thread-local; only the copy virDispatchError puts
   * into the connection is visible from the main thread). For concurrency, open more
   * Connections.
   *
   * @internal used by Domain; not part of the public surface.
   */
  run<T>(body: (ctx: CallContext) => Promise<T>): Promise<T> {
    const task = async (): Promise<T> => {
      const deadline = Date.now() + this.#reconnectTimeoutMs;
      for (let repeats = 0; ; repeats++) {
        const conn = await retryWhileUnreachable(() => this.#ensureOpen(), deadline);
        const attempt = makeAttempt(conn);
        try {
          return await body(attempt.context);
        } catch (err) {
          const lost = await this.#noteFailure(conn, err);
          // A body that only read state and hit a dead socket (typically the first call
          // after a libvirtd restart, which nothing could have noticed earlier without a
          // libvirt event loop) runs again on a new connection: once, and then as long as
          // the deadline allows. One that issued a side effect rejects, and its caller
          // looks at the state before it tries again.
          if (!lost || attempt.issuedSideEffect || (repeats > 0 && Date.now() >= deadline)) throw err;
        }
      }
    };
    return this.#serialize(task);
  }

  /** Queues `task` behind every call already on this connection; a failure does not block the next. */
  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Run `body` with a virDomainPtr looked up by UUID; the pointer is freed afterwards.
   * @internal used by Domain.
   */
  withDomain<T>(uuid: string, body: (ctx: CallContext, dom: Ptr) => Promise<T>): Promise<T> {
    return this.run(async (ctx) => {
      const dom = await ctx.ptr('virDomainLookupByUUIDString', ctx.conn, uuid);
      try {
        return await body(ctx, dom);
      } finally {
        libvirt.virDomainFree(dom);
      }
    });
  }

  /**
   * Whether the connection to the hypervisor is usable right now (virConnectIsAlive).
   * Note: without a libvirt event loop a restarted libvirtd is only noticed by the next
   * call, so this can say true once more after a restart; the next call then reconnects.
   */
  isAlive(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    const task = async (): Promise<boolean> => {
      if (this.#stale || this.#ptr === null) return false;
      const alive = await this.#probeAlive(this.#ptr);
      if (!alive) this.#stale = true;
      return alive;
    };
    return this.#serialize(task);
  }

  /** Close the connection (virConnectClose). Idempotent; later calls reject. */
  close(): Promise<void> {
    const task = async (): Promise<void> => {
      if (this.#closed) return;
      this.#closed = true;
      const ptr = this.#ptr;
      this.#ptr = null;
      if (ptr !== null) await callOffLoop(libvirt.virConnectClose, [ptr]);
    };
    return this.#serialize(task);
  }

  /** libvirt library version of the daemon side, e.g. "9.0.0" (virConnectGetLibVersion). */
  libvirtVersion(): Promise<string> {
    return this.run(async (ctx) => {
      const out = Buffer.alloc(8); // unsigned long
      await ctx.int('virConnectGetLibVersion', ctx.conn, out);
      const v = Number(out.readBigUInt64LE(0));
      return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
    });
  }

  /**
   * The default domain capabilities XML (virConnectGetDomainCapabilities with every
   * selector NULL): what this host's hypervisor can do, e.g. `<backup supported='yes'/>`.
   */
  domainCapabilities(): Promise<string> {
    return this.run(async (ctx) =>
      takeCString(await ctx.ptr('virConnectGetDomainCapabilities', ctx.conn, null, null, null, null, 0)),
    );
  }

  /**
   * Find a domain by UUID (when the string looks like one) or by name. Rejects with a
   * LibvirtError with code VIR_ERR_NO_DOMAIN (42) when there is none.
   */
  lookupDomain(nameOrUuid: string): Promise<Domain> {
    return this.run(async (ctx) => {
      let dom: Ptr | null = null;
      if (looksLikeUuid(nameOrUuid)) {
        try {
          dom = await ctx.ptr('virDomainLookupByUUIDString', ctx.conn, nameOrUuid);
        } catch (err) {
          // A domain may be *named* like a UUID: fall back to the name.
          if (!(err instanceof LibvirtError && err.code === VIR_ERR_NO_DOMAIN)) throw err;
        }
      }
      dom ??= await ctx.ptr('virDomainLookupByName', ctx.conn, nameOrUuid);
      return this.#adoptDomain(dom);
    });
  }

  /** Define (or redefine) a persistent domain from XML (virDomainDefineXMLFlags). */
  defineDomain(xml: string, opts: DefineOptions = {}): Promise<Domain> {
    const flags = opts.validate ? VIR_DOMAIN_DEFINE_VALIDATE : 0;
    return this.run(async (ctx) => this.#adoptDomain(await ctx.ptr('virDomainDefineXMLFlags', ctx.conn, xml, flags)));
  }

  /** All domains, running or not (virConnectListAllDomains). */
  listAllDomains(): Promise<Domain[]> {
    return this.run(async (ctx) => {
      const out = Buffer.alloc(ref.sizeof.pointer); // virDomainPtr **
      const n = await ctx.int('virConnectListAllDomains', ctx.conn, out, VIR_CONNECT_LIST_DOMAINS_ALL);
      const array = ref.readPointer(out, 0, n * ref.sizeof.pointer);
      const domains: Domain[] = [];
      try {
        for (let i = 0; i < n; i++) {
          domains.push(this.#adoptDomain(ref.readPointer(array, i * ref.sizeof.pointer, 0)));
        }
      } finally {
        if (!ref.isNull(array)) libc.free(array); // the array itself is malloc'd by libvirt
      }
      return domains;
    });
  }

  /** Turn a virDomainPtr into a Domain handle and free the pointer. */
  #adoptDomain(dom: Ptr): Domain {
    try {
      const uuidBuf = Buffer.alloc(VIR_UUID_STRING_BUFLEN);
      libvirt.virDomainGetUUIDString(dom, uuidBuf); // LOCAL: the UUID is cached in the object
      const uuid = ref.readCString(uuidBuf, 0);
      const name = borrowCString(libvirt.virDomainGetName(dom)); // LOCAL, owned by dom
      return new Domain(this, uuid, name);
    } finally {
      libvirt.virDomainFree(dom);
    }
  }

  async #ensureOpen(): Promise<Ptr> {
    if (this.#closed) {
      throw new LibvirtError({
        code: VIR_ERR_INVALID_CONN,
        domain: VIR_FROM_NONE,
        message: `connection to ${this.uri} was closed`,
        operation: 'Connection',
      });
    }
    if (!this.#stale && this.#ptr !== null) return this.#ptr;
    const old = this.#ptr;
    this.#ptr = null;
    if (old !== null) {
      // Releases our reference; on a dead socket this returns promptly.
      await callOffLoop(libvirt.virConnectClose, [old]).catch(() => undefined);
    }
    this.#ptr = await openPointer(this.uri); // on failure stays stale: the next call retries
    this.#stale = false;
    this.#reconnects++;
    return this.#ptr;
  }

  /** After a failed call: decide whether the connection is dead. */
  async #noteFailure(conn: Ptr, err: unknown): Promise<boolean> {
    if (!(err instanceof LibvirtError)) return false;
    if (isConnectionLost(err) || !(await this.#probeAlive(conn))) {
      this.#stale = true;
    }
    return this.#stale;
  }

  async #probeAlive(conn: Ptr): Promise<boolean> {
    const alive = await callOffLoop(libvirt.virConnectIsAlive, [conn]);
    if (alive < 0) libvirt.virConnResetLastError(conn);
    return alive === 1;
  }
}
