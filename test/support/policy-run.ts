import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Notification, RpcClient } from '../../src/bus/rpc-client.js';
import type { JobView, PointView } from './backup-api.js';
import { guestExecOk } from './guest.js';

/**
 * What the policy tests read while a real agent runs a domain by its policy: the jobs it
 * ran, the points a file target's folder holds (read from the folder itself, not through
 * the agent), and the files the guest has in /data.
 */

/** A job as list_jobs shows it. */
export interface ListedJob<R = unknown> extends Omit<JobView, 'result'> {
  action: string;
  domain_uuid: string;
  created_at: string;
  result: R | null;
}

/** A point as list_backups shows it. */
export type ListedPoint = PointView & { kind: string; tier: string; targets: string[] };

/** The fields of a manifest.json the tests judge. */
export interface FolderPoint {
  backup_id: string;
  created_at: string;
  mode: string;
  parent: string | null;
  kind: string;
  tier: string;
}

export const durationMs = (job: Pick<JobView, 'started_at' | 'finished_at'>): number => Date.parse(job.finished_at!) - Date.parse(job.started_at!);

/** The domain's jobs of one action, oldest first. */
export async function jobsOf<R = unknown>(client: RpcClient, server: string, domainUuid: string, action: string): Promise<ListedJob<R>[]> {
  const { jobs } = await client.call<{ jobs: ListedJob<R>[] }>('list_jobs', {}, { server });
  return jobs.filter((j) => j.domain_uuid === domainUuid && j.action === action).sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
}

/** set_policy for one domain (null removes its layer); the resolved policy it answers. */
export function setDomainPolicy(client: RpcClient, server: string, domain: string, policy: object | null): Promise<Record<string, unknown>> {
  return client.call('set_policy', { domain, policy }, { server, timeoutMs: 20_000 });
}

/**
 * The published points of a domain in a file target's folder, oldest first: every
 * `<root>/<uuid>/<backup_id>/manifest.json`. Staging folders (dot names) are not points;
 * a folder without a manifest is not one either.
 */
export async function pointsInFolder(root: string, domainUuid: string): Promise<FolderPoint[]> {
  const dir = path.join(root, domainUuid);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const points: FolderPoint[] = [];
  for (const entry of entries.filter((e) => !e.startsWith('.'))) {
    let text: string;
    try {
      text = await readFile(path.join(dir, entry, 'manifest.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw err;
    }
    const { backup_id, created_at, mode, parent, kind, tier } = JSON.parse(text) as FolderPoint;
    points.push({ backup_id, created_at, mode, parent, kind, tier });
  }
  return points.sort((a, b) => (a.backup_id < b.backup_id ? -1 : a.backup_id > b.backup_id ? 1 : 0));
}

/** The guest's /data/*.bin files with their sha256, computed inside the guest. */
export async function guestBinFiles(domain: string): Promise<Record<string, string>> {
  const script = 'cd /data && for f in *.bin; do if [ -e "$f" ]; then sha256sum "$f"; fi; done';
  const { stdout } = await guestExecOk(domain, ['/bin/sh', '-c', script]);
  const files: Record<string, string> = {};
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [sha, name] = line.trim().split(/\s+/);
    files[name!] = sha!;
  }
  return files;
}

/**
 * The domain's n-th (1-based) successful backup job as `events` heard it; fails at once on
 * the domain's backup error, and after `timeoutMs`.
 */
export async function nthBackupEnd(events: Notification[], domainUuid: string, n: number, timeoutMs: number): Promise<ListedJob<ListedPoint>> {
  const deadline = Date.now() + timeoutMs;
  const ofDomain = (type: string) => events.filter((e) => e.event_type === type && e.payload['domain_uuid'] === domainUuid);
  for (;;) {
    const error = ofDomain('virt_dr.backup.error')[0];
    if (error) throw new Error(`a backup of the domain failed: ${JSON.stringify(error.payload['error'])}`);
    const ended = ofDomain('virt_dr.backup.end');
    if (ended.length >= n) return ended[n - 1]!.payload as unknown as ListedJob<ListedPoint>;
    if (Date.now() > deadline) throw new Error(`backup ${n} of the domain did not end within ${timeoutMs} ms (${ended.length} ended)`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
