import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notification, RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, diskChain, domainHasJob, type JobView, type PointView } from '../support/backup-api.js';
import { startGuestWithBallast, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess, waitForEvent } from '../support/agent-process.js';
import {
  agentCommand,
  domainState,
  ensureLibvirtd,
  guestWriteRandomFile,
  virsh,
  type TestGuest,
} from '../support/guest.js';
import { restartLibvirtd, type LibvirtdRestart } from '../support/libvirtd.js';

/**
 * libvirtd restarted (SIGKILL, down for a second, `libvirtd -d`) in the middle of a
 * backup: during the snapshot engine's copy, during its merge, and while QEMU writes a
 * checkpoint-engine push backup. The job's libvirt calls wait for the daemon and carry
 * on, so each job ends as it would have without the restart, and the host is left as
 * the engine promises: a base plus one agent overlay for the snapshot engine, the
 * domain's own disk with no checkpoint metadata for the checkpoint engine.
 *
 * Restarts the host's shared libvirtd: run only under `flock /tmp/virtdr-libvirtd.lock`.
 */

const GUEST = 'vdr-libvirtd-restart';
const WORK = '/var/lib/virt-dr-test/libvirtd-restart';
const BALLAST_MIB = 1024; // made on the host: copies and push backups of it last seconds
const BANDWIDTH = 64 << 20; // bytes/s for the snapshot engine's copy: the full lasts ~20 s
const agent = new AgentProcess('libvirtd-restart', WORK, { VIRT_DR_BACKUP_BANDWIDTH_BYTES_PER_S: String(BANDWIDTH) });
let guest: TestGuest;
let client: RpcClient;
let events: Notification[];

const backup = (args: Record<string, unknown>) => backupPoint(client, GUEST, args);

async function startBackup(args: Record<string, unknown>): Promise<string> {
  return (await client.call<{ job_id: string }>('backup', { domain: GUEST, wait: false, ...args })).job_id;
}

/** The job once it has finished (the end or error notification), as get_job reports it. */
async function finished(jobId: string): Promise<JobView> {
  await waitForEvent(
    events,
    (n) => (n.event_type === 'virt_dr.backup.end' || n.event_type === 'virt_dr.backup.error') && n.payload.job_id === jobId,
    300_000,
  );
  return client.call<JobView>('get_job', { job_id: jobId });
}

async function waitForPhase(jobId: string, phase: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await agent.journalPhase(jobId)) !== phase) {
    if (Date.now() > deadline) throw new Error(`job ${jobId} never reached its ${phase} phase`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Polls until the data disk has a block job (the merge), and returns how far it is. */
async function waitForBlockJob(): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const info = await virsh(['blockjob', GUEST, 'vda', '--info']);
    if (!/No current block job/.test(info)) return info;
    if (Date.now() > deadline) throw new Error('the merge never started');
  }
}

/** The agent's log lines of one job that say it waited for libvirt or repeated a repair. */
async function reconnectTrace(jobId: string): Promise<string[]> {
  const lines = (await readFile(agent.logPath, 'utf8')).split('\n').filter((l) => l.includes(jobId));
  return lines
    .map((l) => {
      try {
        return JSON.parse(l) as { msg: string; err?: string };
      } catch {
        return null;
      }
    })
    .filter((l) => l !== null && /could not reach|failed/.test(l.msg))
    .map((l) => `${l!.msg}${l!.err ? `: ${l!.err}` : ''}`);
}

function report(what: string, restart: LibvirtdRestart): void {
  console.log(`[libvirtd-restart] ${what}: libvirtd ${restart.killedPid} exited in ${restart.exitMs} ms, answered again after ${restart.outageMs} ms`);
}

async function agentFiles(): Promise<string[]> {
  return (await readdir(path.dirname(guest.dataDisk))).filter((f) => f.includes('.virtdr-'));
}

async function partialPoints(): Promise<string[]> {
  return (await readdir(path.join(agent.repoPath, guest.uuid))).filter((e) => e.startsWith('.partial-'));
}

/** Slows the domain's push backup inside QEMU (QMP block-job-set-speed), which libvirt does not offer. */
async function throttleBackupJob(bytesPerSecond: number): Promise<void> {
  const reply = JSON.parse(await virsh(['qemu-monitor-command', GUEST, '{"execute":"query-block-jobs"}'])) as {
    return: { device: string; type: string }[];
  };
  const backups = reply.return.filter((j) => j.type === 'backup');
  expect(backups.length).toBeGreaterThan(0);
  for (const { device } of backups) {
    const command = { execute: 'block-job-set-speed', arguments: { device, speed: bytesPerSecond } };
    await virsh(['qemu-monitor-command', GUEST, JSON.stringify(command)]);
  }
}

async function expectGuestUntouched(): Promise<void> {
  expect(await domainState(GUEST)).toBe('running');
  expect(await agentCommand<string>(GUEST, 'guest-fsfreeze-status')).toBe('thawed');
}

describe('libvirtd restarted in the middle of a backup', () => {
  beforeAll(async () => {
    ({ guest, client } = await startGuestWithBallast(agent, { name: GUEST, ballastMiB: BALLAST_MIB, spareMiB: 512 }));
    const seen: Notification[] = [];
    await client.watchNotifications((n) => seen.push(n));
    events = seen;
  });

  afterAll(async () => {
    await ensureLibvirtd(); // whatever failed, the shared daemon runs again
    await stopGuestAndAgent(agent, GUEST, client);
  });

  let full: PointView;

  it('snapshot engine: a restart during the copy; the job succeeds with a base plus one overlay', async () => {
    expect(await diskChain(GUEST)).toEqual([guest.dataDisk]);
    const jobId = await startBackup({ engine: 'snapshot' });
    const progress = await waitForEvent(
      events,
      (n) => n.event_type === 'virt_dr.backup.progress' && n.payload.job_id === jobId && Number(n.payload.bytes_done) > 0,
      120_000,
    );
    expect(Number(progress.payload.bytes_done)).toBeLessThan(Number(progress.payload.bytes_total));
    report(`restart during the copy (at ${progress.payload.bytes_done}/${progress.payload.bytes_total} bytes)`, await restartLibvirtd());

    const job = await finished(jobId);
    console.log(`[libvirtd-restart] copy: job ${job.state}; agent log: ${JSON.stringify(await reconnectTrace(jobId))}`);
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    full = job.result!;
    expect(full).toMatchObject({ engine: 'snapshot', mode: 'full' });

    const chain = await diskChain(GUEST);
    expect(chain).toHaveLength(2);
    expect(chain[0]).toContain(full.backup_id);
    expect(chain[1]).toBe(guest.dataDisk);
    expect(await agentFiles()).toEqual([path.basename(chain[0]!)]);
    expect(await partialPoints()).toEqual([]);
    await expectGuestUntouched();
  });

  it('snapshot engine: a restart while the block commit merges the frozen overlay; the incremental succeeds', async () => {
    // The copy of the incremental is not throttled: the merge follows at once.
    await agent.stop();
    await agent.start({ VIRT_DR_BACKUP_BANDWIDTH_BYTES_PER_S: '0' });
    await guestWriteRandomFile(GUEST, '/data/overlay.bin', 256 << 20);
    const frozen = (await diskChain(GUEST))[0]!;

    const jobId = await startBackup({ engine: 'snapshot' });
    await waitForPhase(jobId, 'committing');
    const commit = await waitForBlockJob();
    // libvirt's own speed limit (virDomainBlockJobSetSpeed) keeps the merge going through the outage.
    await virsh(['blockjob', GUEST, 'vda', '--bandwidth', '16']);
    report(`restart during the merge (block commit: ${commit || 'starting'})`, await restartLibvirtd());
    const afterRestart = await virsh(['blockjob', GUEST, 'vda', '--info']);

    const job = await finished(jobId);
    console.log(
      `[libvirtd-restart] merge: when libvirtd answered: ${afterRestart}; job ${job.state}; agent log: ${JSON.stringify(await reconnectTrace(jobId))}`,
    );
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(job.result).toMatchObject({ engine: 'snapshot', mode: 'incremental', parent: full.backup_id });

    const chain = await diskChain(GUEST);
    expect(chain).toEqual([expect.stringContaining(job.result!.backup_id), guest.dataDisk]);
    expect(chain).not.toContain(frozen);
    expect(await agentFiles()).toEqual([path.basename(chain[0]!)]);
    expect(await partialPoints()).toEqual([]);
    await expectGuestUntouched();
  });

  /** A full push backup with libvirtd restarted once libvirt runs it; `whileRunning` runs first. */
  async function pushWithRestart(what: string, whileRunning: () => Promise<void> = async () => {}): Promise<JobView> {
    const jobId = await startBackup({ engine: 'checkpoint', mode: 'full' });
    await waitForPhase(jobId, 'copying');
    const deadline = Date.now() + 60_000;
    while (!(await domainHasJob(GUEST))) {
      if (Date.now() > deadline) throw new Error('no backup job appeared in libvirt');
    }
    await whileRunning();
    report(what, await restartLibvirtd());
    const stillRunning = await domainHasJob(GUEST);
    const job = await finished(jobId);
    console.log(
      `[libvirtd-restart] ${what}: job still running when libvirtd answered: ${stillRunning}; ` +
        `agent job ${job.state}${job.error ? ` (${job.error.class}: ${job.error.message})` : ''}; agent log: ${JSON.stringify(await reconnectTrace(jobId))}`,
    );
    return job;
  }

  async function expectCheckpointEngineTidy(): Promise<void> {
    expect(await diskChain(GUEST)).toEqual([guest.dataDisk]);
    expect(await agentFiles()).toEqual([]);
    expect(await domainHasJob(GUEST)).toBe(false);
    expect(await virsh(['checkpoint-list', GUEST, '--name'])).toBe('');
    expect(await partialPoints()).toEqual([]);
    await expectGuestUntouched();
  }

  let pushed: PointView;

  it('checkpoint engine: QEMU finishes the push backup while libvirtd is down; libvirt records it and the job succeeds', async () => {
    const job = await pushWithRestart('restart during the push backup');
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    pushed = job.result!;
    expect(pushed).toMatchObject({ engine: 'checkpoint', mode: 'full' });
    // The snapshot engine's overlay was merged first; the domain runs on its own disk.
    await expectCheckpointEngineTidy();
  });

  it('checkpoint engine: a push backup still running when libvirtd is back is followed to its end', async () => {
    // QEMU's own speed limit keeps this job running through the outage (about 14 s).
    const job = await pushWithRestart('restart during a throttled push backup', () => throttleBackupJob(96 << 20));
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(job.result).toMatchObject({ engine: 'checkpoint', mode: 'full' });
    await expectCheckpointEngineTidy();

    const next = await backup({ engine: 'checkpoint' });
    expect(next).toMatchObject({ engine: 'checkpoint', mode: 'incremental', parent: job.result!.backup_id });
    expect(pushed.backup_id).not.toBe(next.parent);
  });
});
