import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, diskChain, pointFile } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { guestWriteRandomFile, readFileFromQcow2, virsh, type TestGuest } from '../support/guest.js';

/**
 * A domain an earlier snapshot-engine backup left on the agent's overlay (as every domain
 * of a host that ran this agent before the checkpoint engine was) is moved back onto its
 * own disk when the checkpoint engine takes over, with every write kept.
 */
const GUEST = 'vdr-engine-switch';
const agent = new AgentProcess('engine-switch', '/var/lib/virt-dr-test/engine-switch');
let guest: TestGuest;
let client: RpcClient;

describe('from the snapshot engine to the checkpoint engine', () => {
  beforeAll(async () => {
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 64 }));
  });
  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  it('merges the agent overlay away, keeps every write, and goes on incrementally', async () => {
    const bySnapshot = await backupPoint(client, GUEST, { engine: 'snapshot' });
    expect(bySnapshot.engine).toBe('snapshot');
    const chain = await diskChain(GUEST);
    expect(chain).toHaveLength(2);
    expect(chain[1]).toBe(guest.dataDisk);

    const written = await guestWriteRandomFile(GUEST, '/data/after-snapshot.bin', 2 << 20);
    const byCheckpoint = await backupPoint(client, GUEST, { engine: 'checkpoint' });
    expect(byCheckpoint).toMatchObject({ engine: 'checkpoint', mode: 'full' });
    expect(byCheckpoint.reason).toMatch(/taken by the snapshot engine/);
    expect(await diskChain(GUEST)).toEqual([guest.dataDisk]);
    const images = await readdir(path.dirname(guest.dataDisk));
    expect(images.filter((f) => f.includes('.virtdr-'))).toEqual([]);
    const content = await readFileFromQcow2(pointFile(agent.repoPath, byCheckpoint), '/after-snapshot.bin');
    expect(createHash('sha256').update(content).digest('hex')).toBe(written);

    const next = await backupPoint(client, GUEST, { engine: 'checkpoint' });
    expect(next).toMatchObject({ mode: 'incremental', parent: byCheckpoint.backup_id });
    expect(await virsh(['checkpoint-list', GUEST, '--name'])).toBe('');
  });
});
