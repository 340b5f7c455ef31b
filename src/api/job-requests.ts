import type { BackupRequest } from '../backup/request.js';
import { InvalidArgument } from '../errors.js';
import type { RestoreRequest } from '../restore/request.js';
import { quote } from '../util/clip.js';
import { isBackupId } from '../util/ids.js';
import { ArgReader, checkDomainName } from './args.js';

/**
 * The arguments of each job method, read once into types. Every job method takes the
 * domain (a name or UUID) and `wait`; a backup id must have the agent's id format before
 * it is looked up, so nothing else ever reaches a path.
 */
export interface JobRequest<T> {
  domain: string;
  wait: boolean;
  request: T;
}

export function readBackupArgs(args: Record<string, unknown>): JobRequest<BackupRequest> {
  return readJobArgs('backup', args, (read) => {
    const request: BackupRequest = {
      mode: read.oneOf('mode', ['auto', 'full', 'incremental'] as const, 'auto'),
      quiesce: read.oneOf('quiesce', ['auto', 'agent', 'suspend', 'none'] as const, 'auto'),
      // The protocol's default: a caller that names no kind takes part in the domain's chain.
      kind: read.oneOf('kind', ['scheduled', 'manual'] as const, 'scheduled'),
      engine: read.optionalOneOf('engine', ['auto', 'checkpoint', 'snapshot'] as const),
      excludeDisks: read.stringList('exclude_disks'),
    };
    if (request.kind === 'manual' && request.mode === 'incremental') {
      throw new InvalidArgument('backup(): a manual backup is a self-contained full in the manual tier; mode "incremental" is for kind "scheduled"');
    }
    return request;
  });
}

export function readRestoreArgs(args: Record<string, unknown>): JobRequest<RestoreRequest> {
  return readJobArgs('restore', args, (read) => {
    const backupId = readBackupId('restore', read);
    const target = read.oneOf('target', ['replace', 'new'] as const, 'replace');
    const newName = read.optionalString('new_name');
    const instant = read.boolean('instant', false);
    const resume = read.boolean('resume', false);
    const definitionFrom = read.optionalString('definition_from');
    if (target === 'new' && newName === null) throw new InvalidArgument('restore(): target "new" needs new_name');
    if (target === 'replace' && newName !== null) throw new InvalidArgument('restore(): new_name is only for target "new"');
    if (resume && !instant) throw new InvalidArgument('restore(): resume=true finishes an instant restore; pass instant=true');
    return {
      backupId,
      target,
      newName: newName === null ? null : checkDomainName('restore', newName, 'new_name'),
      instant,
      resume,
      definitionFrom: definitionFrom === null ? null : checkBackupId('restore', definitionFrom),
    };
  });
}

export function readVerifyArgs(args: Record<string, unknown>): JobRequest<{ backupId: string | null }> {
  return readJobArgs('verify', args, (read) => {
    const backupId = read.optionalString('backup_id');
    return { backupId: backupId === null ? null : checkBackupId('verify', backupId) };
  });
}

export function readDeleteArgs(args: Record<string, unknown>): JobRequest<{ backupId: string }> {
  return readJobArgs('delete_backup', args, (read) => ({ backupId: readBackupId('delete_backup', read) }));
}

/** `backup_id` null: the newest point on this DR node. */
export interface FailoverArgs {
  backupId: string | null;
  force: boolean;
}

export function readFailoverArgs(args: Record<string, unknown>): JobRequest<FailoverArgs> {
  return readJobArgs('failover', args, (read) => {
    const backupId = read.optionalString('backup_id');
    return { backupId: backupId === null ? null : checkBackupId('failover', backupId), force: read.boolean('force', false) };
  });
}

export function readFailbackArgs(args: Record<string, unknown>): JobRequest<Record<string, never>> {
  return readJobArgs('failback', args, () => ({}));
}

function readJobArgs<T>(method: string, args: Record<string, unknown>, readRequest: (read: ArgReader) => T): JobRequest<T> {
  const read = new ArgReader(method, args);
  const domain = checkDomainName(method, read.string('domain'));
  const request = readRequest(read);
  const wait = read.boolean('wait', false);
  read.done();
  return { domain, wait, request };
}

function readBackupId(method: string, read: ArgReader): string {
  return checkBackupId(method, read.string('backup_id'));
}

export function checkBackupId(method: string, value: string): string {
  if (!isBackupId(value)) throw new InvalidArgument(`${method}(): backup_id ${quote(value)} is not a backup id`);
  return value;
}
