/**
 * libvirt errors as JS errors, and reading them out of libvirt's error objects.
 */
import ref from '@2060.io/ref-napi';
import {
  libvirt,
  NULL,
  virResetErrorAddress,
  type Ptr,
  VIR_ERROR_OFFSET_CODE,
  VIR_ERROR_OFFSET_DOMAIN,
  VIR_ERROR_OFFSET_LEVEL,
  VIR_ERROR_OFFSET_MESSAGE,
  VIR_ERROR_SIZE,
} from './libvirt-ffi.js';

// --- virErrorNumber (virterror.h, libvirt 9.0) -------------------------------------------
export const VIR_ERR_OK = 0;
export const VIR_ERR_INTERNAL_ERROR = 1; // also "client socket is closed" (domain RPC)
export const VIR_ERR_NO_SUPPORT = 3; // the driver does not implement the API
export const VIR_ERR_NO_CONNECT = 5; // can't connect to hypervisor
export const VIR_ERR_INVALID_CONN = 6;
export const VIR_ERR_INVALID_DOMAIN = 7;
export const VIR_ERR_INVALID_ARG = 8; // includes "unsupported flags (0x..)"
export const VIR_ERR_OPERATION_FAILED = 9;
export const VIR_ERR_DOM_EXIST = 28;
export const VIR_ERR_SYSTEM_ERROR = 38; // a system call failed (e.g. socket write/read)
export const VIR_ERR_RPC = 39;
export const VIR_ERR_NO_DOMAIN = 42;
export const VIR_ERR_AUTH_FAILED = 45;
export const VIR_ERR_OPERATION_INVALID = 55; // e.g. domain not running
export const VIR_ERR_OPERATION_TIMEOUT = 68;
export const VIR_ERR_NO_DOMAIN_SNAPSHOT = 72;
export const VIR_ERR_ARGUMENT_UNSUPPORTED = 74;
export const VIR_ERR_OPERATION_ABORTED = 78;
export const VIR_ERR_BLOCK_COPY_ACTIVE = 83; // also "disk 'vda' not ready for pivot yet"
export const VIR_ERR_OPERATION_UNSUPPORTED = 84;
export const VIR_ERR_AGENT_UNRESPONSIVE = 86; // guest agent not connected / timed out
export const VIR_ERR_RESOURCE_BUSY = 87;
export const VIR_ERR_AGENT_UNSYNCED = 97;
export const VIR_ERR_INVALID_DOMAIN_CHECKPOINT = 102; // e.g. "parent ... for moment ... not found"
export const VIR_ERR_NO_DOMAIN_CHECKPOINT = 103;
export const VIR_ERR_NO_DOMAIN_BACKUP = 104;
export const VIR_ERR_CHECKPOINT_INCONSISTENT = 109; // REDEFINE_VALIDATE: bitmap missing or broken

// --- virErrorDomain (where the error came from) -------------------------------------------
export const VIR_FROM_NONE = 0;
export const VIR_FROM_RPC = 7; // the RPC layer: sockets, (de)serialisation
export const VIR_FROM_QEMU = 10;
export const VIR_FROM_TEST = 12;
export const VIR_FROM_REMOTE = 13;
export const VIR_FROM_DOMAIN = 20;

/** A failed libvirt call. `message` is libvirt's own text (also in `libvirtMessage`). */
export class LibvirtError extends Error {
  /** virErrorNumber, e.g. VIR_ERR_NO_DOMAIN (42). */
  readonly code: number;
  /** virErrorDomain: which part of libvirt raised it, e.g. VIR_FROM_QEMU (10). */
  readonly domain: number;
  /** libvirt's human-readable message, verbatim. */
  readonly libvirtMessage: string;
  /** virErrorLevel: 1 warning, 2 error (0 if unknown). */
  readonly level: number;
  /** The C function that failed, e.g. "virDomainLookupByName". */
  readonly operation: string;

  constructor(init: {
    code: number;
    domain: number;
    message: string;
    level?: number;
    operation: string;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'LibvirtError';
    this.code = init.code;
    this.domain = init.domain;
    this.libvirtMessage = init.message;
    this.level = init.level ?? 0;
    this.operation = init.operation;
  }

  toJSON(): { class: string; code: number; domain: number; operation: string; message: string } {
    return {
      class: this.name,
      code: this.code,
      domain: this.domain,
      operation: this.operation,
      message: this.message,
    };
  }
}

/** A block job ended in a way polling cannot explain (vanished before ready, chain unchanged). */
export class BlockJobError extends Error {
  constructor(
    message: string,
    readonly disk: string,
  ) {
    super(message);
    this.name = 'BlockJobError';
  }
}

export function isLibvirtError(err: unknown, code?: number): err is LibvirtError {
  return err instanceof LibvirtError && (code === undefined || err.code === code);
}

// Plain booleans, not type guards: a guard's false branch would narrow a LibvirtError
// with another code to `never`.
export const isNoDomain = (err: unknown): boolean => isLibvirtError(err, VIR_ERR_NO_DOMAIN);
export const isOperationInvalid = (err: unknown): boolean => isLibvirtError(err, VIR_ERR_OPERATION_INVALID);
export const isNoCheckpoint = (err: unknown): boolean => isLibvirtError(err, VIR_ERR_NO_DOMAIN_CHECKPOINT);
export const isAgentUnavailable = (err: unknown): boolean =>
  isLibvirtError(err) &&
  (err.code === VIR_ERR_AGENT_UNRESPONSIVE || err.code === VIR_ERR_AGENT_UNSYNCED);
/** The driver or hypervisor cannot do this at all (not a transient failure). */
export const isUnsupported = (err: unknown): boolean =>
  isLibvirtError(err) &&
  (err.code === VIR_ERR_NO_SUPPORT ||
    err.code === VIR_ERR_OPERATION_UNSUPPORTED ||
    err.code === VIR_ERR_ARGUMENT_UNSUPPORTED);

/**
 * True when the error means the connection to libvirtd is gone (daemon restarted or
 * died, socket closed), so a new connection is needed. Observed on libvirt 9.0 after
 * `pkill libvirtd`: first call -> code 38 domain 7 "Cannot write data: Broken pipe" (or
 * "End of file while reading data"), later calls -> code 1 domain 7 "internal error:
 * client socket is closed".
 */
export function isConnectionLost(err: unknown): boolean {
  if (!(err instanceof LibvirtError)) return false;
  if (err.code === VIR_ERR_NO_CONNECT) return true;
  if (err.domain === VIR_FROM_RPC) {
    // Everything the RPC layer reports is about the transport, except authentication.
    return err.code !== VIR_ERR_AUTH_FAILED;
  }
  if (err.code === VIR_ERR_SYSTEM_ERROR && err.domain === VIR_FROM_REMOTE) return true;
  return /client socket is closed/i.test(err.libvirtMessage);
}

/**
 * Copy a libvirt virError (owned by libvirt) into a LibvirtError. Returns null when the
 * pointer is NULL or holds no error (code VIR_ERR_OK).
 */
export function readVirError(errPtr: Ptr, operation: string): LibvirtError | null {
  if (ref.isNull(errPtr)) return null;
  const view = ref.reinterpret(errPtr, VIR_ERROR_SIZE, 0);
  const code = view.readInt32LE(VIR_ERROR_OFFSET_CODE);
  if (code === VIR_ERR_OK) return null;
  const domain = view.readInt32LE(VIR_ERROR_OFFSET_DOMAIN);
  const level = view.readInt32LE(VIR_ERROR_OFFSET_LEVEL);
  const msgPtr = ref.readPointer(view, VIR_ERROR_OFFSET_MESSAGE, 0);
  const message = ref.isNull(msgPtr) ? `libvirt error ${code}` : ref.readCString(msgPtr, 0);
  return new LibvirtError({ code, domain, message, level, operation });
}

/**
 * Take the error a failed call left on `conn` (virDispatchError copies the thread-local
 * error of the pool thread into the connection object) and clear it. Must run before
 * the next call on that connection, which the per-connection queue guarantees.
 */
export function takeConnError(conn: Ptr, operation: string): LibvirtError {
  const err = readVirError(libvirt.virConnGetLastError(conn), operation);
  libvirt.virConnResetLastError(conn);
  return (
    err ??
    new LibvirtError({
      code: VIR_ERR_INTERNAL_ERROR,
      domain: VIR_FROM_NONE,
      message: `${operation} failed and libvirt recorded no error on the connection`,
      operation,
    })
  );
}

/** Take (and clear) the calling thread's last error — only meaningful on that thread. */
export function takeThreadError(operation: string): LibvirtError | null {
  const err = readVirError(libvirt.virGetLastError(), operation);
  libvirt.virResetLastError();
  return err;
}

let quietInstalled = false;

/**
 * Stop libvirt from printing "libvirt: XXX error : ..." to stderr for every failure.
 *
 * virDispatchError calls the global handler as handler(userData, err); without one it
 * prints. A JS ffi.Callback is not an option because virDispatchError runs on whatever
 * thread made the call — with `.async` that is a libuv pool thread, and ffi-napi would
 * have to bounce to the main thread (slow, and a deadlock risk while the loop waits).
 * Instead the handler is libvirt's own `void virResetError(virErrorPtr)` with userData
 * NULL: it is invoked as virResetError(NULL, err), sees a NULL first argument and
 * returns immediately (the extra argument is harmless in the SysV x86_64 ABI). The
 * error itself is untouched: it stays in the thread-local slot and in the connection.
 */
export function installQuietErrorHandler(): void {
  if (quietInstalled) return;
  libvirt.virInitialize();
  libvirt.virSetErrorFunc(NULL, virResetErrorAddress());
  quietInstalled = true;
}
