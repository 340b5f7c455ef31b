import path from 'node:path';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import type { AgentProcess } from './agent-process.js';
import type { JobView } from './backup-api.js';
import { destroyTestGuest, domainExists, virsh } from './guest.js';

/** The result of a restore job, as tests read it. */
export interface RestoreView {
  backup_id: string;
  target: string;
  instant: boolean;
  domain: string;
  domain_uuid: string;
  disks: { target: string; file: string; virtual_size: number }[];
  time_to_running_ms: number;
  duration_ms: number;
}

/** A job method with wait=true: the finished job, whatever its outcome; `server`: one host's queue. */
export function finishedJob<R>(
  client: RpcClient,
  method: string,
  args: Record<string, unknown>,
  server?: string,
): Promise<Omit<JobView, 'result'> & { result: R | null }> {
  return client.call(method, { wait: true, ...args }, { timeoutMs: 600_000, ...(server ? { server } : {}) });
}

/**
 * A job run by the CLI as an operator would (`virt-dr --host HOST ARGS... --wait --json`):
 * the finished job it prints, whatever its outcome (a failed job also exits 1).
 */
export async function finishedJobByCli<R>(agent: AgentProcess, args: readonly string[]): Promise<Omit<JobView, 'result'> & { result: R | null }> {
  const run = await agent.cliRun(['--host', agent.host, ...args, '--wait', '--json']);
  if (run.code > 1 || !run.stdout.trim()) throw new Error(`virt-dr ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Omit<JobView, 'result'> & { result: R | null };
}

/** A job started with wait=false, once it has ended: get_job polled every half second on `server`'s queue. */
export async function endedJob<R>(client: RpcClient, jobId: string, server: string, timeoutMs = 600_000): Promise<Omit<JobView, 'result'> & { result: R | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.call<Omit<JobView, 'result'> & { result: R | null }>('get_job', { job_id: jobId }, { server });
    if (job.state !== 'queued' && job.state !== 'running') return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** restore(wait=true) that must succeed: its result, or an error naming why it did not. */
export async function restored(client: RpcClient, domain: string, backupId: string, args: Record<string, unknown> = {}): Promise<RestoreView> {
  const job = await finishedJob<RestoreView>(client, 'restore', { domain, backup_id: backupId, ...args });
  if (job.state !== 'succeeded' || !job.result) throw new Error(`restore of ${domain} ended ${job.state}: ${job.error?.class}: ${job.error?.message}`);
  return job.result;
}

/** The MAC addresses of a domain's interfaces. */
export async function macsOf(domain: string): Promise<string[]> {
  return [...(await virsh(['dumpxml', domain])).matchAll(/<mac address='([^']+)'/g)].map((m) => m[1]!);
}

/** Removes a domain a restore made as new, and its folder of disks. */
export async function removeRestoredCopy(name: string, result: RestoreView | null): Promise<void> {
  const folder = result?.disks[0] ? path.dirname(result.disks[0].file) : undefined;
  if ((await domainExists(name)) || folder) await destroyTestGuest(name, folder ? { workDir: folder } : {});
}
