/**
 * Continuous replication on real parts: a Nova-like guest that keeps writing (its
 * heartbeat every half second, and a small file at every sample), the real agent with a
 * primary file target and a second one as the DR target, real RabbitMQ. A policy with a
 * 60 s interval and `dr` as the plan's secondary keeps the RPO (the age of the newest
 * point on dr) under 2 minutes for 10 minutes, measured by the agent (list_backups'
 * `rpo_s`) and by the test from the dr folder's own manifests.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { guestWriteRandomFile, type TestGuest } from '../support/guest.js';
import { pointsInFolder, setDomainPolicy, type ListedPoint } from '../support/policy-run.js';

const WORK = '/var/lib/virt-dr-test/continuous-replication';
const TARGET = { local: path.join(WORK, 'targets/local'), dr: path.join(WORK, 'targets/dr') };
const NAME = 'vdr-continuous-repl';
const POLICY = { schedule: { interval_s: 60 }, jitter_s: 0, plan: { secondaries: [{ target: 'dr', delay_s: 0 }] } };
const WINDOW_MS = 10 * 60_000;
const SAMPLE_MS = 10_000;
const RPO_LIMIT_S = 120;

const agent = new AgentProcess('continuous-repl', WORK, {}, [], {
  repoPath: TARGET.local,
  config: { repo: { targets: [{ name: 'local', url: `file://${TARGET.local}` }, { name: 'dr', url: `file://${TARGET.dr}` }] } },
});

let client: RpcClient;
let guest: TestGuest;

interface Sample {
  at: number;
  /** The agent's: list_backups' rpo_s. */
  agentS: number;
  /** The test's: now minus the newest created_at among the dr folder's manifests. */
  folderS: number;
}

/** The age in seconds of the newest point in the dr folder, or null when it has none. */
async function folderRpoS(now: number): Promise<number | null> {
  const newest = (await pointsInFolder(TARGET.dr, guest.uuid)).map((p) => Date.parse(p.created_at)).sort((a, b) => a - b).at(-1);
  return newest === undefined ? null : (now - newest) / 1000;
}

const listBackups = () => client.call<{ backups: ListedPoint[]; rpo_s: number | null }>('list_backups', { domain: NAME }, { server: agent.host });
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('continuous replication: a backup every 60 s, copied to dr', () => {
  beforeAll(async () => {
    // The agent's reset wipes WORK: both targets and its state of an earlier run.
    ({ client, guest } = await startGuestAndAgent(agent, { name: NAME, dataDiskMiB: 64, nova: true }));
  }, 300_000);

  afterAll(async () => {
    if (client && agent.running) await setDomainPolicy(client, agent.host, NAME, null).catch(() => undefined);
    await stopGuestAndAgent(agent, NAME, client);
    // The agent's log stays for a post-mortem; the next run's reset removes it.
    await rm(TARGET.dr, { recursive: true, force: true });
  }, 300_000);

  it('keeps the measured RPO under 2 minutes for 10 minutes', async () => {
    expect(await setDomainPolicy(client, agent.host, NAME, POLICY)).toMatchObject({ plan: { primary: 'local', secondaries: [{ target: 'dr', delay_s: 0 }] } });
    // The first slot is at most 60 s away; its point reaches dr seconds after the backup.
    await expect.poll(() => folderRpoS(Date.now()), { timeout: 180_000, interval: 1000 }).not.toBeNull();

    const samples: Sample[] = [];
    const start = Date.now();
    for (let i = 0; Date.now() - start < WINDOW_MS; i++) {
      const { rpo_s: agentS } = await listBackups();
      const at = Date.now();
      const folderS = await folderRpoS(at);
      expect(agentS, 'rpo_s once a point is on dr').not.toBeNull();
      samples.push({ at, agentS: agentS!, folderS: folderS! });
      // A small write besides the heartbeat: every point has something new.
      await guestWriteRandomFile(NAME, `/data/stream-${i}.bin`, 16 << 10);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + (i + 1) * SAMPLE_MS - Date.now())));
    }

    const { backups } = await listBackups();
    const onDr = await pointsInFolder(TARGET.dr, guest.uuid);
    const agentRpo = samples.map((s) => s.agentS);
    const folderRpo = samples.map((s) => s.folderS);
    console.info(
      `continuous replication: ${samples.length} samples over ${Math.round((Date.now() - start) / 1000)} s, ${backups.length} points (${onDr.length} on dr); ` +
        `rpo_s median ${median(agentRpo)} s, max ${Math.max(...agentRpo)} s; from the dr folder median ${median(folderRpo).toFixed(1)} s, max ${Math.max(...folderRpo).toFixed(1)} s`,
    );
    expect(Math.max(...agentRpo)).toBeLessThan(RPO_LIMIT_S);
    expect(Math.max(...folderRpo)).toBeLessThan(RPO_LIMIT_S);
    // The agent's record never claims a point the folder lacks: its RPO is never better than the folder's.
    for (const s of samples) expect(s.agentS, `sample at ${new Date(s.at).toISOString()}`).toBeGreaterThanOrEqual(s.folderS - 1);
    // A point a minute, every one of them on dr but perhaps the newest still on its way.
    expect(backups.length).toBeGreaterThanOrEqual(WINDOW_MS / 60_000);
    expect(onDr.length).toBeGreaterThanOrEqual(backups.length - 1);
    expect(backups.slice(0, -1).every((p) => p.targets.includes('dr'))).toBe(true);
  }, 900_000);
});
