import path from 'node:path';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { parseDomainDisks } from '../../src/libvirt/domain-xml.js';
import { virsh } from './guest.js';

/** The protocol's job object, as tests read it. */
export interface JobView {
  job_id: string;
  state: string;
  result: PointView | null;
  error: { class: string; message: string } | null;
  started_at: string | null;
  finished_at: string | null;
}

/** The protocol's backup point, as tests read it. */
export interface PointView {
  backup_id: string;
  mode: string;
  engine: string;
  reason: string | null;
  parent: string | null;
  created_at: string;
  quiesce: string;
  freeze_ms: number;
  bytes: number;
  domain_uuid: string;
  disks: { target: string; file: string; size: number; sha256: string; virtual_size: number }[];
}

/** backup(wait=true): the finished job, whatever its outcome. */
export function backupJob(client: RpcClient, domain: string, args: Record<string, unknown> = {}): Promise<JobView> {
  return client.call<JobView>('backup', { domain, wait: true, ...args }, { timeoutMs: 300_000 });
}

/** backup(wait=true) that must succeed: its point, or an error naming why it did not. */
export async function backupPoint(client: RpcClient, domain: string, args: Record<string, unknown> = {}): Promise<PointView> {
  const job = await backupJob(client, domain, args);
  if (job.state !== 'succeeded' || !job.result) {
    throw new Error(`backup of ${domain} ended ${job.state}: ${job.error?.class}: ${job.error?.message}`);
  }
  return job.result;
}

/** A disk's files from the active layer down, read from the live domain XML. */
export async function diskChain(domain: string, target = 'vda'): Promise<(string | null)[]> {
  const disk = parseDomainDisks(await virsh(['dumpxml', domain])).find((d) => d.target === target);
  if (!disk) throw new Error(`${domain} has no disk ${target}`);
  return [disk.source.file, ...disk.backing.map((b) => b.file)];
}

/**
 * Whether libvirt runs a job for the domain (virsh domjobinfo). While a backup job is being
 * set up libvirt answers "backup job data missing": a job exists then too.
 */
export async function domainHasJob(domain: string): Promise<boolean> {
  try {
    return !/Job type:\s+None/.test(await virsh(['domjobinfo', domain]));
  } catch (err) {
    if (/backup job data missing/.test((err as Error).message)) return true;
    throw err;
  }
}

/** The file of a point's first disk in a repository. */
export function pointFile(repoPath: string, point: PointView): string {
  return path.join(repoPath, point.domain_uuid, point.backup_id, point.disks[0]!.file);
}
