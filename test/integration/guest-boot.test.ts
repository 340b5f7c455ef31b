// Boots the real TCG test guest (test/guest/) under libvirt and checks every
// helper in test/support/guest.ts. Needs root, libvirt and qemu; never skips.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  agentPing,
  buildGuestAssets,
  countHeartbeatLines,
  createTestGuest,
  destroyTestGuest,
  domainExists,
  domainState,
  ensureLibvirtd,
  freezeAgent,
  guestExecOk,
  guestExec,
  guestWriteRandomFile,
  heartbeatCount,
  readConsoleLog,
  readFileFromQcow2,
  virsh,
  waitForAgent,
  waitForGuestReady,
  type GuestAssets,
  type TestGuest,
} from '../support/guest.js';

const NAME = 'vdr-it-guest-boot';
const NOAGENT_NAME = 'vdr-it-guest-noagent';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('test guest boots under libvirt and its helpers work', () => {
  let assets: GuestAssets;
  let guest: TestGuest | undefined;
  let noAgent: TestGuest | undefined;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('integration tests must run as root (libvirt qemu:///system)');
    await ensureLibvirtd();
    assets = await buildGuestAssets();
    const t0 = Date.now();
    guest = await createTestGuest({ name: NAME, dataDiskMiB: 64, assets });
    const readyMs = await waitForGuestReady(guest, 180_000);
    await waitForAgent(NAME, 180_000);
    const agentMs = Date.now() - t0;
    const initrdSize = (await fs.stat(assets.initrd)).size;
    console.log(
      `[guest-boot] console ready after ${readyMs} ms, agent answering ${agentMs} ms after create; ` +
        `initramfs ${initrdSize} bytes`,
    );
  });

  afterAll(async () => {
    // Safety net; the last test checks the cleanup explicitly.
    await guest?.destroy();
    await noAgent?.destroy();
  });

  it('mounts the qcow2 data disk as ext4 at /data and reports ready on the console', async () => {
    const mounts = await guestExecOk(NAME, ['/bin/cat', '/proc/mounts']);
    expect(mounts.stdout).toMatch(/^\/dev\/vda \/data ext4 rw/m);
    expect(await readConsoleLog(guest!.consoleLog)).toContain('VIRT-DR-GUEST-READY agent=1');
    const fsinfo = await virsh(['domfsinfo', NAME]);
    expect(fsinfo).toMatch(/\/data\s+vda\s+ext4/);
  });

  it('guestExec returns exit codes and stdout/stderr', async () => {
    const r = await guestExec(NAME, ['/bin/sh', '-c', 'echo out-$1; echo err-$1 >&2; exit 3', 'sh', 'x y']);
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out-x y\n', stderr: 'err-x y\n' });
    const withInput = await guestExecOk(NAME, ['/bin/cat'], { input: 'hello stdin' });
    expect(withInput.stdout).toBe('hello stdin');
  });

  it('keeps writing the heartbeat', async () => {
    const a = await heartbeatCount(NAME);
    await sleep(3000);
    const b = await heartbeatCount(NAME);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThanOrEqual(a + 3);
  });

  it('a random file written in the guest reads back identically from a qemu-img copy taken under fsfreeze', async () => {
    const bytes = 3 * 1024 * 1024 + 12345;
    const guestSha = await guestWriteRandomFile(NAME, '/data/random.bin', bytes);
    const before = await heartbeatCount(NAME);
    const frozen = await virsh(['domfsfreeze', NAME]);
    expect(frozen).toMatch(/Froze 1 filesystem/);
    let copy: Buffer;
    let hbWhileFrozen: Buffer;
    try {
      copy = await readFileFromQcow2(guest!.dataDisk, '/random.bin');
      hbWhileFrozen = await readFileFromQcow2(guest!.dataDisk, '/heartbeat');
    } finally {
      await virsh(['domfsthaw', NAME]);
    }
    expect(copy.length).toBe(bytes);
    expect(sha256(copy)).toBe(guestSha);
    expect(countHeartbeatLines(hbWhileFrozen)).toBeGreaterThanOrEqual(before);
    // The guest resumes writing after the thaw.
    await sleep(2000);
    expect(await heartbeatCount(NAME)).toBeGreaterThan(before);
  });

  it('after a guest sync the file is readable with journal replay', async () => {
    const guestSha = await guestWriteRandomFile(NAME, '/data/dir/synced.bin', 200_000);
    const copy = await readFileFromQcow2(guest!.dataDisk, '/dir/synced.bin', { replayJournal: true });
    expect(sha256(copy)).toBe(guestSha);
    await expect(readFileFromQcow2(guest!.dataDisk, '/does-not-exist')).rejects.toThrow(/not found/i);
  });

  it('freezeAgent makes guest-ping fail for the window, then the agent recovers', async () => {
    const seconds = 8;
    const { thawsAt } = await freezeAgent(NAME, seconds);
    expect(Date.now()).toBeLessThan(thawsAt - 2000);
    // Still frozen a bit later (freezeAgent already saw one failure).
    expect(await agentPing(NAME, 2)).toBe(false);
    const t = Date.now();
    await waitForAgent(NAME, 60_000);
    expect(Date.now()).toBeGreaterThanOrEqual(thawsAt - 1500);
    expect(Date.now() - t).toBeLessThan(30_000);
    expect(await agentPing(NAME, 2)).toBe(true);
    // qemu-ga survived (same daemon, now resumed) and the guest kept running.
    const st = await guestExecOk(NAME, ['/bin/sh', '-c', 'grep State /proc/$(cat /run/qemu-ga.pid)/status']);
    expect(st.stdout).toMatch(/State:\s+S|State:\s+R/);
    expect(await domainState(NAME)).toBe('running');
  });

  it('boots a guest without agent (vdr.noagent) that keeps running', async () => {
    noAgent = await createTestGuest({ name: NOAGENT_NAME, withAgent: false, dataDiskMiB: 32, assets });
    await waitForGuestReady(noAgent, 180_000);
    expect(await readConsoleLog(noAgent.consoleLog)).toContain('VIRT-DR-GUEST-READY agent=0');
    const xml = await virsh(['dumpxml', NOAGENT_NAME]);
    expect(xml).not.toContain('org.qemu.guest_agent.0');
    expect(xml).toContain('vdr.noagent');
    expect(await agentPing(NOAGENT_NAME, 2)).toBe(false);
    // What the host reads is what the guest's ext4 has committed (every 5 s by default),
    // so the count is polled until it grows rather than read once after a fixed sleep.
    // Right after boot the file may not be committed yet: it counts as no heartbeat.
    const heartbeats = async () =>
      countHeartbeatLines(
        await readFileFromQcow2(noAgent!.dataDisk, '/heartbeat', { replayJournal: true }).catch((err: Error) => {
          if (/File not found/.test(err.message)) return '';
          throw err;
        }),
      );
    const a = await heartbeats();
    let b = a;
    for (const deadline = Date.now() + 30_000; b <= a && Date.now() < deadline; ) {
      await sleep(1000);
      b = await heartbeats();
    }
    expect(b).toBeGreaterThan(a);
    expect(await domainState(NOAGENT_NAME)).toBe('running');
  });

  it('cleans up domains and files', async () => {
    for (const g of [guest, noAgent]) {
      expect(g).toBeDefined();
      await g!.destroy();
      expect(await domainExists(g!.name)).toBe(false);
      await expect(fs.stat(g!.workDir)).rejects.toThrow(/ENOENT/);
      await g!.destroy(); // idempotent
    }
    await destroyTestGuest('vdr-it-never-existed'); // never throws for unknown names
  });
});
