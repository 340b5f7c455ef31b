import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, diskChain, pointFile, type JobView, type PointView } from '../support/backup-api.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess, SNAPSHOT_ENGINE } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { parsePrometheusText, valueOf } from '../support/prometheus-text.js';
import {
  domainState,
  guestWriteRandomFile,
  heartbeatCount,
  readFileFromQcow2,
  run,
  virsh,
  type TestGuest,
} from '../support/guest.js';

const GUEST = 'vdr-e2e';
const agent = new AgentProcess('e2e', '/var/lib/virt-dr-test/e2e', SNAPSHOT_ENGINE);
let guest: TestGuest;
let client: RpcClient;
let metricsPort: number;

const backup = (args: Record<string, unknown> = {}) => backupPoint(client, GUEST, args);
const chainOf = () => diskChain(GUEST);
const fileOf = (point: PointView) => pointFile(agent.repoPath, point);

describe('backup over the bus, end to end, on a running guest', () => {
  beforeAll(async () => {
    metricsPort = await freePort();
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 256 }, { VIRT_DR_METRICS_PORT: String(metricsPort) }));
  });

  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  let full: PointView;
  let heartbeatsBefore: number;

  it('takes a full backup while the guest runs, leaving a base plus one overlay', async () => {
    heartbeatsBefore = await heartbeatCount(GUEST);
    full = await backup();
    expect(full.mode).toBe('full');
    expect(full.parent).toBeNull();
    expect(full.quiesce).toBe('agent');
    expect(full.disks[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The file in the repository is what the manifest says it is.
    const bytes = await readFile(fileOf(full));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(full.disks[0]!.sha256);

    const chain = await chainOf();
    expect(chain).toHaveLength(2);
    expect(chain[1]).toBe(guest.dataDisk);
    expect(chain[0]).toMatch(/\.virtdr-.*\.qcow2$/);
    expect(await domainState(GUEST)).toBe('running');
  });

  let written: { sha256: string; bytes: number };
  let incremental: PointView;

  it('takes an incremental about the size of what the guest wrote', async () => {
    const bytes = 8 << 20;
    written = { sha256: await guestWriteRandomFile(GUEST, '/data/known.bin', bytes), bytes };
    incremental = await backup();
    expect(incremental.mode).toBe('incremental');
    expect(incremental.parent).toBe(full.backup_id);
    // The overlay holds the 8 MiB file plus ext4 metadata and the heartbeat's writes.
    expect(incremental.bytes).toBeGreaterThan(bytes);
    expect(incremental.bytes).toBeLessThan(bytes + (4 << 20));
    expect(incremental.bytes).toBeLessThan(full.disks[0]!.virtual_size / 10);
    console.log(`[e2e] guest wrote ${bytes} bytes; incremental stored ${incremental.bytes} bytes (${(incremental.bytes / bytes).toFixed(3)}x)`);

    const chain = await chainOf();
    expect(chain).toHaveLength(2);
    expect(chain[1]).toBe(guest.dataDisk);
    expect(chain[0]).toContain(incremental.backup_id);
    // The frozen overlay was merged and deleted.
    const images = await readdir(path.dirname(guest.dataDisk));
    expect(images.filter((f) => f.includes('.virtdr-'))).toEqual([path.basename(chain[0]!)]);
  });

  it('restores the incremental with plain qemu-img: the file holds the right bytes', async () => {
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', fileOf(incremental)])).stdout) as {
      'backing-filename': string;
    };
    expect(info['backing-filename']).toBe(`../${full.backup_id}/vda.qcow2`);
    const content = await readFileFromQcow2(fileOf(incremental), '/known.bin');
    expect(content.length).toBe(written.bytes);
    expect(createHash('sha256').update(content).digest('hex')).toBe(written.sha256);
    // The full alone predates the file.
    await expect(readFileFromQcow2(fileOf(full), '/known.bin')).rejects.toThrow();
  });

  it('keeps the guest running and writing, with a short freeze, over ten backups', async () => {
    const freezes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const point = await backup();
      expect(point.mode).toBe('incremental');
      expect(point.quiesce).toBe('agent');
      freezes.push(point.freeze_ms);
      expect(await chainOf()).toHaveLength(2);
    }
    const sorted = [...freezes].sort((a, b) => a - b);
    const median = (sorted[4]! + sorted[5]!) / 2;
    console.log(`[e2e] freeze window over 10 backups: median ${median} ms, max ${sorted.at(-1)} ms (${freezes.join(', ')})`);
    expect(await domainState(GUEST)).toBe('running');
    expect(await heartbeatCount(GUEST)).toBeGreaterThan(heartbeatsBefore);
    const { backups } = await client.call<{ backups: PointView[] }>('list_backups', { domain: GUEST });
    expect(backups).toHaveLength(12);
    expect(backups.map((b) => b.backup_id)).toEqual([...backups.map((b) => b.backup_id)].sort());
  });

  it('counts those backups per domain in /metrics, and each freeze in the histogram', async () => {
    const families = parsePrometheusText(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
    const domain = { domain: GUEST, domain_uuid: guest.uuid };
    expect(valueOf(families, 'virt_dr_domain_backups_total', { ...domain, state: 'succeeded' })).toBe(12);
    expect(valueOf(families, 'virt_dr_domain_backups_total', { ...domain, state: 'failed' })).toBeUndefined();
    expect(valueOf(families, 'virt_dr_freeze_seconds', { quiesce: 'agent' }, 'virt_dr_freeze_seconds_count')).toBe(12);
  });

  it('answers get_backup, get_job and list_jobs', async () => {
    const point = await client.call<PointView>('get_backup', { domain: guest.uuid, backup_id: incremental.backup_id });
    expect(point).toMatchObject({ backup_id: incremental.backup_id, mode: 'incremental' });
    const { job_id } = await client.call<{ job_id: string }>('backup', { domain: GUEST, mode: 'full' });
    const { jobs } = await client.call<{ jobs: JobView[] }>('list_jobs', {});
    expect(jobs.map((j) => j.job_id)).toContain(job_id);
    let job: JobView;
    do {
      await new Promise((r) => setTimeout(r, 500));
      job = await client.call<JobView>('get_job', { job_id });
    } while (job.state === 'queued' || job.state === 'running');
    expect(job.state).toBe('succeeded');
    expect(job.result?.mode).toBe('full');
    expect((await stat(fileOf(job.result!))).size).toBeGreaterThan(0);
  });

  it("never commits an operator's own snapshot: a full goes on top, the operator's layers stay", async () => {
    const before = await chainOf();
    const operatorLayer = path.join(path.dirname(guest.dataDisk), 'operator-snapshot.qcow2');
    await virsh(['snapshot-create-as', GUEST, 'operator', '--disk-only', '--atomic', '--no-metadata', '--diskspec', `vda,file=${operatorLayer}`]);

    const refused = await client.call<JobView>('backup', { domain: GUEST, mode: 'incremental', wait: true }, { timeoutMs: 120_000 });
    expect(refused.state).toBe('failed');
    expect(refused.error?.class).toBe('ChainMismatch');
    expect(await chainOf()).toEqual([operatorLayer, ...before]);

    const full = await backup();
    expect(full.mode).toBe('full');
    const after = await chainOf();
    expect(after.slice(1)).toEqual([operatorLayer, ...before]);
    expect(after[0]).toContain(full.backup_id);

    // The chain the agent follows now starts above the operator's layer.
    const next = await backup();
    expect(next.mode).toBe('incremental');
    expect((await chainOf()).slice(1)).toEqual([operatorLayer, ...before]);
  });

  it('the virt-dr CLI backs up with --wait, drawing progress from the notifications', async () => {
    const { events, client: watcher } = await agent.watchingClient();
    await guestWriteRandomFile(GUEST, '/data/cli.bin', 4 << 20);
    const cli = (args: string[]) => agent.cli(args);
    const { stdout } = await cli(['backup', GUEST, '--wait']);
    // Without a terminal: a line per 10 % at most, ending at 100 %, then the point.
    expect(stdout).toMatch(/^backup of vdr-e2e: job [0-9a-f-]{36}$(.|\n)*^backup of vdr-e2e: 100 % .* succeeded in /m);
    expect(stdout).toMatch(/^mode +incremental$/m);
    const listing = (await cli(['ls', GUEST])).stdout.trim().split('\n');
    expect(listing[0]).toMatch(/^ID +MODE +ENGINE/);
    expect(listing.length).toBeGreaterThanOrEqual(14);
    expect(listing.at(-1)).toMatch(/ incremental /);

    // Progress notifications carry bytes done, bytes total and the rate.
    const progress = events.filter((e) => e.event_type === 'virt_dr.backup.progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)?.payload).toMatchObject({ bytes_done: expect.any(Number), bytes_total: expect.any(Number), rate_bytes_per_s: expect.any(Number) });
    expect(events.map((e) => e.event_type)).toEqual(expect.arrayContaining(['virt_dr.backup.start', 'virt_dr.backup.end']));
    await watcher.close();
  });
});
