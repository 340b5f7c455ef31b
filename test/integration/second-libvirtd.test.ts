import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../native/index.js';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess } from '../support/agent-process.js';
import { backupPoint, pointFile } from '../support/backup-api.js';
import { createTestGuest, defaultWorkDir, destroyTestGuest, domainState, ensureLibvirtd, guestExec, guestExecOk, heartbeatCount, readFileFromQcow2, run, virsh, waitForAgent, type TestGuest } from '../support/guest.js';
import { ensureRabbit } from '../support/rabbit.js';
import { drLibvirtdSocket, drLibvirtdUri, namespaceProcesses, startDrLibvirtd, type DrLibvirtd } from '../support/second-libvirtd.js';

/**
 * A second libvirtd beside the host's, the DR node's hypervisor for failback tests: while
 * the host's libvirtd runs a test guest, the second runs a guest of the same name and UUID
 * from its own copy of the disk. Each side sees only its own; the second's guest agent
 * answers through its URI, from virsh and from native/; a start cleans up what a killed
 * run left; stopping it leaves the host's libvirtd and guest as they were.
 * Run it under `flock -o /tmp/virtdr-libvirtd.lock`: it starts guests.
 */
const WORK = '/var/lib/virt-dr-test/second-libvirtd';
const NAME = 'vdr-second-libvirtd';
const DR_DISKS = defaultWorkDir(`${NAME}-dr`);
const DR_DISK = path.join(DR_DISKS, 'data.qcow2');
const DR_WORK = path.join(WORK, 'dr');
/** An agent on the DR node's hypervisor: only its URI differs. */
const drAgent = new AgentProcess('second-libvirtd', path.join(WORK, 'agent'), { VIRT_DR_LIBVIRT_URI: drLibvirtdUri(DR_WORK) });

const readPid = async (file: string) => Number((await readFile(file, 'utf8')).trim());

describe('a second libvirtd on this machine', () => {
  let dr: DrLibvirtd;
  let home: TestGuest;
  let client: RpcClient | undefined;

  /** What must not change on the host's side: its libvirtd's pid and its guest's QEMU pid. */
  const hostPids = async () => ({ libvirtd: await readPid('/run/libvirtd.pid'), qemu: await readPid(`/run/libvirt/qemu/${NAME}.pid`) });

  /**
   * Defines and starts the home guest's twin on the second libvirtd: the same XML (so the
   * same name and UUID) over a copy of its disk, kernel and initrd. The copy of a running
   * disk is crash-consistent; the guest's ext4 replays its journal. Its own kernel and
   * initrd, because libvirt relabels (chowns) them while a guest runs, and a QEMU killed
   * behind libvirt's back (the leftover test) would leave shared ones relabelled.
   */
  async function startTwin(): Promise<number> {
    await rm(DR_DISKS, { recursive: true, force: true });
    await mkdir(DR_DISKS, { recursive: true, mode: 0o755 });
    await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'qcow2', home.dataDisk, DR_DISK]);
    const kernel = path.join(DR_DISKS, 'vmlinuz');
    const initrd = path.join(DR_DISKS, 'initramfs.img');
    await copyFile(home.kernel, kernel);
    await copyFile(home.initrd, initrd);
    const xmlFile = path.join(DR_DISKS, 'domain.xml');
    await writeFile(xmlFile, home.xml.replaceAll(home.workDir, DR_DISKS).replace(home.kernel, kernel).replace(home.initrd, initrd));
    const t0 = Date.now();
    await virsh(['define', xmlFile], { uri: dr.uri });
    await virsh(['start', NAME], { uri: dr.uri, timeoutMs: 120_000 });
    return Date.now() - t0;
  }

  beforeAll(async () => {
    await Promise.all([ensureLibvirtd(), ensureRabbit(), drAgent.reset()]);
    home = await createTestGuest({ name: NAME, dataDiskMiB: 16, memoryMiB: 128 });
    await waitForAgent(NAME);
    dr = await startDrLibvirtd(DR_WORK);
    console.log(`second libvirtd: answering ${dr.startMs} ms after its start`);
  });

  afterAll(async () => {
    await client?.close();
    await drAgent.stop();
    await drAgent.discard();
    await dr?.stop();
    await rm(DR_DISKS, { recursive: true, force: true });
    await destroyTestGuest(NAME);
  });

  it('runs a guest of the same name and UUID from its own disk beside the host\'s guest; each side sees only its own', async () => {
    const startMs = await startTwin();
    const agentMs = await waitForAgent(NAME, 120_000, { uri: dr.uri });
    console.log(`second libvirtd: define + start ${startMs} ms, then the guest agent answered after ${agentMs} ms`);
    const sides = [{ uri: undefined, disk: home.dataDisk }, { uri: dr.uri, disk: DR_DISK }];
    for (const { uri, disk } of sides) {
      expect(await domainState(NAME, { uri })).toBe('running');
      expect(await virsh(['domuuid', NAME], { uri })).toBe(home.uuid);
      expect(await virsh(['domblklist', NAME], { uri })).toContain(disk);
    }
    // Its libvirtd runs on CPU 0 only (second-libvirtd.sh); its QEMU gets every CPU, as the host's does.
    const cpus = async (pidFile: string) => /Cpus_allowed_list:\s*(\S+)/.exec(await readFile(`/proc/${await readPid(pidFile)}/status`, 'utf8'))?.[1];
    expect(await cpus(path.join(dr.workDir, 'run', 'libvirt', 'qemu', `${NAME}.pid`))).toBe(await cpus(`/run/libvirt/qemu/${NAME}.pid`));
    // The host may run other helpers' domains; the second runs only its own.
    expect((await virsh(['list', '--all', '--name'], { uri: dr.uri })).split('\n')).toEqual([NAME]);
    expect((await virsh(['list', '--all', '--name'])).split('\n').filter((n) => n === NAME)).toHaveLength(1);
    // The guest agent behind the second URI is the twin's: what it writes, the home guest has not.
    await guestExecOk(NAME, ['/bin/sh', '-c', 'echo dr > /data/side'], { uri: dr.uri });
    expect((await guestExecOk(NAME, ['/bin/cat', '/data/side'], { uri: dr.uri })).stdout).toBe('dr\n');
    expect((await guestExec(NAME, ['/bin/test', '-e', '/data/side'])).exitCode).not.toBe(0);
  }, 300_000);

  it('is reachable through native/ with its URI, guest agent calls included', async () => {
    const conn = await Connection.open(dr.uri);
    try {
      const twin = await conn.lookupDomain(NAME);
      expect(twin.uuid).toBe(home.uuid);
      expect(await twin.getXml()).toContain(DR_DISK);
      expect(await twin.fsFreeze(10)).toBeGreaterThan(0);
      expect(await twin.fsThaw(10)).toBeGreaterThan(0);
      expect((await conn.listAllDomains()).map((d) => d.name)).toEqual([NAME]);
    } finally {
      await conn.close();
    }
  });

  it('serves an agent started with its URI in VIRT_DR_LIBVIRT_URI: a backup is the twin\'s', async () => {
    await drAgent.start();
    client = await drAgent.client();
    const point = await backupPoint(client, NAME);
    expect(point).toMatchObject({ domain_uuid: home.uuid, engine: 'checkpoint', quiesce: 'agent' });
    expect((await readFileFromQcow2(pointFile(drAgent.repoPath, point), '/side')).toString()).toBe('dr\n');
  });

  it('starts clean over what a killed run left: its guest\'s QEMU, pid files and sockets; the host\'s side is untouched', async () => {
    const before = await hostPids();
    const left = await namespaceProcesses(dr.workDir);
    // A run killed hard: both daemons die at once, the twin's QEMU runs on, their files stay.
    const daemons = [await readPid(path.join(dr.workDir, 'run', 'libvirtd.pid')), await readPid(path.join(dr.workDir, 'run', 'virtlogd.pid'))];
    expect(left).toEqual(expect.arrayContaining(daemons));
    for (const pid of daemons) process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while ((await namespaceProcesses(dr.workDir)).some((pid) => daemons.includes(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const orphans = await namespaceProcesses(dr.workDir);
    expect(orphans.length, 'the twin\'s QEMU outlives its daemons').toBeGreaterThan(0);
    expect(orphans.some((pid) => daemons.includes(pid))).toBe(false);
    await stat(drLibvirtdSocket(dr.workDir)); // stale, with its pid files

    dr = await startDrLibvirtd(dr.workDir);
    const now = await namespaceProcesses(dr.workDir);
    expect(now.filter((pid) => left.includes(pid))).toEqual([]);
    expect(await virsh(['list', '--all', '--name'], { uri: dr.uri })).toBe('');
    expect(await hostPids()).toEqual(before);
    await waitForAgent(NAME, 10_000);
  }, 120_000);

  it('stops everything of its own and nothing of the host\'s', async () => {
    await startTwin();
    const before = await hostPids();
    const beats = await heartbeatCount(NAME);
    await dr.stop();
    expect(await namespaceProcesses(dr.workDir)).toEqual([]);
    await expect(virsh(['uri'], { uri: dr.uri, timeoutMs: 5_000 })).rejects.toThrow();
    expect(await hostPids()).toEqual(before);
    expect(await domainState(NAME)).toBe('running');
    await waitForAgent(NAME, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await heartbeatCount(NAME)).toBeGreaterThan(beats);
    expect(await virsh(['domblklist', NAME])).toContain(home.dataDisk);
  }, 120_000);
});
