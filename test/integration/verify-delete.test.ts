import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, type JobView, type PointView } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestWithBallast, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { guestWriteRandomFile, run, type TestGuest } from '../support/guest.js';
import { finishedJob } from '../support/restore-api.js';

/**
 * verify and delete_backup through the bus, on points a real guest's backups made. In a
 * chain of four, deleting the first, a middle and the last point leaves every other point
 * with the same flattened content; verify finds a flipped byte and a parent removed by
 * hand; a SIGKILL of the agent during a merge leaves a repository that verifies.
 */
interface VerifyView {
  points: { backup_id: string | null; status: string; problems: string[] }[];
  ok: number;
  corrupt: number;
  missing: number;
}

describe('verify and delete_backup', () => {
  const name = 'vdr-verify-delete';
  const agent = new AgentProcess('verify-delete', '/var/lib/virt-dr-test/verify-delete');
  let client: RpcClient;
  let guest: TestGuest;
  const chain: PointView[] = [];
  const flattened = new Map<string, string>();

  beforeAll(async () => {
    ({ client, guest } = await startGuestWithBallast(agent, { name, ballastMiB: 96, spareMiB: 64, nova: true }));
    for (const file of ['b', 'c', 'd', 'e']) {
      chain.push(await backupPoint(client, name));
      await guestWriteRandomFile(name, `/data/${file}.bin`, 2 << 20);
    }
    for (const point of chain) flattened.set(point.backup_id, await flatSha(point));
  }, 600_000);
  afterAll(() => stopGuestAndAgent(agent, name, client));

  const pointDir = (id: string) => path.join(agent.repoPath, guest.uuid, id);

  /** The sha256 of a point's disk as the guest would read it: its chain flattened to raw. */
  async function flatSha(point: Pick<PointView, 'backup_id'>): Promise<string> {
    const out = path.join(agent.workDir, `flat-${point.backup_id}.raw`);
    await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', path.join(pointDir(point.backup_id), 'vda.qcow2'), out], { timeoutMs: 300_000 });
    try {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(out)) hash.update(chunk as Buffer);
      return hash.digest('hex');
    } finally {
      await rm(out, { force: true });
    }
  }

  async function verify(backupId: string | null = null): Promise<VerifyView> {
    const job = await finishedJob<VerifyView>(client, 'verify', { domain: name, backup_id: backupId });
    expect(job.state, job.error?.message).toBe('succeeded');
    return job.result!;
  }

  async function remove(backupId: string): Promise<JobView> {
    const job = await finishedJob<PointView>(client, 'delete_backup', { domain: name, backup_id: backupId });
    expect(job.state, job.error?.message).toBe('succeeded');
    return job as JobView;
  }

  async function listed(): Promise<PointView[]> {
    return (await client.call<{ backups: PointView[] }>('list_backups', { domain: name })).backups;
  }

  async function expectOthersUnchanged(): Promise<void> {
    for (const point of await listed()) expect(await flatSha(point), point.backup_id).toBe(flattened.get(point.backup_id));
  }

  it('verifies a fresh chain of four as ok', async () => {
    expect(await verify()).toMatchObject({ ok: 4, corrupt: 0, missing: 0 });
  }, 300_000);

  it('deletes a middle point: its child takes its data and the others read the same', async () => {
    await remove(chain[1]!.backup_id);
    const points = await listed();
    expect(points.map((p) => p.backup_id)).toEqual([chain[0], chain[2], chain[3]].map((p) => p!.backup_id));
    expect(points[1]!.parent).toBe(chain[0]!.backup_id);
    await expectOthersUnchanged();
    expect(await verify()).toMatchObject({ ok: 3, corrupt: 0, missing: 0 });
  }, 300_000);

  it('deletes the first point: its child becomes a full with the same content', async () => {
    await remove(chain[0]!.backup_id);
    const points = await listed();
    expect(points[0]).toMatchObject({ backup_id: chain[2]!.backup_id, mode: 'full', parent: null });
    await expectOthersUnchanged();
  }, 300_000);

  it('deletes the last point; the next backup is a full', async () => {
    await remove(chain[3]!.backup_id);
    expect((await listed()).map((p) => p.backup_id)).toEqual([chain[2]!.backup_id]);
    await expectOthersUnchanged();
    const next = await backupPoint(client, name);
    expect(next.mode).toBe('full');
  }, 300_000);

  it('finds a flipped byte and a parent removed by hand', async () => {
    const [kept, newest] = await listed();
    const incremental = await backupPoint(client, name);
    expect(incremental.parent).toBe(newest!.backup_id);
    const file = path.join(pointDir(kept!.backup_id), 'vda.qcow2');
    const handle = await open(file, 'r+');
    try {
      const { buffer } = await handle.read(Buffer.alloc(1), 0, 1, 1 << 20);
      await handle.write(Buffer.from([buffer[0]! ^ 0xff]), 0, 1, 1 << 20);
    } finally {
      await handle.close();
    }
    await rm(pointDir(newest!.backup_id), { recursive: true });
    const report = await verify();
    const status = Object.fromEntries(report.points.map((p) => [p.backup_id, p.status]));
    expect(status).toEqual({ [kept!.backup_id]: 'corrupt', [incremental.backup_id]: 'missing' });
    expect(report).toMatchObject({ ok: 0, corrupt: 1, missing: 1 });
    await rm(pointDir(kept!.backup_id), { recursive: true });
    await rm(pointDir(incremental.backup_id), { recursive: true });
  }, 300_000);

  it('a SIGKILL during a merge leaves a repository that verifies, with the same content', async () => {
    const points = [await backupPoint(client, name)];
    await guestWriteRandomFile(name, '/data/f.bin', 2 << 20);
    points.push(await backupPoint(client, name));
    for (const point of points) flattened.set(point.backup_id, await flatSha(point));
    const { job_id } = await client.call<{ job_id: string }>('delete_backup', { domain: name, backup_id: points[0]!.backup_id });
    const child = pointDir(points[1]!.backup_id);
    for (let i = 0; i < 2000 && !(await readdir(child)).some((f) => f.endsWith('.virtdr-merge')); i++) await new Promise((r) => setTimeout(r, 5));
    await agent.kill('SIGKILL');
    await agent.start();
    client = await agent.client();
    const job = await client.call<JobView>('get_job', { job_id });
    expect(job.state).toBe('failed');
    expect(job.error?.class).toBe('AgentRestarted');
    expect(await verify()).toMatchObject({ corrupt: 0, missing: 0 });
    await expectOthersUnchanged();
    expect((await readdir(child)).filter((f) => f.includes('virtdr-merge'))).toEqual([]);
  }, 300_000);
});
