/**
 * The pieces a restore is built of, on the host's libvirtd: a second domain defined from a
 * running guest's live XML (restoredDomainXml, new identity) runs beside the original, and
 * an instant restore's mechanics: a domain started on a fresh overlay whose backing is a
 * repository point chain, then pulled flat (pullBacking) while the guest writes, through
 * a caller killed mid-pull, an aborted pull, a domain destroyed mid-pull, and libvirtd
 * restarted while the pull completes. Run under `flock -o /tmp/virtdr-libvirtd.lock`.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connection } from '../../native/index.js';
import { DomainExists, DomainNotFound, HypervisorError } from '../../src/errors.js';
import { imageOwnerUid, parseDomainDisks } from '../../src/libvirt/domain-xml.js';
import type { HypervisorDomain, HypervisorSession } from '../../src/libvirt/hypervisor.js';
import { LibvirtHypervisor } from '../../src/libvirt/libvirt-hypervisor.js';
import { checkImage, imageInfo } from '../../src/qemu/qemu-img.js';
import { restoredDomainXml, type RestoredDisk } from '../../src/restore/restore-xml.js';
import { descendants, getAttr, parseXmlTree } from '../../src/util/xml-tree.js';
import { restartLibvirtd } from '../support/libvirtd.js';
import {
  agentPing,
  buildGuestAssets,
  createTestGuest,
  destroyTestGuest,
  ensureLibvirtd,
  GUEST_READY_MARKER,
  guestExecOk,
  guestSha256,
  guestWriteRandomFile,
  readConsoleLog,
  run,
  virsh,
  waitForAgent,
  type TestGuest,
} from '../support/guest.js';
import { fileLabels, freshOverlay, letQemuRead, makePointChain, sha256File, type PointChain } from '../support/point-chain.js';
import { projectRoot } from '../support/project-root.js';

const URI = 'qemu:///system';
const WORK = '/var/lib/virt-dr-test/restore-pieces';
const ORIGINAL = 'vdr-rp-original';
const COPY = 'vdr-rp-copy';
const INSTANT = 'vdr-rp-instant';
const LABELS = 'vdr-rp-labels';
const BALLAST_MIB = 24;
const DETACHED_PULL = path.join(projectRoot(import.meta.url), 'dist', 'test', 'support', 'detached-pull.js');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const folderOf = (name: string) => path.join(WORK, name);
const never = () => new AbortController().signal;

let original: TestGuest;
let originalLive: string;
let qemuUid: number;
let hypervisor: LibvirtHypervisor;
let session: HypervisorSession;

function macs(xml: string): string[] {
  return parseXmlTree(xml).flatMap((n) => descendants(n, 'mac')).map((m) => getAttr(m, 'address') ?? '');
}

const dmi = async (guest: string, field: string) => (await guestExecOk(guest, ['/bin/cat', `/sys/class/dmi/id/${field}`])).stdout.trim();

const vdaChain = async (domain: HypervisorDomain) => {
  const vda = parseDomainDisks(await domain.xml()).find((d) => d.target === 'vda')!;
  return [vda.source.file, ...vda.backing.map((layer) => layer.file)];
};

/** Every guest file the point chain holds still reads back with its content. */
async function expectPointData(guest: string, chain: PointChain): Promise<void> {
  for (const [file, sha] of Object.entries(chain.guestFiles)) expect(await guestSha256(guest, `/data/${file}`), file).toBe(sha);
}

describe('restore pieces on qemu:///system', () => {
  beforeAll(async () => {
    await ensureLibvirtd();
    const assets = await buildGuestAssets();
    for (const name of [COPY, INSTANT, LABELS]) await destroyTestGuest(name, { workDir: folderOf(name) });
    await rm(WORK, { recursive: true, force: true });
    await mkdir(WORK, { recursive: true });
    original = await createTestGuest({ name: ORIGINAL, nova: true, sysinfo: true, network: true, assets });
    await waitForAgent(ORIGINAL);
    hypervisor = await LibvirtHypervisor.connect(URI, { reconnectTimeoutMs: 60_000 });
    session = await hypervisor.openSession();
    originalLive = await (await session.lookup(ORIGINAL)).xml();
    qemuUid = imageOwnerUid(originalLive) ?? 0;
    expect(qemuUid, 'QEMU runs as an unprivileged user here').toBeGreaterThan(0);
  });

  afterAll(async () => {
    for (const name of [COPY, INSTANT, LABELS]) await destroyTestGuest(name, { workDir: folderOf(name) });
    await original?.destroy();
    await session?.close();
    await hypervisor?.close();
    await rm(WORK, { recursive: true, force: true });
  });

  it('a second domain from the live XML runs beside the original: own UUID, MAC, SMBIOS, console; no Nova metadata', async () => {
    const folder = folderOf(COPY);
    await mkdir(folder, { recursive: true });
    const disk = path.join(folder, 'data.qcow2');
    const written = await guestWriteRandomFile(ORIGINAL, '/data/before-copy.bin', 1 << 20);
    await virsh(['domfsfreeze', ORIGINAL]);
    try {
      await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'qcow2', original.dataDisk, disk]);
    } finally {
      await virsh(['domfsthaw', ORIGINAL]);
    }
    const uuid = randomUUID();
    const identity = { kind: 'new', name: COPY, uuid, folder } as const;
    const copy = await session.define(restoredDomainXml(originalLive, { disks: [{ target: 'vda', file: disk, format: 'qcow2' }], identity }));
    await copy.start();
    await waitForAgent(COPY);

    const theOriginal = await session.lookup(ORIGINAL);
    expect([await theOriginal.runState(), await copy.runState()]).toEqual(['running', 'running']);
    expect([copy.uuid, theOriginal.uuid]).toEqual([uuid, original.uuid]);
    const [originalMacs, copyMacs] = [macs(await theOriginal.xml()), macs(await copy.xml())];
    expect(copyMacs).toHaveLength(1);
    expect(copyMacs[0]).toMatch(/^52:54:00:/);
    expect(originalMacs).not.toContain(copyMacs[0]);
    const persistent = await copy.persistentXml();
    expect(persistent).not.toContain('openstack.org');
    expect(persistent).not.toContain('<sysinfo');
    // What the guests see: the copy is a plain QEMU machine with its own UUID.
    expect([await dmi(ORIGINAL, 'product_uuid'), await dmi(ORIGINAL, 'product_name')]).toEqual([original.uuid, 'OpenStack Nova']);
    expect(await dmi(COPY, 'product_uuid')).toBe(uuid);
    expect(await dmi(COPY, 'product_name')).not.toBe('OpenStack Nova');
    expect(await guestSha256(COPY, '/data/before-copy.bin')).toBe(written);
    expect(await readConsoleLog(path.join(folder, 'console.log'))).toContain(GUEST_READY_MARKER);

    const again = restoredDomainXml(originalLive, { disks: [{ target: 'vda', file: disk, format: 'qcow2' }], identity: { ...identity, uuid: randomUUID() } });
    await expect(session.define(again)).rejects.toBeInstanceOf(DomainExists);

    // The test guest ignores the request (no acpid, no /sbin/shutdown for its agent); it is sent all the same.
    await copy.shutdown();
    await copy.destroy();
    await copy.undefine();
    await expect(session.lookup(COPY)).rejects.toBeInstanceOf(DomainNotFound);
    expect(await (await session.lookup(ORIGINAL)).runState()).toBe('running');
  });

  describe('instant restore: a domain on a fresh overlay of a point chain, pulled flat', () => {
    const final = path.join(folderOf(INSTANT), 'vda.qcow2');
    let chain: PointChain;
    let pointSums: string[];
    let instantXml: string;
    let instant: HypervisorDomain;

    const pointFiles = () => [chain.full, chain.incremental];
    const instantDisk = (): RestoredDisk => ({
      target: 'vda',
      file: final,
      format: 'qcow2',
      backing: [
        { file: chain.incremental, format: 'qcow2' },
        { file: chain.full, format: 'qcow2' },
      ],
    });

    /** The repository as the agent keeps it: content unchanged, still root's, nothing of libvirt's on it. */
    async function expectRepositoryUntouched(): Promise<void> {
      expect(await Promise.all(pointFiles().map(sha256File))).toEqual(pointSums);
      for (const label of await fileLabels(pointFiles())) {
        expect(label).toMatchObject({ uid: 0, gid: 0 });
        expect(label.xattrs.filter((x) => x.startsWith('trusted.libvirt'))).toEqual([]);
      }
    }

    /** Defines and starts the instant domain; returns ms from the define to running. */
    async function defineAndStart(): Promise<number> {
      const t0 = Date.now();
      instant = await session.define(instantXml);
      await instant.start();
      expect(await instant.runState()).toBe('running');
      return Date.now() - t0;
    }

    beforeAll(async () => {
      chain = await makePointChain(WORK, original.uuid, BALLAST_MIB);
      pointSums = await Promise.all(pointFiles().map(sha256File));
      const sizes = await Promise.all(pointFiles().map(async (file) => (await imageInfo(file, 'qcow2')).actualSize >> 20));
      console.log(`[instant] point chain: full ${sizes[0]} MiB, incremental ${sizes[1]} MiB allocated`);
      await freshOverlay(final, chain.incremental);
      instantXml = restoredDomainXml(originalLive, {
        disks: [instantDisk()],
        identity: { kind: 'new', name: INSTANT, uuid: randomUUID(), folder: folderOf(INSTANT) },
      });
    });

    it('QEMU cannot open a point in the 0750 repository without a search ACL entry', async () => {
      const domain = await session.define(instantXml);
      const refused: unknown = await domain.start().then(() => null, (err: unknown) => err);
      await domain.undefine();
      expect(refused).toBeInstanceOf(HypervisorError);
      expect((refused as Error).message).toMatch(/Cannot access backing file .* Permission denied/);
      await expectRepositoryUntouched();
    });

    it('runs within a second of the define, on the chain, with the repository left as it is', async () => {
      await letQemuRead(chain, qemuUid);
      const definedToRunningMs = await defineAndStart();
      console.log(`[instant] define -> running: ${definedToRunningMs} ms`);
      expect(definedToRunningMs).toBeLessThan(5_000);
      expect(await vdaChain(instant)).toEqual([final, chain.incremental, chain.full]);
      await waitForAgent(INSTANT);
      await expectPointData(INSTANT, chain);
      await expectRepositoryUntouched();
    });

    it('a pull outlives its caller: killed mid-pull, QEMU goes on, the next call attaches; writes during the pull survive', async () => {
      const child = spawn(process.execPath, [DETACHED_PULL, URI, INSTANT, 'vda', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      const first = JSON.parse(String((await lines.next()).value)) as { kind: string };
      expect(first.kind).toBe('pull');
      child.kill('SIGKILL');
      await exited;
      const before = (await instant.blockJob('vda'))!;
      await sleep(2_000);
      const after = (await instant.blockJob('vda'))!;
      expect(after.kind).toBe('pull');
      expect(after.cur).toBeGreaterThan(before.cur);
      await expectRepositoryUntouched();

      const t0 = Date.now();
      const seen: number[] = [];
      const finished = (what: string) => (value: unknown) => ({ what, at: Date.now(), value });
      const pulling = instant.pullBacking('vda', { signal: never(), onProgress: (p) => seen.push(p.cur) }).then(finished('pull'));
      const writing = guestWriteRandomFile(INSTANT, '/data/during-pull.bin', 4 << 20).then(finished('write'));
      const [pulled, wrote] = await Promise.all([pulling, writing]);
      const [outcome, written] = [pulled.value, wrote.value as string];
      expect(wrote.at, 'the guest wrote while the pull ran').toBeLessThan(pulled.at);
      const end = (await imageInfo(final, 'qcow2')).virtualSize;
      console.log(`[instant] attached pull: ${Date.now() - t0} ms, ${seen.length} progress samples, last ${seen.at(-1)} of ${end}`);
      expect(outcome).toBe('attached');
      expect(seen.length).toBeGreaterThan(1);
      expect(await vdaChain(instant)).toEqual([final]);
      expect((await imageInfo(final, 'qcow2')).backingFile).toBeNull();
      expect(await guestSha256(INSTANT, '/data/during-pull.bin')).toBe(written);
      await expectPointData(INSTANT, chain);
      await expectRepositoryUntouched();
      expect(await instant.pullBacking('vda', { signal: never() })).toBe('already-flat');
    });

    it('an aborted pull is cancelled and loses nothing; a domain destroyed mid-pull starts again on its chain', async () => {
      await instant.destroy();
      await instant.undefine();
      await freshOverlay(final, chain.incremental);
      console.log(`[instant] define -> running, second time: ${await defineAndStart()} ms`);
      await waitForAgent(INSTANT);
      const written = await guestWriteRandomFile(INSTANT, '/data/before-destroy.bin', 1 << 20);

      const abort = new AbortController();
      let samples = 0;
      const cancelled = new Error('cancelled by the test');
      const onProgress = () => (++samples === 3 ? abort.abort(cancelled) : undefined);
      await expect(instant.pullBacking('vda', { bandwidthMiBps: 1, signal: abort.signal, onProgress })).rejects.toThrow(cancelled.message);
      expect(await instant.blockJob('vda')).toBeNull();
      expect(await vdaChain(instant)).toEqual([final, chain.incremental, chain.full]);
      expect([await instant.runState(), await agentPing(INSTANT)]).toEqual(['running', true]);

      let progressed!: () => void;
      const firstProgress = new Promise<void>((resolve) => (progressed = resolve));
      const pulling = instant.pullBacking('vda', { bandwidthMiBps: 1, signal: never(), onProgress: () => progressed() });
      await firstProgress;
      await sleep(1_000);
      await instant.destroy();
      await expect(pulling).rejects.toThrow();
      const info = await imageInfo(final, 'qcow2');
      expect([info.backingFile, info.backingFormat]).toEqual([chain.incremental, 'qcow2']);
      expect((await checkImage({ file: final, format: 'qcow2' })).ok).toBe(true);
      await expectRepositoryUntouched();

      await instant.start();
      await waitForAgent(INSTANT);
      expect(await guestSha256(INSTANT, '/data/before-destroy.bin')).toBe(written);
      await expectPointData(INSTANT, chain);
    });

    it('a pull that completes while libvirtd is away is found complete', async () => {
      const connection = await Connection.open(URI);
      try {
        await (await connection.lookupDomain(INSTANT)).blockPull('vda', { bandwidthMiBps: 8 });
      } finally {
        await connection.close();
      }
      expect((await instant.blockJob('vda'))?.kind).toBe('pull');
      const restart = await restartLibvirtd({ downMs: 8_000 });
      console.log(`[instant] libvirtd away for ${restart.outageMs} ms during the pull`);
      expect(await instant.pullBacking('vda', { signal: never() })).toBe('already-flat');
      expect(await vdaChain(instant)).toEqual([final]);
      expect((await imageInfo(final, 'qcow2')).backingFile).toBeNull();
      await expectPointData(INSTANT, chain);
      await expectRepositoryUntouched();
      await instant.destroy();
      await instant.undefine();
    });

    it("left to libvirt's DAC labelling, the point files go to QEMU's user and are never given back", async () => {
      await freshOverlay(path.join(folderOf(LABELS), 'vda.qcow2'), chain.incremental);
      const relabelled = restoredDomainXml(originalLive, {
        disks: [{ ...instantDisk(), file: path.join(folderOf(LABELS), 'vda.qcow2') }],
        identity: { kind: 'new', name: LABELS, uuid: randomUUID(), folder: folderOf(LABELS) },
      }).replaceAll('<seclabel model="dac" relabel="no"/>', '');
      const domain = await session.define(relabelled);
      try {
        await domain.start();
        const owners = async () => (await fileLabels(pointFiles())).map((l) => `${l.uid}:${l.gid}`);
        const qemu = `${qemuUid}:${qemuUid}`;
        expect(await owners()).toEqual([qemu, qemu]);
        const t0 = Date.now();
        expect(await domain.pullBacking('vda', { signal: never() })).toBe('pulled');
        console.log(`[instant] unthrottled pull of the whole chain: ${Date.now() - t0} ms`);
        expect(await owners()).toEqual([qemu, qemu]);
        await domain.destroy();
        expect(await owners()).toEqual([qemu, qemu]);
        expect(await Promise.all(pointFiles().map(sha256File))).toEqual(pointSums);
      } finally {
        for (const file of pointFiles()) await chown(file, 0, 0);
        await domain.undefine().catch(() => undefined);
      }
    });
  });
});
