import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import type { EngineName } from '../../src/repo/point.js';
import { backupPoint, diskChain, type PointView } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { domainState, guestExec, guestSha256, guestWriteRandomFile, virsh, waitForAgent, type TestGuest } from '../support/guest.js';
import { phasesOf } from '../support/job-phases.js';
import { finishedJob, macsOf, removeRestoredCopy, restored, type RestoreView } from '../support/restore-api.js';

/**
 * Normal restore, both engines, on a real guest: a replace gives back the data disk as it
 * was at the point, byte for byte, from a full and from an incremental three deep, over a
 * running domain and over one the host lost; a restore as new runs beside the original.
 * The checkpoint engine's guest is a Nova instance: the restored disk stays at Nova's path.
 */
const ENGINES: EngineName[] = ['checkpoint', 'snapshot'];
const FILE = 1 << 20;

describe.each(ENGINES)('restore (%s engine)', (engine) => {
  const name = `vdr-restore-${engine}`;
  const copyName = `${name}-copy`;
  const agent = new AgentProcess(`restore-${engine}`, `/var/lib/virt-dr-test/restore-${engine}`, {
    VIRT_DR_BACKUP_ENGINE: engine,
    VIRT_DR_RESTORE_SHUTDOWN_GRACE_S: '3',
    VIRT_DR_RESTORE_NEW_DOMAIN_DIR: `/var/lib/virt-dr-test/restore-${engine}/new-domains`,
  });
  let client: RpcClient;
  let guest: TestGuest;
  /** What /data/<file> held at each point. */
  const states: { point: PointView; files: Record<string, string> }[] = [];
  let copy: RestoreView | null = null;

  beforeAll(async () => {
    ({ client, guest } = await startGuestAndAgent(agent, { name, dataDiskMiB: 64, nova: engine === 'checkpoint' }));
    await removeRestoredCopy(copyName, null);
    // A full, then three incrementals, each adding one file.
    const files: Record<string, string> = {};
    for (const file of ['a', 'b', 'c', 'd']) {
      files[file] = await guestWriteRandomFile(name, `/data/${file}.bin`, FILE);
      states.push({ point: await backupPoint(client, name), files: { ...files } });
    }
    expect(states.map((s) => s.point.mode)).toEqual(['full', 'incremental', 'incremental', 'incremental']);
  }, 300_000);
  afterAll(async () => {
    await removeRestoredCopy(copyName, copy);
    await stopGuestAndAgent(agent, name, client);
  });

  /** The guest's data files now, by name; a missing file reads as null. */
  async function dataFiles(domain: string): Promise<Record<string, string | null>> {
    const found: Record<string, string | null> = {};
    for (const file of ['a', 'b', 'c', 'd']) {
      const exists = (await guestExec(domain, ['/bin/test', '-e', `/data/${file}.bin`])).exitCode === 0;
      found[file] = exists ? await guestSha256(domain, `/data/${file}.bin`) : null;
    }
    return found;
  }

  const expected = (files: Record<string, string>) => ({ a: null, b: null, c: null, d: null, ...files });

  /** A restore that must succeed, and the phases its progress notifications named. */
  async function restoredWithPhases(backupId: string): Promise<{ result: RestoreView; phases: string[]; lastPhase: unknown }> {
    const { client: watcher, events } = await agent.watchingClient();
    onTestFinished(() => watcher.close());
    const job = await finishedJob<RestoreView>(client, 'restore', { domain: name, backup_id: backupId });
    expect(job.state, job.error?.message).toBe('succeeded');
    const view = await client.call<{ progress: { phase: unknown } }>('get_job', { job_id: job.job_id });
    return { result: job.result!, phases: await phasesOf(events, job.job_id), lastPhase: view.progress.phase };
  }

  it('replaces a running domain with an incremental three deep, byte for byte, at the same path; reports its phases', async () => {
    const { point, files } = states[3]!;
    await guestWriteRandomFile(name, '/data/a.bin', FILE); // changed after the point
    const { result, phases, lastPhase } = await restoredWithPhases(point.backup_id);
    expect(phases).toEqual(['copying', 'stopping', 'defining', 'starting']);
    expect(lastPhase).toBe('starting');
    expect(result).toMatchObject({ target: 'replace', instant: false, domain: name, domain_uuid: guest.uuid });
    expect(await domainState(name)).toBe('running');
    await waitForAgent(name);
    expect(await dataFiles(name)).toEqual(expected(files));
    // The owner's file, flat: not the snapshot engine's overlay, nothing of the repository.
    expect(await diskChain(name)).toEqual([guest.dataDisk]);
    expect(await virsh(['domuuid', name])).toBe(guest.uuid);
  }, 300_000);

  it('replaces with the full: later files are gone, and the next backup is a full', async () => {
    const { point, files } = states[0]!;
    await restored(client, name, point.backup_id);
    await waitForAgent(name);
    expect(await dataFiles(name)).toEqual(expected(files));
    const next = await backupPoint(client, name);
    expect(next.mode).toBe('full');
    expect(next.reason).toEqual(expect.any(String));
  }, 300_000);

  it('replaces a shut-off domain, which stays off (so neither stopped nor started)', async () => {
    const { point, files } = states[1]!;
    await virsh(['destroy', name]);
    expect((await restoredWithPhases(point.backup_id)).phases).toEqual(['copying', 'defining']);
    expect(await domainState(name)).toBe('shut off');
    await virsh(['start', name]);
    await waitForAgent(name);
    expect(await dataFiles(name)).toEqual(expected(files));
  }, 300_000);

  it('restores a domain the host lost (undefined, its disk gone), by name', async () => {
    const { point, files } = states[2]!;
    await virsh(['destroy', name]);
    await virsh(['undefine', name]);
    await rm(guest.dataDisk, { force: true });
    const result = await restored(client, name, point.backup_id);
    expect(result.domain_uuid).toBe(guest.uuid);
    await waitForAgent(name);
    expect(await dataFiles(name)).toEqual(expected(files));
    expect(await virsh(['domuuid', name])).toBe(guest.uuid);
  }, 300_000);

  it('restores as a new domain that runs beside the original', async () => {
    const { point, files } = states[1]!;
    const original = await dataFiles(name);
    copy = await restored(client, name, point.backup_id, { target: 'new', new_name: copyName });
    expect(copy.domain).toBe(copyName);
    expect(copy.domain_uuid).not.toBe(guest.uuid);
    expect(await domainState(copyName)).toBe('running');
    expect(await domainState(name)).toBe('running');
    const [macs, copyMacs] = [await macsOf(name), await macsOf(copyName)];
    expect(copyMacs.length).toBe(macs.length);
    expect(copyMacs.some((m) => macs.includes(m))).toBe(false);
    expect(await virsh(['dumpxml', copyName])).not.toMatch(/openstack\.org\/xmlns\/libvirt\/nova/);
    await waitForAgent(copyName);
    expect(await dataFiles(copyName)).toEqual(expected(files));
    expect(await dataFiles(name)).toEqual(original);
  }, 300_000);

  // Once is enough for the CLI and the notifications: they do not depend on the engine.
  if (engine === 'checkpoint') it('virt-dr restores with a progress bar, verifies and removes; notifications carry timings and bytes', async () => {
    const { events, client: watcher } = await agent.watchingClient();
    try {
      const { point, files } = states[3]!;
      const restore = await agent.cli(['restore', name, point.backup_id, '--wait']);
      // The phases on their own lines, the bytes up to 100 %, then the result.
      expect(restore.stdout).toMatch(/^restore of .*: phase copying$(.|\n)*^restore of .*: phase starting$/m);
      expect(restore.stdout).toMatch(/^restore of .*: 100 % .* succeeded in /m);
      expect(restore.stdout).toMatch(new RegExp(`^backup_id +${point.backup_id}$`, 'm'));
      await waitForAgent(name);
      expect(await dataFiles(name)).toEqual(expected(files));
      expect((await agent.cli(['verify', name])).stdout).toMatch(/^corrupt +0\nmissing +0$/m);
      expect((await agent.cli(['rm', name, states[1]!.point.backup_id])).stdout).toMatch(/^places:\n +PLACE +MERGED_INTO/m);

      const payload = (type: string) => events.find((e) => e.event_type === type)?.payload as { result: Record<string, unknown> } | undefined;
      await vi.waitFor(() => expect(payload('virt_dr.delete.end')).toBeDefined(), { timeout: 10_000 });
      expect(payload('virt_dr.restore.end')?.result).toMatchObject({
        duration_ms: expect.any(Number),
        time_to_running_ms: expect.any(Number),
        bytes: point.disks[0]!.virtual_size,
      });
      expect(events.some((e) => e.event_type === 'virt_dr.restore.progress')).toBe(true);
      expect(payload('virt_dr.verify.end')?.result).toMatchObject({ ok: expect.any(Number), corrupt: 0, missing: 0, bytes_read: expect.any(Number) });
      expect(payload('virt_dr.delete.end')?.result).toMatchObject({ duration_ms: expect.any(Number), places: [{ place: 'local', bytes_written: expect.any(Number) }] });
    } finally {
      await watcher.close();
    }
  }, 300_000);
});
