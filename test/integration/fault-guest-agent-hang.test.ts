import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupJob, diskChain } from '../support/backup-api.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess, SNAPSHOT_ENGINE } from '../support/agent-process.js';
import {
  agentCommand,
  domainState,
  freezeAgent,
  waitForAgent,
  type TestGuest,
} from '../support/guest.js';

/**
 * Fault: the guest agent stops answering (qemu-ga SIGSTOPped inside the guest) while
 * backups ask it to freeze. The agent must fall back to suspend (quiesce=auto), fail
 * cleanly (quiesce=agent), never leave the domain paused, and never leave the guest
 * frozen once the hung qemu-ga wakes up and runs the freeze it had queued.
 */

const GUEST = 'vdr-fault-hang';
const FREEZE_TIMEOUT_S = 3;
/** Long enough for both failing backups to run inside one agent hang. */
const AGENT_HANG_S = 30;
const agent = new AgentProcess('fault-hang', '/var/lib/virt-dr-test/fault-hang', {
  ...SNAPSHOT_ENGINE,
  VIRT_DR_BACKUP_FREEZE_TIMEOUT_S: String(FREEZE_TIMEOUT_S),
  VIRT_DR_BACKUP_THAW_TIMEOUT_S: '5',
});
let guest: TestGuest;
let client: RpcClient;

const backupNow = (args: Record<string, unknown>) => backupJob(client, GUEST, args);
const chainOf = () => diskChain(GUEST);

async function fsfreezeStatus(): Promise<string> {
  return agentCommand<string>(GUEST, 'guest-fsfreeze-status', undefined, { timeoutSec: 5 });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('backup while the guest agent hangs', () => {
  let hang: { thawsAt: number };

  beforeAll(async () => {
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 64 }));
    expect(await fsfreezeStatus()).toBe('thawed');
  });

  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  it('quiesce=auto falls back to suspend and resumes the domain', async () => {
    hang = await freezeAgent(GUEST, AGENT_HANG_S);
    const t0 = Date.now();
    const job = await backupNow({ quiesce: 'auto' });
    const took = Date.now() - t0;
    expect(job.error, JSON.stringify(job.error)).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(job.result!.quiesce).toBe('suspend');
    expect(job.result!.freeze_ms).toBeGreaterThan(0);
    // The pause covers the snapshot only, not the failed freeze attempt before it.
    expect(job.result!.freeze_ms).toBeLessThan(FREEZE_TIMEOUT_S * 1000);
    console.log(`[fault-hang] auto backup with a hung agent: ${took} ms; suspend freeze_ms ${job.result!.freeze_ms}`);
    expect(await domainState(GUEST)).toBe('running');
  });

  it('quiesce=agent fails with GuestAgentUnavailable and leaves the domain running', async () => {
    // Its freeze is tried within a few seconds of the start; the agent must still hang then.
    expect(hang.thawsAt - Date.now(), 'too little of the agent hang left').toBeGreaterThan(10_000);
    const job = await backupNow({ quiesce: 'agent' });
    expect(job.state).toBe('failed');
    expect(job.error?.class, JSON.stringify(job.error)).toBe('GuestAgentUnavailable');
    expect(job.result).toBeNull();
    expect(await domainState(GUEST)).toBe('running');
  });

  it('answers pings at once while its thaw guard waits on the hung guest agent', async () => {
    // The failed freezes above put the guest under the thaw guard, whose every thaw now
    // waits the full thaw timeout (5 s) on the hung qemu-ga. On its own libvirt session
    // that wait queues nothing else; on the agent's shared connection each ping would
    // wait behind it.
    expect(hang.thawsAt - Date.now(), 'too little of the agent hang left').toBeGreaterThan(6_000);
    const latencies: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t0 = Date.now();
      await client.call('ping', {}, { server: agent.host, timeoutMs: 15_000 });
      latencies.push(Date.now() - t0);
      await sleep(500);
    }
    console.log(`[fault-hang] ping latencies while the guard thaws a hung guest: ${latencies.join(', ')} ms`);
    expect(Math.max(...latencies)).toBeLessThan(1_500);
  });

  it('once the agent answers again the guest ends up thawed, the chain is intact and quiesce=agent works', async () => {
    await sleep(Math.max(0, hang.thawsAt - Date.now()));
    await waitForAgent(GUEST);
    const back = Date.now();
    // A freeze that libvirt gave up on may still have been queued in the hung qemu-ga and
    // run now; the agent's thaw guard must undo it. Give it its whole retry window.
    const statuses: string[] = [];
    let status = await fsfreezeStatus();
    statuses.push(status);
    while (status !== 'thawed' && Date.now() - back < 90_000) {
      await sleep(500);
      status = await fsfreezeStatus();
      statuses.push(status);
    }
    console.log(
      `[fault-hang] after the agent woke: first status ${statuses[0]}, thawed after ${Date.now() - back} ms ` +
        `(${statuses.length} polls)`,
    );
    expect(status).toBe('thawed');
    // And it stays thawed: no freeze lands later still.
    for (let i = 0; i < 6; i++) {
      await sleep(1000);
      expect(await fsfreezeStatus()).toBe('thawed');
    }
    expect(await domainState(GUEST)).toBe('running');

    const chain = await chainOf();
    expect(chain).toHaveLength(2);
    expect(chain[1]).toBe(guest.dataDisk);
    expect(chain[0]).toMatch(/\.virtdr-.*\.qcow2$/);

    const job = await backupNow({ quiesce: 'agent' });
    expect(job.error, JSON.stringify(job.error)).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(job.result!.quiesce).toBe('agent');
    expect(job.result!.mode).toBe('incremental');
    expect(await fsfreezeStatus()).toBe('thawed');
    expect(await domainState(GUEST)).toBe('running');
    const after = await chainOf();
    expect(after).toHaveLength(2);
    expect(after[1]).toBe(guest.dataDisk);
    expect(after[0]).toContain(job.result!.backup_id);

    const log = await readFile(agent.logPath, 'utf8');
    const guardThaws = log.split('\n').filter((l) => l.includes('thaw guard: thawed a guest that was still frozen')).length;
    console.log(`[fault-hang] thaw guard thawed a late freeze ${guardThaws} time(s)`);
  });
});
