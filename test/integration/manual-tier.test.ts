import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess } from '../support/agent-process.js';
import { backupPoint, type PointView } from '../support/backup-api.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { guestSha256, guestWriteRandomFile, waitForAgent } from '../support/guest.js';
import { expectRefused } from '../support/refused.js';
import { removeRestoredCopy, restored, type RestoreView } from '../support/restore-api.js';

/**
 * The manual tier on a real Nova-like guest (checkpoint engine): a manual backup is a
 * self-contained full on the manual tier's own target, it leaves the scheduled chain's
 * bitmap alone (the next scheduled backup is still an incremental on the last scheduled
 * point), it is refused with TierFull once the tier holds its capacity, and it restores.
 */
const NAME = 'vdr-manual-tier';
const COPY = `${NAME}-copy`;
const WORK = '/var/lib/virt-dr-test/manual-tier';
const VAULT = path.join(WORK, 'vault');
const FILE = 1 << 20;

describe('the manual tier', () => {
  const agent = new AgentProcess('manual-tier', WORK, {}, [], {
    config: { repo: { targets: [{ name: 'ssd', url: `file://${WORK}/repo` }, { name: 'vault', url: `file://${VAULT}` }] } },
  });
  let client: RpcClient;
  let copy: RestoreView | null = null;

  beforeAll(async () => {
    await rm(VAULT, { recursive: true, force: true });
    await removeRestoredCopy(COPY, null);
    ({ client } = await startGuestAndAgent(agent, { name: NAME, dataDiskMiB: 32, nova: true }));
    await client.call('set_policy', { domain: NAME, policy: { tiers: { fast: { target: 'ssd' }, manual: { target: 'vault', capacity: { count: 1 } } } } });
  }, 300_000);

  afterAll(async () => {
    await removeRestoredCopy(COPY, copy);
    await stopGuestAndAgent(agent, NAME, client);
    await rm(VAULT, { recursive: true, force: true });
  });

  let scheduled: PointView;
  let manual: PointView;
  let manualFile: string;

  it('takes a manual backup as a standalone full on the manual target, and the chain goes on past it', async () => {
    scheduled = await backupPoint(client, NAME);
    expect(scheduled).toMatchObject({ mode: 'full', kind: 'scheduled', tier: 'fast', targets: ['ssd'] });
    manualFile = await guestWriteRandomFile(NAME, '/data/manual.bin', FILE);
    manual = await backupPoint(client, NAME, { kind: 'manual' });
    expect(manual).toMatchObject({ mode: 'full', kind: 'manual', tier: 'manual', parent: null, reason: 'a manual backup is a self-contained full', targets: ['vault'] });
    // The chain's bitmap stayed: the next scheduled backup is an incremental on the scheduled point, not on the manual one.
    await guestWriteRandomFile(NAME, '/data/after.bin', FILE);
    const next = await backupPoint(client, NAME);
    expect(next).toMatchObject({ mode: 'incremental', kind: 'scheduled', tier: 'fast', parent: scheduled.backup_id, targets: ['ssd'] });
    const listed = (await client.call<{ backups: (PointView & { tier: string; targets: string[] })[] }>('list_backups', { domain: NAME })).backups;
    expect(listed.map((p) => [p.backup_id, p.tier, p.targets])).toEqual([
      [scheduled.backup_id, 'fast', ['ssd']],
      [manual.backup_id, 'manual', ['vault']],
      [next.backup_id, 'fast', ['ssd']],
    ]);
  }, 300_000);

  it('refuses a manual backup once the manual tier holds its capacity, and a manual incremental at once', async () => {
    const full = await expectRefused(client, 'backup', { domain: NAME, kind: 'manual' }, 'TierFull');
    expect(full.message).toContain('manual tier of target vault is full: 1 of 1 points');
    await expectRefused(client, 'backup', { domain: NAME, kind: 'manual', mode: 'incremental' }, 'InvalidArgument');
  }, 60_000);

  it('restores the manual point from its own target, with the data of its time', async () => {
    copy = await restored(client, NAME, manual.backup_id, { target: 'new', new_name: COPY });
    await waitForAgent(COPY);
    expect(await guestSha256(COPY, '/data/manual.bin')).toBe(manualFile);
    const verify = await client.call<{ result: { ok: number; points: { target: string }[] } }>('verify', { domain: NAME, backup_id: manual.backup_id, wait: true }, { timeoutMs: 120_000 });
    expect(verify.result).toMatchObject({ ok: 1, points: [{ target: 'vault' }] });
  }, 300_000);
});
