/**
 * Typed async adapter over libvirt (via ffi). See native/README.md for the ownership and
 * threading rules. Import from here, not from the individual files.
 */
export { Connection, looksLikeUuid } from './connection.js';
export type { DefineOptions, OpenOptions } from './connection.js';
export { FIRST_RETRY_MS, LONGEST_RETRY_MS, REPEATABLE_FUNCTIONS, retryWhileUnreachable } from './reconnect.js';
export { Domain } from './domain.js';
export type {
  AbortBlockJobOptions,
  BlockCommitOptions,
  BlockPullOptions,
  BlockJobInfo,
  BlockJobKind,
  DomainState,
  DomainStateInfo,
  GetXmlOptions,
  SnapshotFlags,
  UndefineOptions,
} from './domain.js';
export { abortJob, backupBegin, backupXml, jobStats } from './backup.js';
export type { BackupBeginOptions, JobKind, JobStats } from './backup.js';
export { deleteCheckpoint, getCheckpointXml, listCheckpoints, redefineCheckpoint } from './checkpoint.js';
export type { DeleteCheckpointOptions, RedefineOptions } from './checkpoint.js';
export type { TypedParamValue } from './typed-params.js';
export {
  abortableSleep,
  commitActiveWithPivot,
  commitIntermediate,
  FIRST_POLL_MS,
  followPull,
  pullBacking,
  waitForBlockJob,
} from './blockjob.js';
export type { ActiveCommitOptions, CommitOptions, PullOptions, PullOutcome, WaitForBlockJobOptions } from './blockjob.js';
export { diskHasBacking } from './disk-backing.js';
export {
  BlockJobError,
  isAgentUnavailable,
  isConnectionLost,
  isLibvirtError,
  isNoCheckpoint,
  isNoDomain,
  isOperationInvalid,
  isUnsupported,
  LibvirtError,
  VIR_ERR_AGENT_UNRESPONSIVE,
  VIR_ERR_AGENT_UNSYNCED,
  VIR_ERR_ARGUMENT_UNSUPPORTED,
  VIR_ERR_AUTH_FAILED,
  VIR_ERR_BLOCK_COPY_ACTIVE,
  VIR_ERR_CHECKPOINT_INCONSISTENT,
  VIR_ERR_INVALID_DOMAIN_CHECKPOINT,
  VIR_ERR_NO_DOMAIN_BACKUP,
  VIR_ERR_NO_DOMAIN_CHECKPOINT,
  VIR_ERR_DOM_EXIST,
  VIR_ERR_INTERNAL_ERROR,
  VIR_ERR_INVALID_ARG,
  VIR_ERR_INVALID_CONN,
  VIR_ERR_NO_CONNECT,
  VIR_ERR_NO_DOMAIN,
  VIR_ERR_NO_DOMAIN_SNAPSHOT,
  VIR_ERR_NO_SUPPORT,
  VIR_ERR_OK,
  VIR_ERR_OPERATION_ABORTED,
  VIR_ERR_OPERATION_FAILED,
  VIR_ERR_OPERATION_INVALID,
  VIR_ERR_OPERATION_TIMEOUT,
  VIR_ERR_OPERATION_UNSUPPORTED,
  VIR_ERR_RESOURCE_BUSY,
  VIR_ERR_RPC,
  VIR_ERR_SYSTEM_ERROR,
  VIR_FROM_DOMAIN,
  VIR_FROM_NONE,
  VIR_FROM_QEMU,
  VIR_FROM_REMOTE,
  VIR_FROM_RPC,
  VIR_FROM_TEST,
} from './errors.js';
export {
  VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK,
  VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT,
  VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_NOWAIT,
  VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT,
  VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT,
} from './libvirt-ffi.js';
