import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { RemoteError } from '../../src/bus/rpc-client.js';
import { backupJob, backupPoint, diskChain, pointFile, type PointView } from '../support/backup-api.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess } from '../support/agent-process.js';
import {
  domainState,
  guestSha256,
  guestWriteRandomFile,
  novaStyleRestart,
  readFileFromQcow2,
  run,
  virsh,
  waitForAgent,
  type TestGuest,
} from '../support/guest.js';

/**
 * The checkpoint engine on a domain Nova owns. Nova rebuilds the XML from its own disk
 * path on every hard reboot and stop/start, and undefines without the checkpoint metadata
 * flag: the domain must stay on its own disk, keep no libvirt checkpoint metadata between
 * backups, and lose nothing when Nova restarts it.
 */

const GUEST = 'vdr-nova';
const WRITE = 8 << 20;
const agent = new AgentProcess('nova', '/var/lib/virt-dr-test/nova');
let guest: TestGuest;
let client: RpcClient;

const backup = (args: Record<string, unknown> = {}) => backupPoint(client, GUEST, args);
const fileOf = (point: PointView) => pointFile(agent.repoPath, point);

/** What must hold between any two backups of a Nova instance. */
async function expectNovaSafe(): Promise<void> {
  expect(await diskChain(GUEST)).toEqual([guest.dataDisk]);
  expect(await virsh(['checkpoint-list', GUEST, '--name'])).toBe('');
  expect(await virsh(['snapshot-list', GUEST, '--name'])).toBe('');
  const images = await readdir(path.dirname(guest.dataDisk));
  expect(images.filter((f) => f.includes('.virtdr-'))).toEqual([]);
}

function sha256Of(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

describe('checkpoint engine on a Nova instance', () => {
  beforeAll(async () => {
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 256, nova: true }));
  });

  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  let full: PointView;
  let incremental: PointView;
  const written: Record<string, string> = {};

  it('refuses engine=snapshot with the domain untouched, and auto picks checkpoint', async () => {
    const call = client.call('backup', { domain: GUEST, engine: 'snapshot' });
    await expect(call).rejects.toThrow(RemoteError);
    await expect(call).rejects.toMatchObject({ remoteClass: 'EngineNotAllowed' });
    await expectNovaSafe();

    full = await backup();
    expect(full).toMatchObject({ engine: 'checkpoint', mode: 'full', parent: null, reason: 'the domain has no backup yet' });
    await expectNovaSafe();
  });

  it('takes an incremental about the size of what the guest wrote', async () => {
    written.first = await guestWriteRandomFile(GUEST, '/data/first.bin', WRITE);
    incremental = await backup();
    expect(incremental).toMatchObject({ engine: 'checkpoint', mode: 'incremental', parent: full.backup_id, reason: null });
    expect(incremental.bytes).toBeGreaterThan(WRITE);
    expect(incremental.bytes).toBeLessThan(WRITE + (4 << 20));
    console.log(`[nova] guest wrote ${WRITE} bytes; incremental stored ${incremental.bytes} (${(incremental.bytes / WRITE).toFixed(3)}x)`);
    await expectNovaSafe();

    const info = JSON.parse((await run('qemu-img', ['info', '-f', 'qcow2', '--output=json', fileOf(incremental)])).stdout);
    expect(info['backing-filename']).toBe(`../${full.backup_id}/vda.qcow2`);
    expect(info['backing-filename-format']).toBe('qcow2');
    expect(sha256Of(await readFileFromQcow2(fileOf(incremental), '/first.bin'))).toBe(written.first);
  });

  it('loses nothing when Nova restarts the domain (destroy, plain undefine, define, start)', async () => {
    written.second = await guestWriteRandomFile(GUEST, '/data/second.bin', WRITE);
    await novaStyleRestart(guest);
    await waitForAgent(GUEST);
    expect(await guestSha256(GUEST, '/data/first.bin')).toBe(written.first);
    expect(await guestSha256(GUEST, '/data/second.bin')).toBe(written.second);
    await expectNovaSafe();
    console.log('[nova] after the Nova-style restart both files read back with their sha256; the disk path is unchanged');

    const next = await backup();
    expect(next).toMatchObject({ mode: 'incremental', parent: incremental.backup_id });
    expect(next.bytes).toBeLessThan(WRITE + (6 << 20));
    console.log(`[nova] first backup after the restart: ${next.mode}, ${next.bytes} bytes for ${WRITE} written`);
    expect(sha256Of(await readFileFromQcow2(fileOf(next), '/second.bin'))).toBe(written.second);
    await expectNovaSafe();
    incremental = next;
  });

  it('a plain virsh undefine of the shut-off domain succeeds between backups', async () => {
    await virsh(['destroy', GUEST]);
    await virsh(['undefine', GUEST]);
    await virsh(['define', path.join(guest.workDir, 'domain.xml')]);
    await virsh(['start', GUEST]);
    await waitForAgent(GUEST);
    const next = await backup();
    expect(next).toMatchObject({ mode: 'incremental', parent: incremental.backup_id });
    incremental = next;
  });

  it('after QEMU is SIGKILLed, mode=incremental fails clearly and auto takes a full that says why', async () => {
    const pid = (await run('pgrep', ['-f', `guest=${GUEST},`])).stdout.trim();
    await run('kill', ['-KILL', pid]);
    for (let i = 0; i < 50 && (await domainState(GUEST)) !== 'shut off'; i++) await new Promise((r) => setTimeout(r, 200));
    await virsh(['start', GUEST]);
    await waitForAgent(GUEST);

    const refused = await backupJob(client, GUEST, { mode: 'incremental' });
    expect(refused.state).toBe('failed');
    expect(refused.error?.class).toBe('CheckpointInvalid');
    console.log(`[nova] incremental after the kill: ${refused.error?.class}: ${refused.error?.message}`);
    await expectNovaSafe();

    const recovered = await backup();
    expect(recovered).toMatchObject({ engine: 'checkpoint', mode: 'full', parent: null });
    expect(recovered.reason).toMatch(/did not validate/);
    console.log(`[nova] auto backup after the kill: full, reason: ${recovered.reason}`);
    await expectNovaSafe();
    const after = await backup();
    expect(after).toMatchObject({ mode: 'incremental', parent: recovered.backup_id });
    incremental = after;
  });

  it('a second agent with an empty state folder continues the chain from the repository', async () => {
    await agent.stop();
    const second = new AgentProcess('nova-fresh', '/var/lib/virt-dr-test/nova-fresh', { VIRT_DR_REPO_PATH: agent.repoPath });
    await second.reset();
    await second.start();
    const other = await second.client();
    try {
      written.third = await guestWriteRandomFile(GUEST, '/data/third.bin', WRITE);
      const next = await backupPoint(other, GUEST);
      expect(next).toMatchObject({ engine: 'checkpoint', mode: 'incremental', parent: incremental.backup_id });
      expect(sha256Of(await readFileFromQcow2(fileOf(next), '/third.bin'))).toBe(written.third);
      await expectNovaSafe();
    } finally {
      await other.close();
      await second.stop();
      await second.discard();
      await agent.start();
    }
  });

  it('leaves exactly one agent bitmap in the image, the newest point\'s', async () => {
    // A requested full supersedes a bitmap this same QEMU created (qemu-img cannot see it yet).
    expect(await backup({ mode: 'full' })).toMatchObject({ mode: 'full', reason: 'full backup requested' });
    const { backups } = await client.call<{ backups: (PointView & { engine: string })[] }>('list_backups', { domain: GUEST });
    await virsh(['destroy', GUEST]); // QEMU writes its bitmaps into the image as it closes it
    const info = JSON.parse((await run('qemu-img', ['info', '-f', 'qcow2', '--output=json', guest.dataDisk])).stdout);
    const bitmaps = (info['format-specific']?.data?.bitmaps ?? []).map((b: { name: string }) => b.name);
    expect(bitmaps).toEqual([`virtdr-${backups.at(-1)!.backup_id}`]);
    console.log(`[nova] ${backups.length} points; bitmaps left in the image: ${bitmaps.join(', ')}`);
  });
});
