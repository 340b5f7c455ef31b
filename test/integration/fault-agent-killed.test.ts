import { createHash } from 'node:crypto';
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notification, RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, diskChain, pointFile, type JobView, type PointView } from '../support/backup-api.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess, waitForEvent, SNAPSHOT_ENGINE } from '../support/agent-process.js';
import {
  agentCommand,
  domainState,
  guestWriteRandomFile,
  readFileFromQcow2,
  type TestGuest,
} from '../support/guest.js';

/**
 * Fault: the agent is SIGKILLed while it copies a backup. Nothing of the killed backup
 * may survive the restart: the guest runs and is thawed, the journal reports the job
 * failed (AgentRestarted), the repository holds no partial point and the disk chain is
 * back to what it was, so the next full and incremental backups work.
 */

const GUEST = 'vdr-fault-kill';
const BANDWIDTH = 2 << 20; // bytes/s: the copy takes several seconds
const agent = new AgentProcess('fault-kill', '/var/lib/virt-dr-test/fault-kill', SNAPSHOT_ENGINE);
let guest: TestGuest;
let client: RpcClient;
let events: Notification[];

const backup = (args: Record<string, unknown> = {}) => backupPoint(client, GUEST, args);
const chainOf = () => diskChain(GUEST);
const fileOf = (point: PointView) => pointFile(agent.repoPath, point);

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

describe('agent SIGKILLed in the middle of a backup copy', () => {
  let killedJobId: string;
  let chainBefore: (string | null)[];

  beforeAll(async () => {
    ({ guest, client } = await startGuestAndAgent(
      agent,
      { name: GUEST, dataDiskMiB: 256 },
      { VIRT_DR_BACKUP_BANDWIDTH_BYTES_PER_S: String(BANDWIDTH) },
    ));
    const seen: Notification[] = [];
    await client.watchNotifications((n) => seen.push(n));
    events = seen;
  });

  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  it('kills the agent while it copies; the guest is running and thawed', async () => {
    // Enough allocated data that the throttled copy lasts well beyond one progress report.
    await guestWriteRandomFile(GUEST, '/data/ballast.bin', 16 << 20);
    const size = (await stat(guest.dataDisk)).size;
    const copySeconds = size / BANDWIDTH;
    console.log(`[fault-kill] data disk file ${size} bytes: ~${copySeconds.toFixed(1)} s at ${BANDWIDTH} B/s`);
    expect(copySeconds).toBeGreaterThan(6);

    chainBefore = await chainOf();
    expect(chainBefore).toEqual([guest.dataDisk]);

    ({ job_id: killedJobId } = await client.call<{ job_id: string }>('backup', { domain: GUEST, wait: false }));
    // The first progress report with copied bytes: the copy is under way. (The job's
    // progress timer also reports 0/0 while it plans and snapshots; those do not count.)
    const progress = await waitForEvent(
      events,
      (n) =>
        n.event_type === 'virt_dr.backup.progress' &&
        n.payload.job_id === killedJobId &&
        Number(n.payload.bytes_done) > 0,
      60_000,
    );
    await agent.kill('SIGKILL');
    const done = Number(progress.payload.bytes_done);
    const total = Number(progress.payload.bytes_total);
    console.log(`[fault-kill] killed at ${done}/${total} bytes`);
    expect(done).toBeLessThan(total);
    expect(agent.running).toBe(false);
    // The killed copy left its staged point behind.
    const staged = await readdir(path.join(agent.repoPath, guest.uuid));
    expect(staged.filter((e) => e.startsWith('.partial-'))).toHaveLength(1);

    expect(await domainState(GUEST)).toBe('running');
    expect(await agentCommand<string>(GUEST, 'guest-fsfreeze-status')).toBe('thawed');
    // The snapshot was taken: the killed backup left its overlay on the host.
    const chain = await chainOf();
    expect(chain).toHaveLength(2);
    expect(chain[1]).toBe(guest.dataDisk);
  });

  let leftOverlay: string;

  it('on restart reports the job failed and restores the repository and the disk chain', async () => {
    leftOverlay = (await chainOf())[0]!;
    expect(leftOverlay).toMatch(/\.virtdr-.*\.qcow2$/);
    const t0 = Date.now();
    await agent.start({ VIRT_DR_BACKUP_BANDWIDTH_BYTES_PER_S: '0' });
    console.log(`[fault-kill] restart with recovery took ${Date.now() - t0} ms`);

    const error = await waitForEvent(
      events,
      (n) => n.event_type === 'virt_dr.backup.error' && n.payload.job_id === killedJobId,
      60_000,
    );
    expect(error.priority).toBe('ERROR');
    expect((error.payload.error as { class: string }).class).toBe('AgentRestarted');

    const job = await client.call<JobView>('get_job', { job_id: killedJobId });
    expect(job.state).toBe('failed');
    expect(job.error?.class).toBe('AgentRestarted');
    console.log(`[fault-kill] recovered job says: ${job.error?.message}`);

    const domainDir = path.join(agent.repoPath, guest.uuid);
    const entries = await readdir(domainDir).catch(() => [] as string[]);
    expect(entries.filter((e) => e.startsWith('.partial-'))).toEqual([]);
    for (const entry of entries) {
      expect(await exists(path.join(domainDir, entry, 'manifest.json')), `${entry} has no manifest`).toBe(true);
    }
    expect(entries).toEqual([]);

    expect(await chainOf()).toEqual(chainBefore);
    expect(await exists(leftOverlay)).toBe(false);
    const images = await readdir(path.dirname(guest.dataDisk));
    expect(images.filter((f) => f.includes('.virtdr-'))).toEqual([]);
    expect(await domainState(GUEST)).toBe('running');
    expect(await agentCommand<string>(GUEST, 'guest-fsfreeze-status')).toBe('thawed');
  });

  it('then takes a full and an incremental that restores a file written in between', async () => {
    const full = await backup();
    expect(full.mode).toBe('full');
    expect(full.parent).toBeNull();
    expect(full.quiesce).toBe('agent');
    expect(full.backup_id).not.toBe(killedJobId);

    const bytes = 4 << 20;
    const sha256 = await guestWriteRandomFile(GUEST, '/data/between.bin', bytes);
    const incremental = await backup();
    expect(incremental.mode).toBe('incremental');
    expect(incremental.parent).toBe(full.backup_id);

    const content = await readFileFromQcow2(fileOf(incremental), '/between.bin');
    expect(content.length).toBe(bytes);
    expect(createHash('sha256').update(content).digest('hex')).toBe(sha256);
    await expect(readFileFromQcow2(fileOf(full), '/between.bin')).rejects.toThrow();

    const chain = await chainOf();
    expect(chain).toHaveLength(2);
    expect(chain[1]).toBe(guest.dataDisk);
    expect(chain[0]).toContain(incremental.backup_id);
    const { backups } = await client.call<{ backups: PointView[] }>('list_backups', { domain: GUEST });
    expect(backups.map((b) => b.backup_id)).toEqual([full.backup_id, incremental.backup_id]);
  });

  it('on SIGTERM mid-copy, cancels the job, restores the chain itself and says so before it exits', async () => {
    await agent.stop();
    await agent.start({ VIRT_DR_BACKUP_BANDWIDTH_BYTES_PER_S: String(BANDWIDTH) });
    const chainBeforeStop = await chainOf();
    await guestWriteRandomFile(GUEST, '/data/ballast2.bin', 16 << 20);

    const { job_id } = await client.call<{ job_id: string }>('backup', { domain: GUEST, wait: false });
    await waitForEvent(
      events,
      (n) => n.event_type === 'virt_dr.backup.progress' && n.payload.job_id === job_id && Number(n.payload.bytes_done) > 0,
      60_000,
    );
    await agent.kill('SIGTERM');
    expect(agent.running).toBe(false);

    // The agent reported the cancelled job and repaired the chain before it exited.
    const error = await waitForEvent(events, (n) => n.event_type === 'virt_dr.backup.error' && n.payload.job_id === job_id, 10_000);
    expect(error.payload.state).toBe('cancelled');
    expect((error.payload.error as { class: string }).class).toBe('JobCancelled');
    expect(await chainOf()).toEqual(chainBeforeStop);
    const entries = await readdir(path.join(agent.repoPath, guest.uuid));
    expect(entries.filter((e) => e.startsWith('.partial-'))).toEqual([]);
    expect(await domainState(GUEST)).toBe('running');
    expect(await agentCommand<string>(GUEST, 'guest-fsfreeze-status')).toBe('thawed');

    // Nothing is left to recover, and the chain still allows an incremental.
    await agent.start({ VIRT_DR_BACKUP_BANDWIDTH_BYTES_PER_S: '0' });
    expect((await client.call<JobView>('get_job', { job_id })).state).toBe('cancelled');
    const next = await backup();
    expect(next.mode).toBe('incremental');
  });
});
