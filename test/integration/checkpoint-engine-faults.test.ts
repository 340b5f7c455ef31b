import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notification, RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, diskChain, domainHasJob, type PointView } from '../support/backup-api.js';
import { startGuestWithBallast, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess, waitForEvent } from '../support/agent-process.js';
import { agentCommand, domainState, run, virsh, type TestGuest } from '../support/guest.js';

/**
 * The checkpoint engine's faults: the agent SIGKILLed while QEMU writes a push backup, and
 * bitmaps and checkpoints that are not the agent's. After the kill nothing of the killed
 * backup may survive the restart (no job in libvirt, no partial point, no checkpoint
 * metadata, a thawed guest) and the chain goes on from the last good point. What the
 * agent did not create survives every backup.
 */

const GUEST = 'vdr-cp-faults';
const BALLAST_MIB = 1024; // made on the host: a full backup of it lasts long enough to kill
const WORK = '/var/lib/virt-dr-test/cp-faults';
const agent = new AgentProcess('cp-faults', WORK);
let guest: TestGuest;
let client: RpcClient;
let events: Notification[];

const backup = (args: Record<string, unknown> = {}) => backupPoint(client, GUEST, args);

async function foreignCheckpoints(): Promise<string[]> {
  return (await virsh(['checkpoint-list', GUEST, '--name'])).split('\n').filter((n) => n !== '');
}

/** Whether a bitmap named `name` is in vda and usable: libvirt validates it on redefinition. */
async function bitmapValidates(name: string): Promise<boolean> {
  const xml = path.join(WORK, `${name}.xml`);
  await writeFile(
    xml,
    `<domaincheckpoint><name>${name}</name><creationTime>1700000000</creationTime>` +
      `<disks><disk name='vda' checkpoint='bitmap' bitmap='${name}'/></disks></domaincheckpoint>`,
  );
  try {
    await virsh(['checkpoint-create', GUEST, xml, '--redefine', '--redefine-validate']);
  } catch {
    return false;
  }
  await virsh(['checkpoint-delete', GUEST, name, '--metadata']);
  return true;
}

describe('checkpoint engine faults: a killed agent, foreign bitmaps', () => {
  beforeAll(async () => {
    ({ guest, client } = await startGuestWithBallast(agent, { name: GUEST, ballastMiB: BALLAST_MIB, spareMiB: 192 }));
    const seen: Notification[] = [];
    await client.watchNotifications((n) => seen.push(n));
    events = seen;
    // An operator's checkpoint with metadata, and an operator's bitmap without any.
    await virsh(['checkpoint-create-as', GUEST, 'operator-cp']);
    await virsh(['checkpoint-create-as', GUEST, 'operator-bitmap']);
    await virsh(['checkpoint-delete', GUEST, 'operator-bitmap', '--metadata']);
  });

  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  let first: PointView;

  it('takes a full and an incremental without touching the operator\'s checkpoint or bitmap', async () => {
    const t0 = Date.now();
    first = await backup();
    console.log(`[cp-faults] full of ${BALLAST_MIB} MiB of data: ${first.bytes} bytes in ${Date.now() - t0} ms`);
    expect(first).toMatchObject({ engine: 'checkpoint', mode: 'full' });
    const next = await backup();
    expect(next).toMatchObject({ engine: 'checkpoint', mode: 'incremental', parent: first.backup_id });
    first = next;
    expect(await foreignCheckpoints()).toEqual(['operator-cp']);
    expect(await bitmapValidates('operator-bitmap')).toBe(true);
    expect(await diskChain(GUEST)).toEqual([guest.dataDisk]);
  });

  let killedJobId: string;
  let jobRanAtKill: boolean;

  it('SIGKILLs the agent while QEMU writes a full push backup', async () => {
    ({ job_id: killedJobId } = await client.call<{ job_id: string }>('backup', { domain: GUEST, mode: 'full' }));
    const deadline = Date.now() + 60_000;
    while ((await agent.journalPhase(killedJobId)) !== 'copying') {
      if (Date.now() > deadline) throw new Error('the backup never reached its copying phase');
      await new Promise((r) => setTimeout(r, 5));
    }
    while (!(await domainHasJob(GUEST))) {
      if (Date.now() > deadline) throw new Error('no backup job appeared in libvirt');
    }
    await agent.kill('SIGKILL');
    jobRanAtKill = await domainHasJob(GUEST);
    console.log(`[cp-faults] killed the agent; libvirt's backup job still running after the kill: ${jobRanAtKill}`);
    expect(jobRanAtKill).toBe(true);
    const staged = await readdir(path.join(agent.repoPath, guest.uuid));
    expect(staged.filter((e) => e.startsWith('.partial-'))).toHaveLength(1);
  });

  it('after a restart no job, partial point or checkpoint metadata is left, the guest is thawed', async () => {
    await agent.start();
    const error = await waitForEvent(events, (n) => n.event_type === 'virt_dr.backup.error' && n.payload.job_id === killedJobId, 60_000);
    expect((error.payload.error as { class: string }).class).toBe('AgentRestarted');
    console.log(`[cp-faults] recovered job says: ${(error.payload.error as { message: string }).message}`);
    expect(await domainHasJob(GUEST)).toBe(false);
    const entries = await readdir(path.join(agent.repoPath, guest.uuid));
    expect(entries.filter((e) => e.startsWith('.partial-'))).toEqual([]);
    expect(await foreignCheckpoints()).toEqual(['operator-cp']);
    expect(await domainState(GUEST)).toBe('running');
    expect(await agentCommand<string>(GUEST, 'guest-fsfreeze-status')).toBe('thawed');
  });

  it('on SIGTERM mid-job, the agent aborts the backup job and cancels the backup before it exits', async () => {
    const { job_id: jobId } = await client.call<{ job_id: string }>('backup', { domain: GUEST, mode: 'full' });
    const deadline = Date.now() + 60_000;
    while ((await agent.journalPhase(jobId)) !== 'copying' || !(await domainHasJob(GUEST))) {
      if (Date.now() > deadline) throw new Error('the backup job never started');
    }
    await agent.stop();
    const cancelled = await waitForEvent(events, (n) => n.event_type === 'virt_dr.backup.error' && n.payload.job_id === jobId, 10_000);
    expect(cancelled.payload.state).toBe('cancelled');
    expect(await domainHasJob(GUEST)).toBe(false);
    const entries = await readdir(path.join(agent.repoPath, guest.uuid));
    expect(entries.filter((e) => e.startsWith('.partial-'))).toEqual([]);
    expect(await foreignCheckpoints()).toEqual(['operator-cp']);
    expect(await agentCommand<string>(GUEST, 'guest-fsfreeze-status')).toBe('thawed');
    await agent.start();
  });

  it('the next backup is an incremental from the last good point; foreign bitmaps survive', async () => {
    const next = await backup();
    expect(next).toMatchObject({ engine: 'checkpoint', mode: 'incremental', parent: first.backup_id });
    expect(await foreignCheckpoints()).toEqual(['operator-cp']);
    expect(await bitmapValidates('operator-bitmap')).toBe(true);
    await virsh(['destroy', GUEST]);
    const info = JSON.parse((await run('qemu-img', ['info', '-f', 'qcow2', '--output=json', guest.dataDisk])).stdout);
    const bitmaps = (info['format-specific']?.data?.bitmaps ?? []).map((b: { name: string }) => b.name).sort();
    expect(bitmaps).toEqual(['operator-bitmap', 'operator-cp', `virtdr-${next.backup_id}`].sort());
  });
});
