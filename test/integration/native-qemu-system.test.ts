/**
 * native/ against the host's libvirtd (qemu:///system): errors, define/undefine,
 * reconnect after a libvirtd restart, and external disk-only snapshots + block commit
 * on a guest that boots no OS (it sits in SeaBIOS, which is enough for block jobs).
 *
 * Starts virtlogd/libvirtd when they are not running (never skips).
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commitActiveWithPivot,
  commitIntermediate,
  Connection,
  type BlockJobInfo,
  type Domain,
  isAgentUnavailable,
  isConnectionLost,
  VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT,
  VIR_ERR_AGENT_UNRESPONSIVE,
  VIR_ERR_ARGUMENT_UNSUPPORTED,
  VIR_ERR_NO_DOMAIN,
  VIR_FROM_QEMU,
  waitForBlockJob,
} from '../../native/index.js';
import { rejection } from '../support/libvirt-rejection.js';

const execFileP = promisify(execFile);
const URI = 'qemu:///system';
const PREFIX = 'vdr-native-test-';
const TAG = `${PREFIX}${process.pid}`;
const IMAGES = '/var/lib/libvirt/images/vdr-native-test';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    await execFileP(cmd, args, { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const libvirtdUp = () => succeeds('virsh', ['-c', URI, 'uri']);

/** Make sure virtlogd and libvirtd run (no systemd here): start them when they don't. */
async function startDaemons(): Promise<void> {
  if (!(await succeeds('pgrep', ['-x', 'virtlogd']))) await execFileP('virtlogd', ['-d']);
  if (await libvirtdUp()) return;
  // A libvirtd that is still shutting down shows up in pgrep but accepts nothing.
  await waitFor(
    'a stopping libvirtd to exit',
    async () => !(await succeeds('pgrep', ['-x', 'libvirtd'])) || (await libvirtdUp()),
    30_000,
  );
  if (!(await libvirtdUp())) await execFileP('libvirtd', ['-d']);
  await waitFor('libvirtd to accept connections', libvirtdUp);
}

async function restartLibvirtd(): Promise<void> {
  await execFileP('pkill', ['-x', 'libvirtd']);
  await waitFor('libvirtd to exit', async () => !(await succeeds('pgrep', ['-x', 'libvirtd'])));
  await execFileP('libvirtd', ['-d']);
  await waitFor('libvirtd to come back', libvirtdUp);
}

function tinyDomainXml(name: string, disk?: string): string {
  const devices = disk
    ? `<devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>`
    : '';
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  ${devices}
</domain>`;
}

/** The source files of disk `dev`, active layer first, then its backing chain. */
function diskChain(xml: string, dev: string): string[] {
  const disks = xml.match(/<disk\b[\s\S]*?<\/disk>/g) ?? [];
  const disk = disks.find((d) => new RegExp(`<target dev='${dev}'`).test(d));
  if (!disk) throw new Error(`disk ${dev} not in XML`);
  return [...disk.matchAll(/<source file='([^']+)'/g)].map((m) => m[1] ?? '');
}

/** Remove domains and images left over by earlier (crashed) runs. */
async function removeLeftovers(conn: Connection): Promise<void> {
  for (const dom of await conn.listAllDomains()) {
    if (!dom.name.startsWith(PREFIX)) continue;
    if (await dom.isActive()) await dom.destroy().catch(() => undefined);
    await dom.undefine().catch(() => undefined);
  }
  await rm(IMAGES, { recursive: true, force: true });
}

describe('native adapter on qemu:///system', () => {
  let conn: Connection;

  beforeAll(async () => {
    await startDaemons();
    conn = await Connection.open(URI);
    await removeLeftovers(conn);
  });

  afterAll(async () => {
    if (conn) {
      await removeLeftovers(conn).catch(() => undefined);
      await conn.close();
    }
  });

  it('opens and reports the same library version as virsh', async () => {
    const { stdout } = await execFileP('virsh', ['-c', URI, 'version']);
    const virsh = /Using library: libvirt (\d+\.\d+\.\d+)/.exec(stdout)?.[1];
    expect(await conn.libvirtVersion()).toBe(virsh);
    expect(await conn.isAlive()).toBe(true);
  });

  it('reports a missing domain as VIR_ERR_NO_DOMAIN from the QEMU driver', async () => {
    const err = await rejection(conn.lookupDomain(`${TAG}-missing`));
    expect(err.code).toBe(VIR_ERR_NO_DOMAIN);
    expect(err.domain).toBe(VIR_FROM_QEMU);
    expect(err.libvirtMessage).toContain(`${TAG}-missing`);
    expect(isConnectionLost(err)).toBe(false);
  });

  it('defines and undefines a domain', async () => {
    const name = `${TAG}-define`;
    const dom = await conn.defineDomain(tinyDomainXml(name));
    expect(dom.name).toBe(name);
    expect((await conn.lookupDomain(dom.uuid)).name).toBe(name);
    expect((await dom.getState()).state).toBe('shutoff');
    expect(await dom.getXml({ inactive: true })).toContain(`<name>${name}</name>`);
    await dom.undefine();
    expect((await rejection(conn.lookupDomain(name))).code).toBe(VIR_ERR_NO_DOMAIN);
  });

  describe('with a running guest that boots no OS', () => {
    let dom: Domain;
    const base = `${IMAGES}/base.qcow2`;
    const ov1 = `${IMAGES}/overlay1.qcow2`;
    const ov2 = `${IMAGES}/overlay2.qcow2`;
    const ov3 = `${IMAGES}/overlay3.qcow2`;

    const snapshotXml = (file: string) => `<domainsnapshot>
  <name>${TAG}-${file.replace(/.*\//, '').replace(/\.qcow2$/, '')}</name>
  <disks><disk name='vda' snapshot='external'><source file='${file}'/></disk></disks>
</domainsnapshot>`;
    const snapFlags = { diskOnly: true, atomic: true, noMetadata: true };

    beforeAll(async () => {
      await mkdir(IMAGES, { recursive: true });
      await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
      dom = await conn.defineDomain(tinyDomainXml(`${TAG}-guest`, base));
      await dom.create();
    });

    afterAll(async () => {
      if (!dom) return;
      await dom.destroy().catch(() => undefined);
      await dom.undefine().catch(() => undefined);
      await rm(IMAGES, { recursive: true, force: true });
    });

    it('is running and has no block job', async () => {
      expect((await dom.getState()).state).toBe('running');
      expect(await dom.getBlockJobInfo('vda')).toBeNull();
      expect(diskChain(await dom.getXml(), 'vda')).toEqual([base]);
    });

    it('fails fsFreeze fast with VIR_ERR_AGENT_UNRESPONSIVE when the agent channel is dead', async () => {
      const t0 = Date.now();
      const err = await rejection(dom.fsFreeze(3));
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(err.code).toBe(VIR_ERR_AGENT_UNRESPONSIVE);
      expect(isAgentUnavailable(err)).toBe(true);
      expect(err.libvirtMessage).toMatch(/agent/i);
      // the guest is unaffected and the connection still works
      expect((await dom.getState()).state).toBe('running');
    });

    it('rejects fsFreeze with VIR_ERR_ARGUMENT_UNSUPPORTED when no agent channel is configured', async () => {
      const other = await conn.defineDomain(tinyDomainXml(`${TAG}-noagent`));
      try {
        await other.create();
        const err = await rejection(other.fsFreeze(3));
        expect(err.code).toBe(VIR_ERR_ARGUMENT_UNSUPPORTED);
        expect(err.libvirtMessage).toMatch(/guest agent is not configured/);
      } finally {
        await other.destroy().catch(() => undefined);
        await other.undefine();
      }
    });

    it('suspends and resumes', async () => {
      await dom.suspend();
      expect((await dom.getState()).state).toBe('paused');
      await dom.resume();
      expect((await dom.getState()).state).toBe('running');
    });

    it('takes an external disk-only snapshot and commits it back with a pivot', async () => {
      const name = await dom.createSnapshot(snapshotXml(ov1), snapFlags);
      expect(name).toBe(`${TAG}-overlay1`);
      expect(diskChain(await dom.getXml(), 'vda')).toEqual([ov1, base]);

      const seen: BlockJobInfo[] = [];
      await commitActiveWithPivot(dom, 'vda', { pollMs: 100, onProgress: (i) => seen.push(i) });
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]?.type).toBe(VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT);
      expect(seen[0]?.kind).toBe('active-commit');
      const last = seen[seen.length - 1];
      expect(last && last.end > 0 && last.cur === last.end).toBe(true);

      expect(diskChain(await dom.getXml(), 'vda')).toEqual([base]);
      expect(await dom.getBlockJobInfo('vda')).toBeNull();
      expect((await dom.getState()).state).toBe('running');
    });

    it('commits an intermediate overlay into its base', async () => {
      await dom.createSnapshot(snapshotXml(ov2), snapFlags);
      await dom.createSnapshot(snapshotXml(ov3), snapFlags);
      expect(diskChain(await dom.getXml(), 'vda')).toEqual([ov3, ov2, base]);

      await commitIntermediate(dom, 'vda', base, ov2, { pollMs: 100, bandwidthBytesPerSec: 64 * 1024 * 1024 });
      expect(diskChain(await dom.getXml(), 'vda')).toEqual([ov3, base]);

      await commitActiveWithPivot(dom, 'vda', { pollMs: 100 });
      expect(diskChain(await dom.getXml(), 'vda')).toEqual([base]);
    });

    it('starts an active commit by hand, waits until ready and aborts it on an AbortSignal', async () => {
      await dom.createSnapshot(snapshotXml(`${IMAGES}/overlay4.qcow2`), snapFlags);
      await dom.blockCommit('vda', { base: null, top: null, active: true, shallow: true });
      const ready = await waitForBlockJob(dom, 'vda', { until: 'ready', pollMs: 100 });
      expect(ready?.cur).toBe(ready?.end);

      // Ready jobs stay until pivoted: an aborted wait for 'gone' rejects with the reason.
      const ac = new AbortController();
      const reason = new Error('stop waiting');
      setTimeout(() => ac.abort(reason), 300);
      await expect(waitForBlockJob(dom, 'vda', { until: 'gone', pollMs: 100, signal: ac.signal })).rejects.toBe(
        reason,
      );

      await dom.abortBlockJob('vda', { pivot: true });
      expect(await dom.getBlockJobInfo('vda')).toBeNull();
      expect(diskChain(await dom.getXml(), 'vda')).toEqual([base]);
    });
  });

  describe('after a libvirtd restart', () => {
    it('a read-only call on the same Connection reconnects and succeeds', async () => {
      const c = await Connection.open(URI);
      try {
        const before = await c.libvirtVersion();
        await restartLibvirtd();
        expect(await c.libvirtVersion()).toBe(before);
        expect(c.reconnectCount).toBe(1);
        expect(await c.isAlive()).toBe(true);
      } finally {
        await c.close();
      }
    });

    it('a mutating call on the dead socket fails as connection-lost, the next call works', async () => {
      const c = await Connection.open(URI);
      const name = `${TAG}-restart`;
      try {
        await c.libvirtVersion();
        await restartLibvirtd();
        const err = await rejection(c.defineDomain(tinyDomainXml(name)));
        expect(isConnectionLost(err)).toBe(true);
        // not retried: nothing was defined
        expect((await rejection(c.lookupDomain(name))).code).toBe(VIR_ERR_NO_DOMAIN);
        expect(c.reconnectCount).toBe(1);
        const dom = await c.defineDomain(tinyDomainXml(name));
        await dom.undefine();
      } finally {
        await c.close();
      }
    });

    it('the long-lived connection of this file also recovered', async () => {
      expect(await conn.libvirtVersion()).toMatch(/^\d+\.\d+\.\d+$/);
      expect((await rejection(conn.lookupDomain(`${TAG}-missing`))).code).toBe(VIR_ERR_NO_DOMAIN);
    });
  });
});
