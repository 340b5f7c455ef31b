import type { Notification, RpcClient } from '../src/bus/rpc-client.js';
import { backupJob } from '../test/support/backup-api.js';
import { guestWriteRandomFile } from '../test/support/guest.js';
import { replicatedAtMs, rpoFloorS } from './rpo.js';

/** One backup of the window, and when its point reached the DR target. */
export interface ReplicatedBackup {
  backupId: string;
  /** The point's `created_at`: the moment it holds. */
  createdMs: number;
  /** The job's end: the point is on the primary. */
  finishedMs: number;
  bytes: number;
  /** The `virt_dr.replicate.end` that brought it to the DR target. */
  replicatedMs: number;
}

export interface RpoRun {
  /** Once a second: the domain's `rpo_s` from list_backups, and the schedule's floor then. */
  samples: { atS: number; rpoS: number; floorS: number }[];
  backups: ReplicatedBackup[];
  /** The file the guest wrote last before the last backup: a failover must bring it. */
  lastFile: { path: string; sha256: string };
}

export interface RpoRunOptions {
  /** A client of the compute agent that hears its notifications (`events`). */
  client: RpcClient;
  events: readonly Notification[];
  /** The compute agent's host, whose queue list_backups goes to. */
  host: string;
  domain: string;
  /** The secondary target whose copies count. */
  target: string;
  intervalS: number;
  windowS: number;
  /** What the guest writes before each backup. */
  writeBytes: number;
  progress(message: string): void;
}

const sleepUntil = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms - Date.now())));

/**
 * A backup of a running guest every `intervalS` (kind scheduled, one after another) over
 * `windowS`, the guest writing a file before each, while list_backups is asked for the
 * domain's RPO once a second. A first full, made and copied before the window, keeps the
 * initial copy of the whole disk out of it. Returns once the last backup is on the target.
 */
export async function measureRpo(o: RpoRunOptions): Promise<RpoRun> {
  o.progress(`dr: a first full backup, copied to the target "${o.target}" before the window`);
  const first = await scheduledBackup(o);
  await replicated(o, first.backupId, first.createdMs);

  const count = Math.floor(o.windowS / o.intervalS);
  let lastFile = await writeBefore(o, 0);
  const t0 = Date.now();
  const ticks = Array.from({ length: count }, (_, i) => t0 + i * o.intervalS * 1000);
  o.progress(`dr: ${count} backups, one every ${o.intervalS} s, the RPO sampled once a second for ${o.windowS} s`);
  const halt = { halted: false };
  const sampling = sampleRpo(o, t0, ticks, halt);
  const made: Omit<ReplicatedBackup, 'replicatedMs'>[] = [];
  try {
    for (const [i, tick] of ticks.entries()) {
      await sleepUntil(tick);
      made.push(await scheduledBackup(o));
      if (i + 1 < count) lastFile = await writeBefore(o, i + 1);
    }
  } catch (err) {
    // The sampler ends before the error goes on.
    halt.halted = true;
    await sampling.catch(() => undefined);
    throw err;
  }
  const samples = await sampling;
  const backups: ReplicatedBackup[] = [];
  for (const backup of made) backups.push({ ...backup, replicatedMs: await replicated(o, backup.backupId, backup.createdMs) });
  return { samples, backups, lastFile };
}

async function scheduledBackup(o: RpoRunOptions): Promise<Omit<ReplicatedBackup, 'replicatedMs'>> {
  const job = await backupJob(o.client, o.domain, { kind: 'scheduled' });
  if (job.state !== 'succeeded' || !job.result || !job.finished_at) throw new Error(`scheduled backup of ${o.domain}: ${job.error?.class}: ${job.error?.message}`);
  return { backupId: job.result.backup_id, createdMs: Date.parse(job.result.created_at), finishedMs: Date.parse(job.finished_at), bytes: job.result.bytes };
}

async function writeBefore(o: RpoRunOptions, index: number): Promise<{ path: string; sha256: string }> {
  const path = `/data/rpo-${index}.bin`;
  return { path, sha256: await guestWriteRandomFile(o.domain, path, o.writeBytes) };
}

/** When the point reached the target, waiting up to 10 minutes for its copy. */
async function replicated(o: RpoRunOptions, backupId: string, createdMs: number): Promise<number> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const at = replicatedAtMs(o.events, backupId, o.target);
    if (at !== null) return at;
    if (Date.now() > deadline) throw new Error(`backup ${backupId} (made ${new Date(createdMs).toISOString()}) never reached target ${o.target}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * list_backups once a second from t0 to the window's end; a slot whose call would start
 * late is skipped rather than queued. Each sample is placed halfway between the call and
 * its reply, which is when the agent took its `now`, to within half the round trip.
 */
async function sampleRpo(o: RpoRunOptions, t0: number, ticks: number[], halt: { halted: boolean }): Promise<RpoRun['samples']> {
  const samples: RpoRun['samples'] = [];
  for (let slot = t0; slot < t0 + o.windowS * 1000 && !halt.halted; slot += 1000) {
    if (Date.now() > slot + 500) continue;
    await sleepUntil(slot);
    const sent = Date.now();
    const listed = await o.client.call<{ rpo_s: number | null }>('list_backups', { domain: o.domain }, { server: o.host });
    const atMs = (sent + Date.now()) / 2;
    if (listed.rpo_s === null) throw new Error(`list_backups gave no RPO for ${o.domain}, whose first full is on target ${o.target}`);
    samples.push({ atS: (atMs - t0) / 1000, rpoS: listed.rpo_s, floorS: rpoFloorS(ticks, atMs) });
  }
  return samples;
}
