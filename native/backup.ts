/**
 * libvirt's backup API on a Domain: start a push-mode backup job (optionally creating a
 * checkpoint at the same instant), read its XML and statistics, abort it. libvirt is
 * never asked to block until a job ends: callers poll jobStats (see waitForBackupJob).
 */
import ref from '@2060.io/ref-napi';
import { takeCString } from './call.js';
import type { Domain } from './domain.js';
import {
  libvirt,
  VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL,
  VIR_DOMAIN_JOB_BOUNDED,
  VIR_DOMAIN_JOB_CANCELLED,
  VIR_DOMAIN_JOB_COMPLETED,
  VIR_DOMAIN_JOB_FAILED,
  VIR_DOMAIN_JOB_NONE,
  VIR_DOMAIN_JOB_STATS_COMPLETED,
  VIR_DOMAIN_JOB_UNBOUNDED,
} from './libvirt-ffi.js';
import { readTypedParams, type TypedParamValue } from './typed-params.js';

export type JobKind = 'none' | 'bounded' | 'unbounded' | 'completed' | 'failed' | 'cancelled' | 'unknown';

const JOB_KINDS: Readonly<Record<number, JobKind>> = {
  [VIR_DOMAIN_JOB_NONE]: 'none',
  [VIR_DOMAIN_JOB_BOUNDED]: 'bounded',
  [VIR_DOMAIN_JOB_UNBOUNDED]: 'unbounded',
  [VIR_DOMAIN_JOB_COMPLETED]: 'completed',
  [VIR_DOMAIN_JOB_FAILED]: 'failed',
  [VIR_DOMAIN_JOB_CANCELLED]: 'cancelled',
};

/** virDomainGetJobStats: the job's kind and its typed fields (`operation`, `disk_total`, `errmsg`, …). */
export interface JobStats {
  kind: JobKind;
  fields: Record<string, TypedParamValue>;
}

export interface BackupBeginOptions {
  /**
   * VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL: the push targets exist already (empty images
   * of the disks' size), so libvirt does not create them inside the call.
   */
  reuseExternal: boolean;
}

/**
 * Starts a backup job (virDomainBackupBegin). With `checkpointXml` libvirt also creates
 * that checkpoint, with its dirty bitmaps, at the backup's point in time. Returns once the
 * job runs: the point in time is fixed then, so a guest frozen for it may thaw.
 */
export function backupBegin(
  domain: Domain,
  backupXml: string,
  checkpointXml: string | null,
  opts: BackupBeginOptions,
): Promise<void> {
  const flags = opts.reuseExternal ? VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL : 0;
  return domain.connection.withDomain(domain.uuid, async (ctx, dom) => {
    await ctx.int('virDomainBackupBegin', dom, backupXml, checkpointXml, flags);
  });
}

/** The running backup job's XML (virDomainBackupGetXMLDesc); fails when there is none. */
export function backupXml(domain: Domain): Promise<string> {
  return domain.connection.withDomain(domain.uuid, async (ctx, dom) =>
    takeCString(await ctx.ptr('virDomainBackupGetXMLDesc', dom, 0)),
  );
}

/** Aborts the domain's current job (virDomainAbortJob). */
export function abortJob(domain: Domain): Promise<void> {
  return domain.connection.withDomain(domain.uuid, async (ctx, dom) => {
    await ctx.int('virDomainAbortJob', dom);
  });
}

/**
 * The domain's current job, or with `completed` the job that ended last
 * (VIR_DOMAIN_JOB_STATS_COMPLETED): kind 'completed', 'failed' or 'cancelled'.
 */
export function jobStats(domain: Domain, opts: { completed?: boolean } = {}): Promise<JobStats> {
  const flags = opts.completed ? VIR_DOMAIN_JOB_STATS_COMPLETED : 0;
  return domain.connection.withDomain(domain.uuid, async (ctx, dom) => {
    const type = Buffer.alloc(4);
    const params = Buffer.alloc(ref.sizeof.pointer);
    const count = Buffer.alloc(4);
    await ctx.int('virDomainGetJobStats', dom, type, params, count, flags);
    const array = ref.readPointer(params, 0, 0);
    const n = count.readInt32LE(0);
    try {
      return { kind: JOB_KINDS[type.readInt32LE(0)] ?? 'unknown', fields: readTypedParams(array, n) };
    } finally {
      if (!ref.isNull(array)) libvirt.virTypedParamsFree(array, n);
    }
  });
}
