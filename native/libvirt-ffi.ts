/**
 * Every foreign-function declaration of the agent, in one place.
 *
 * Only `libvirt.so.0` (Debian package libvirt0) and libc are needed at run time;
 * the values below were checked against the libvirt 9.0 headers
 * (/usr/include/libvirt/*.h from libvirt-dev, which is NOT a runtime dependency).
 *
 * Nothing here is meant to be used outside native/: use the typed adapter in
 * native/index.ts. Rules (see native/README.md):
 *  - functions marked BLOCKING may talk to libvirtd / QEMU / the guest agent and must
 *    only be called through `.async` (they then run on a libuv pool thread);
 *  - functions marked LOCAL only touch process memory and may be called synchronously;
 *  - a returned `char *` that the caller owns is declared 'pointer' (never 'string',
 *    which would leak it): read it with ref.readCString and release it with `libc.free`.
 */
import ffi from '@2060.io/ffi-napi';
import ref from '@2060.io/ref-napi';

/** An opaque C pointer as ffi hands it out (a zero-length Buffer whose address is the pointer). */
export type Ptr = Buffer;

type NativeCallback<R> = (err: Error | null, value: R) => void;

/** A bound C function: callable synchronously, or via `.async` on the libuv thread pool. */
export interface NativeFn<A extends unknown[], R> {
  (...args: A): R;
  async(...args: [...A, NativeCallback<R>]): void;
}

/** `const char *` argument: a JS string, or null for a C NULL. */
type CStr = string | null;

export interface LibvirtBindings {
  // --- library / error handling (LOCAL) ---------------------------------------------
  /** int virInitialize(void) — idempotent, thread-safe (virOnce). */
  virInitialize: NativeFn<[], number>;
  /** void virSetErrorFunc(void *userData, virErrorFunc handler) — process-global. */
  virSetErrorFunc: NativeFn<[Ptr, Ptr], void>;
  /** virErrorPtr virGetLastError(void) — THREAD-LOCAL last error, owned by libvirt. */
  virGetLastError: NativeFn<[], Ptr>;
  /** void virResetLastError(void) — THREAD-LOCAL. */
  virResetLastError: NativeFn<[], void>;
  /** virErrorPtr virConnGetLastError(virConnectPtr) — per-connection copy made by virDispatchError. */
  virConnGetLastError: NativeFn<[Ptr], Ptr>;
  /** void virConnResetLastError(virConnectPtr). */
  virConnResetLastError: NativeFn<[Ptr], void>;

  // --- connection (BLOCKING unless noted) ----------------------------------------------
  /** virConnectPtr virConnectOpen(const char *name) — NULL on failure. */
  virConnectOpen: NativeFn<[string], Ptr>;
  /** int virConnectClose(virConnectPtr) — sends a close RPC on remote connections. */
  virConnectClose: NativeFn<[Ptr], number>;
  /** int virConnectIsAlive(virConnectPtr) — 1 alive, 0 dead, -1 error. */
  virConnectIsAlive: NativeFn<[Ptr], number>;
  /** int virConnectGetLibVersion(virConnectPtr, unsigned long *libVer) — an RPC on remote URIs. */
  virConnectGetLibVersion: NativeFn<[Ptr, Ptr], number>;
  /** int virConnectListAllDomains(virConnectPtr, virDomainPtr **domains, unsigned int flags). */
  virConnectListAllDomains: NativeFn<[Ptr, Ptr, number], number>;

  // --- domain lookup / lifetime ---------------------------------------------------------
  /** virDomainPtr virDomainLookupByName(virConnectPtr, const char *name) — BLOCKING. */
  virDomainLookupByName: NativeFn<[Ptr, string], Ptr>;
  /** virDomainPtr virDomainLookupByUUIDString(virConnectPtr, const char *uuid) — BLOCKING. */
  virDomainLookupByUUIDString: NativeFn<[Ptr, string], Ptr>;
  /** virDomainPtr virDomainDefineXMLFlags(virConnectPtr, const char *xml, unsigned int flags) — BLOCKING. */
  virDomainDefineXMLFlags: NativeFn<[Ptr, string, number], Ptr>;
  /**
   * int virDomainFree(virDomainPtr) — LOCAL: only drops a reference. (It could only reach
   * the daemon if it dropped the last reference of a connection that was already closed;
   * the adapter always frees domains before closing their connection.)
   */
  virDomainFree: NativeFn<[Ptr], number>;
  /** const char *virDomainGetName(virDomainPtr) — LOCAL, owned by the domain object: never free. */
  virDomainGetName: NativeFn<[Ptr], Ptr>;
  /** int virDomainGetUUIDString(virDomainPtr, char buf[VIR_UUID_STRING_BUFLEN]) — LOCAL. */
  virDomainGetUUIDString: NativeFn<[Ptr, Ptr], number>;

  // --- domain operations (all BLOCKING) ---------------------------------------------------
  /** char *virDomainGetXMLDesc(virDomainPtr, unsigned int flags) — caller frees. */
  virDomainGetXMLDesc: NativeFn<[Ptr, number], Ptr>;
  /** int virDomainGetState(virDomainPtr, int *state, int *reason, unsigned int flags). */
  virDomainGetState: NativeFn<[Ptr, Ptr, Ptr, number], number>;
  /** int virDomainIsActive(virDomainPtr) — 1/0/-1. */
  virDomainIsActive: NativeFn<[Ptr], number>;
  virDomainSuspend: NativeFn<[Ptr], number>;
  virDomainResume: NativeFn<[Ptr], number>;
  /** int virDomainCreate(virDomainPtr) — starts a defined domain. */
  virDomainCreate: NativeFn<[Ptr], number>;
  /**
   * int virDomainShutdown(virDomainPtr) — asks the guest to power off (ACPI or the guest
   * agent, hypervisor's choice) and returns at once; the guest may ignore it.
   */
  virDomainShutdown: NativeFn<[Ptr], number>;
  virDomainDestroy: NativeFn<[Ptr], number>;
  virDomainUndefineFlags: NativeFn<[Ptr, number], number>;
  /** int virDomainAgentSetResponseTimeout(virDomainPtr, int timeout, unsigned int flags). */
  virDomainAgentSetResponseTimeout: NativeFn<[Ptr, number, number], number>;
  /** int virDomainFSFreeze(virDomainPtr, const char **mountpoints, unsigned int n, unsigned int flags). */
  virDomainFSFreeze: NativeFn<[Ptr, Ptr, number, number], number>;
  /** int virDomainFSThaw(virDomainPtr, const char **mountpoints, unsigned int n, unsigned int flags). */
  virDomainFSThaw: NativeFn<[Ptr, Ptr, number, number], number>;
  /** virDomainSnapshotPtr virDomainSnapshotCreateXML(virDomainPtr, const char *xml, unsigned int flags). */
  virDomainSnapshotCreateXML: NativeFn<[Ptr, string, number], Ptr>;
  /** const char *virDomainSnapshotGetName(virDomainSnapshotPtr) — LOCAL, owned by the snapshot object. */
  virDomainSnapshotGetName: NativeFn<[Ptr], Ptr>;
  /** int virDomainSnapshotFree(virDomainSnapshotPtr) — LOCAL (drops a reference). */
  virDomainSnapshotFree: NativeFn<[Ptr], number>;
  /**
   * int virDomainBlockCommit(virDomainPtr, const char *disk, const char *base,
   *                          const char *top, unsigned long bandwidth, unsigned int flags).
   */
  virDomainBlockCommit: NativeFn<[Ptr, string, CStr, CStr, number, number], number>;
  /**
   * int virDomainGetBlockJobInfo(virDomainPtr, const char *disk, virDomainBlockJobInfoPtr info,
   *                              unsigned int flags) — 0 no job, 1 job filled in, -1 error.
   */
  virDomainGetBlockJobInfo: NativeFn<[Ptr, string, Ptr, number], number>;
  /** int virDomainBlockJobAbort(virDomainPtr, const char *disk, unsigned int flags). */
  virDomainBlockJobAbort: NativeFn<[Ptr, string, number], number>;
  /**
   * int virDomainBlockPull(virDomainPtr, const char *disk, unsigned long bandwidth,
   *                        unsigned int flags) — starts copying the backing chain into the
   * active layer; the backing is dropped when the job completes. With flags 0 the
   * bandwidth is in MiB/s (VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES would make it bytes/s).
   */
  virDomainBlockPull: NativeFn<[Ptr, string, number, number], number>;

  // --- backup jobs and checkpoints (BLOCKING unless noted) --------------------------------
  /** char *virConnectGetDomainCapabilities(conn, emulatorbin, arch, machine, virttype, flags) — caller frees. */
  virConnectGetDomainCapabilities: NativeFn<[Ptr, CStr, CStr, CStr, CStr, number], Ptr>;
  /** int virDomainBackupBegin(virDomainPtr, const char *backupXML, const char *checkpointXML, unsigned int flags). */
  virDomainBackupBegin: NativeFn<[Ptr, string, CStr, number], number>;
  /** char *virDomainBackupGetXMLDesc(virDomainPtr, unsigned int flags) — caller frees. */
  virDomainBackupGetXMLDesc: NativeFn<[Ptr, number], Ptr>;
  /** int virDomainAbortJob(virDomainPtr) — aborts the domain's current job (a backup, here). */
  virDomainAbortJob: NativeFn<[Ptr], number>;
  /**
   * int virDomainGetJobStats(virDomainPtr, int *type, virTypedParameterPtr *params,
   *                          int *nparams, unsigned int flags) — the caller frees params
   * with virTypedParamsFree.
   */
  virDomainGetJobStats: NativeFn<[Ptr, Ptr, Ptr, Ptr, number], number>;
  /** void virTypedParamsFree(virTypedParameterPtr params, int nparams) — LOCAL. */
  virTypedParamsFree: NativeFn<[Ptr, number], void>;
  /** virDomainCheckpointPtr virDomainCheckpointCreateXML(virDomainPtr, const char *xml, unsigned int flags). */
  virDomainCheckpointCreateXML: NativeFn<[Ptr, string, number], Ptr>;
  /** virDomainCheckpointPtr virDomainCheckpointLookupByName(virDomainPtr, const char *name, unsigned int flags). */
  virDomainCheckpointLookupByName: NativeFn<[Ptr, string, number], Ptr>;
  /** char *virDomainCheckpointGetXMLDesc(virDomainCheckpointPtr, unsigned int flags) — caller frees. */
  virDomainCheckpointGetXMLDesc: NativeFn<[Ptr, number], Ptr>;
  /** int virDomainCheckpointDelete(virDomainCheckpointPtr, unsigned int flags). */
  virDomainCheckpointDelete: NativeFn<[Ptr, number], number>;
  /** int virDomainListAllCheckpoints(virDomainPtr, virDomainCheckpointPtr **checkpoints, unsigned int flags). */
  virDomainListAllCheckpoints: NativeFn<[Ptr, Ptr, number], number>;
  /** const char *virDomainCheckpointGetName(virDomainCheckpointPtr) — LOCAL, owned by the checkpoint object. */
  virDomainCheckpointGetName: NativeFn<[Ptr], Ptr>;
  /** int virDomainCheckpointFree(virDomainCheckpointPtr) — LOCAL (drops a reference). */
  virDomainCheckpointFree: NativeFn<[Ptr], number>;
}

export interface LibcBindings {
  /** void free(void *) — for memory libvirt hands over to the caller. */
  free: NativeFn<[Ptr], void>;
}

export const LIBVIRT_SONAME = 'libvirt.so.0';
export const LIBC_SONAME = 'libc.so.6';

const LIBVIRT_DEFINITIONS = {
  virInitialize: ['int', []],
  virSetErrorFunc: ['void', ['pointer', 'pointer']],
  virGetLastError: ['pointer', []],
  virResetLastError: ['void', []],
  virConnGetLastError: ['pointer', ['pointer']],
  virConnResetLastError: ['void', ['pointer']],

  virConnectOpen: ['pointer', ['string']],
  virConnectClose: ['int', ['pointer']],
  virConnectIsAlive: ['int', ['pointer']],
  virConnectGetLibVersion: ['int', ['pointer', 'pointer']],
  virConnectListAllDomains: ['int', ['pointer', 'pointer', 'uint']],

  virDomainLookupByName: ['pointer', ['pointer', 'string']],
  virDomainLookupByUUIDString: ['pointer', ['pointer', 'string']],
  virDomainDefineXMLFlags: ['pointer', ['pointer', 'string', 'uint']],
  virDomainFree: ['int', ['pointer']],
  virDomainGetName: ['pointer', ['pointer']],
  virDomainGetUUIDString: ['int', ['pointer', 'pointer']],

  virDomainGetXMLDesc: ['pointer', ['pointer', 'uint']],
  virDomainGetState: ['int', ['pointer', 'pointer', 'pointer', 'uint']],
  virDomainIsActive: ['int', ['pointer']],
  virDomainSuspend: ['int', ['pointer']],
  virDomainResume: ['int', ['pointer']],
  virDomainCreate: ['int', ['pointer']],
  virDomainShutdown: ['int', ['pointer']],
  virDomainDestroy: ['int', ['pointer']],
  virDomainUndefineFlags: ['int', ['pointer', 'uint']],
  virDomainAgentSetResponseTimeout: ['int', ['pointer', 'int', 'uint']],
  virDomainFSFreeze: ['int', ['pointer', 'pointer', 'uint', 'uint']],
  virDomainFSThaw: ['int', ['pointer', 'pointer', 'uint', 'uint']],
  virDomainSnapshotCreateXML: ['pointer', ['pointer', 'string', 'uint']],
  virDomainSnapshotGetName: ['pointer', ['pointer']],
  virDomainSnapshotFree: ['int', ['pointer']],
  virDomainBlockCommit: ['int', ['pointer', 'string', 'string', 'string', 'ulong', 'uint']],
  virDomainGetBlockJobInfo: ['int', ['pointer', 'string', 'pointer', 'uint']],
  virDomainBlockJobAbort: ['int', ['pointer', 'string', 'uint']],
  virDomainBlockPull: ['int', ['pointer', 'string', 'ulong', 'uint']],

  virConnectGetDomainCapabilities: ['pointer', ['pointer', 'string', 'string', 'string', 'string', 'uint']],
  virDomainBackupBegin: ['int', ['pointer', 'string', 'string', 'uint']],
  virDomainBackupGetXMLDesc: ['pointer', ['pointer', 'uint']],
  virDomainAbortJob: ['int', ['pointer']],
  virDomainGetJobStats: ['int', ['pointer', 'pointer', 'pointer', 'pointer', 'uint']],
  virTypedParamsFree: ['void', ['pointer', 'int']],
  virDomainCheckpointCreateXML: ['pointer', ['pointer', 'string', 'uint']],
  virDomainCheckpointLookupByName: ['pointer', ['pointer', 'string', 'uint']],
  virDomainCheckpointGetXMLDesc: ['pointer', ['pointer', 'uint']],
  virDomainCheckpointDelete: ['int', ['pointer', 'uint']],
  virDomainListAllCheckpoints: ['int', ['pointer', 'pointer', 'uint']],
  virDomainCheckpointGetName: ['pointer', ['pointer']],
  virDomainCheckpointFree: ['int', ['pointer']],
} as const;

type FfiDefinitions = Record<string, [string, string[]]>;

/**
 * The libraries are bound on first use (not at import), so modules that only need the
 * error classes or constants can be imported where libvirt0 is not installed.
 */
function lazyLibrary<T extends object>(soname: string, defs: FfiDefinitions): T {
  let bound: T | undefined;
  const load = (): T => (bound ??= ffi.Library(soname, defs) as unknown as T);
  return new Proxy({} as T, {
    get: (_target, prop) => Reflect.get(load(), prop),
    has: (_target, prop) => Reflect.has(load(), prop),
  });
}

export const libvirt: LibvirtBindings = lazyLibrary<LibvirtBindings>(
  LIBVIRT_SONAME,
  LIBVIRT_DEFINITIONS as unknown as FfiDefinitions,
);

export const libc: LibcBindings = lazyLibrary<LibcBindings>(LIBC_SONAME, {
  free: ['void', ['pointer']],
});

/**
 * Address of libvirt's own `void virResetError(virErrorPtr err)`, used as the global
 * error handler (see installQuietErrorHandler in native/errors.ts).
 */
export function virResetErrorAddress(): Ptr {
  return new ffi.DynamicLibrary(LIBVIRT_SONAME).get('virResetError');
}

/** C NULL. */
export const NULL: Ptr = ref.NULL;

// ======================================================================================
// Constants (libvirt 9.0 headers). Only what the adapter uses, each with its C name.
// ======================================================================================

/** VIR_UUID_STRING_BUFLEN: 36 characters + NUL. */
export const VIR_UUID_STRING_BUFLEN = 37;

/** struct _virError field offsets on LP64 (int code; int domain; char *message; int level; ...). */
export const VIR_ERROR_OFFSET_CODE = 0;
export const VIR_ERROR_OFFSET_DOMAIN = 4;
export const VIR_ERROR_OFFSET_MESSAGE = 8;
export const VIR_ERROR_OFFSET_LEVEL = 16;
/** sizeof(virError) on LP64: 4+4+8+4(+4 pad)+8+8+8+8+8+4+4+8. */
export const VIR_ERROR_SIZE = 80;

/**
 * struct _virDomainBlockJobInfo on LP64:
 *   int type;                 offset 0  (+4 bytes padding)
 *   unsigned long bandwidth;  offset 8
 *   unsigned long long cur;   offset 16
 *   unsigned long long end;   offset 24   => sizeof 32
 */
export const BLOCK_JOB_INFO_SIZE = 32;
export const BLOCK_JOB_INFO_OFFSET_TYPE = 0;
export const BLOCK_JOB_INFO_OFFSET_BANDWIDTH = 8;
export const BLOCK_JOB_INFO_OFFSET_CUR = 16;
export const BLOCK_JOB_INFO_OFFSET_END = 24;

/** virDomainXMLFlags */
export const VIR_DOMAIN_XML_SECURE = 1 << 0; // include passwords etc.
export const VIR_DOMAIN_XML_INACTIVE = 1 << 1; // the persistent (next boot) definition

/** virDomainDefineFlags */
export const VIR_DOMAIN_DEFINE_VALIDATE = 1 << 0; // validate the XML against the schema

/** virDomainState */
export const VIR_DOMAIN_NOSTATE = 0;
export const VIR_DOMAIN_RUNNING = 1;
export const VIR_DOMAIN_BLOCKED = 2;
export const VIR_DOMAIN_PAUSED = 3;
export const VIR_DOMAIN_SHUTDOWN = 4; // being shut down
export const VIR_DOMAIN_SHUTOFF = 5;
export const VIR_DOMAIN_CRASHED = 6;
export const VIR_DOMAIN_PMSUSPENDED = 7; // suspended by guest power management

/** virDomainUndefineFlagsValues */
export const VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1 << 0; // also remove a managed-save image
export const VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 1 << 1; // also drop snapshot metadata
export const VIR_DOMAIN_UNDEFINE_NVRAM = 1 << 2; // also delete the NVRAM file
export const VIR_DOMAIN_UNDEFINE_KEEP_NVRAM = 1 << 3; // keep the NVRAM file
export const VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA = 1 << 4; // also drop checkpoint metadata

/** virConnectListAllDomainsFlags: 0 means "all". */
export const VIR_CONNECT_LIST_DOMAINS_ALL = 0;

/** virDomainAgentResponseTimeoutValues (seconds otherwise). */
export const VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK = -2; // wait forever
export const VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT = -1; // libvirt's default (5 s for sync)
export const VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_NOWAIT = 0; // do not wait at all

/** virDomainSnapshotCreateFlags */
export const VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA = 1 << 2; // = 4: libvirt keeps no snapshot object
export const VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY = 1 << 4; // = 16: external disk snapshot, no memory
export const VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT = 1 << 5; // = 32: overlay files already exist
export const VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE = 1 << 6; // = 64: freeze/thaw via guest agent
export const VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC = 1 << 7; // = 128: all disks or none

/** virDomainBlockCommitFlags */
export const VIR_DOMAIN_BLOCK_COMMIT_SHALLOW = 1 << 0; // NULL base = immediate backing file of top
export const VIR_DOMAIN_BLOCK_COMMIT_DELETE = 1 << 1; // delete committed files (unsupported by qemu driver)
export const VIR_DOMAIN_BLOCK_COMMIT_ACTIVE = 1 << 2; // = 4: commit the active layer (two-phase, needs pivot)
export const VIR_DOMAIN_BLOCK_COMMIT_RELATIVE = 1 << 3; // keep relative backing names
/** = 16 (NOT 64): the bandwidth argument is in bytes/s instead of MiB/s. */
export const VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES = 1 << 4;

/** virDomainBlockJobInfoFlags */
export const VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES = 1 << 0; // report bandwidth in bytes/s

/** virDomainBlockJobAbortFlags */
export const VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC = 1 << 0; // return before the job has ended
export const VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT = 1 << 1; // = 2: switch to the new image (copy / active commit)

/** virDomainBlockJobType */
export const VIR_DOMAIN_BLOCK_JOB_TYPE_UNKNOWN = 0;
export const VIR_DOMAIN_BLOCK_JOB_TYPE_PULL = 1;
export const VIR_DOMAIN_BLOCK_JOB_TYPE_COPY = 2;
export const VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT = 3;
export const VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT = 4;
export const VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP = 5;

/**
 * struct _virTypedParameter on LP64:
 *   char field[80];   offset 0
 *   int type;         offset 80 (+4 bytes padding)
 *   union value;      offset 88 (8 bytes: int, uint, llong, ullong, double, char, char *)
 */
export const TYPED_PARAM_SIZE = 96;
export const TYPED_PARAM_FIELD_LENGTH = 80;
export const TYPED_PARAM_OFFSET_TYPE = 80;
export const TYPED_PARAM_OFFSET_VALUE = 88;

/** virTypedParameterType */
export const VIR_TYPED_PARAM_INT = 1;
export const VIR_TYPED_PARAM_UINT = 2;
export const VIR_TYPED_PARAM_LLONG = 3;
export const VIR_TYPED_PARAM_ULLONG = 4;
export const VIR_TYPED_PARAM_DOUBLE = 5;
export const VIR_TYPED_PARAM_BOOLEAN = 6;
export const VIR_TYPED_PARAM_STRING = 7;

/** virDomainJobType */
export const VIR_DOMAIN_JOB_NONE = 0;
export const VIR_DOMAIN_JOB_BOUNDED = 1;
export const VIR_DOMAIN_JOB_UNBOUNDED = 2;
export const VIR_DOMAIN_JOB_COMPLETED = 3; // finished, not cleaned up
export const VIR_DOMAIN_JOB_FAILED = 4;
export const VIR_DOMAIN_JOB_CANCELLED = 5;

/** virDomainGetJobStatsFlags */
export const VIR_DOMAIN_JOB_STATS_COMPLETED = 1 << 0; // the stats of the job that just ended
export const VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED = 1 << 1; // leave them for the next caller

/** virDomainBackupBeginFlags */
export const VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL = 1 << 0; // the target files exist: libvirt creates none

/** virDomainJobOperation: the `operation` job stats field. */
export const VIR_DOMAIN_JOB_OPERATION_BACKUP = 9;

/** virDomainCheckpointCreateFlags */
export const VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE = 1 << 0; // restore metadata; the bitmap must exist
export const VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE = 1 << 2; // and check the bitmap is usable

/** virDomainCheckpointXMLFlags */
export const VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN = 1 << 1; // leave out the <domain> copy

/** virDomainCheckpointDeleteFlags */
export const VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY = 1 << 1; // keep the bitmaps in the images
