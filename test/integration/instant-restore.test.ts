import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, type JobView, type PointView } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestWithBallast, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { domainState, guestSha256, guestWriteRandomFile, run, virsh, waitForAgent, type TestGuest } from '../support/guest.js';
import { phasesOf } from '../support/job-phases.js';
import { removeRestoredCopy, type RestoreView } from '../support/restore-api.js';

/**
 * Instant restore on a real guest (a Nova instance, so the checkpoint engine): the domain
 * runs on an overlay over the repository point long before the throttled background copy
 * ends; the guest writes meanwhile; the copy ends with the disk at Nova's path, reading
 * nothing from the repository, the point's data and the guest's writes both intact, and
 * the repository unchanged. A cancel and a SIGKILL of the agent mid-copy lose nothing:
 * the guest runs on, and a resume (by request, or the agent's next start) finishes.
 */
const BALLAST_MIB = 384;
const COPY_MIB_S = 16;

describe('instant restore', () => {
  const name = 'vdr-instant';
  const agent = new AgentProcess('instant', '/var/lib/virt-dr-test/instant', {
    VIRT_DR_RESTORE_SHUTDOWN_GRACE_S: '0',
    VIRT_DR_RESTORE_INSTANT_BANDWIDTH_MIB_S: String(COPY_MIB_S),
  });
  let client: RpcClient;
  let guest: TestGuest;
  let point: PointView;
  let ballast: string;
  let repository: Record<string, string>;
  let labels: Record<string, string>;

  beforeAll(async () => {
    ({ client, guest } = await startGuestWithBallast(agent, { name, ballastMiB: BALLAST_MIB, spareMiB: 64, nova: true }));
    ballast = await guestSha256(name, '/data/ballast.bin');
    point = await backupPoint(client, name);
    repository = await repositoryDigests();
    labels = await repositoryLabels();
  }, 600_000);
  afterAll(() => stopGuestAndAgent(agent, name, client));

  /**
   * Owner, mode and extended attributes of each point file: an ACL is the xattr
   * system.posix_acl_access, libvirt's DAC labels are trusted.libvirt.security.*.
   */
  async function repositoryLabels(): Promise<Record<string, string>> {
    const folder = path.join(agent.repoPath, guest.uuid);
    const files = (await readdir(folder, { recursive: true })).filter((f) => f.endsWith('.qcow2')).map((f) => path.join(folder, f));
    const script = 'import os, sys\nfor f in sys.argv[1:]:\n  st = os.stat(f)\n  print(f, st.st_uid, st.st_gid, oct(st.st_mode & 0o7777), " ".join(sorted(os.listxattr(f))))';
    const lines = (await run('python3', ['-c', script, ...files])).stdout.trim().split('\n');
    return Object.fromEntries(lines.map((line) => [line.split(' ')[0]!, line]));
  }

  async function repositoryDigests(): Promise<Record<string, string>> {
    const folder = path.join(agent.repoPath, guest.uuid);
    const digests: Record<string, string> = {};
    for (const entry of await readdir(folder, { recursive: true })) {
      if (!entry.endsWith('.qcow2') && !entry.endsWith('.json')) continue;
      digests[entry] = createHash('sha256').update(await readFile(path.join(folder, entry))).digest('hex');
    }
    return digests;
  }

  const job = (jobId: string) => client.call<JobView & { progress: { bytes_done: number; bytes_total: number; phase: string | null } }>('get_job', { job_id: jobId });

  async function waitUntil<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 300_000): Promise<T> {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      const value = await probe();
      if (value) return value;
    }
    throw new Error(`timed out waiting until ${what}`);
  }

  /** Starts an instant replace and returns once the restored guest answers while its copy still runs. */
  async function startInstant(): Promise<string> {
    await guestWriteRandomFile(name, '/data/ballast.bin', 1 << 20); // changed after the point
    const { job_id } = await client.call<{ job_id: string }>('restore', { domain: name, backup_id: point.backup_id, instant: true });
    await waitUntil('the restored domain runs', async () => (await job(job_id)).state === 'running' && (await domainState(name)) === 'running' && (await diskBacking()) !== null);
    await waitForAgent(name);
    const now = await job(job_id);
    expect(now.state).toBe('running');
    expect(now.progress.bytes_done).toBeLessThan(now.progress.bytes_total);
    expect(now.progress.phase).toBe('copying');
    return job_id;
  }

  async function diskBacking(): Promise<string | null> {
    const info = JSON.parse((await run('qemu-img', ['info', '-U', '-f', 'qcow2', '--output=json', guest.dataDisk])).stdout);
    return info['backing-filename'] ?? null;
  }

  async function expectCopiedAndIntact(written: Record<string, string>): Promise<void> {
    expect(await diskBacking()).toBeNull();
    expect(await virsh(['dumpxml', name])).not.toContain(agent.repoPath);
    expect(await virsh(['dumpxml', '--inactive', name])).not.toContain(agent.repoPath);
    // QEMU read the point through an ACL entry, now gone: owner, mode and xattrs as before.
    expect(await repositoryLabels()).toEqual(labels);
    expect(await guestSha256(name, '/data/ballast.bin')).toBe(ballast);
    for (const [file, sha] of Object.entries(written)) expect(await guestSha256(name, file)).toBe(sha);
    expect(await repositoryDigests()).toEqual(repository);
    expect(await readdir(path.join(agent.statePath, 'instant')).catch(() => [])).toEqual([]);
  }

  /** A client that records notifications from now on, closed when the test ends. */
  async function watching() {
    const { client: watcher, events } = await agent.watchingClient();
    onTestFinished(() => watcher.close());
    return events;
  }

  it('runs before its copy ends; the guest\'s writes during the copy survive it; reports its phases', async () => {
    const events = await watching();
    const jobId = await startInstant();
    expect(await diskBacking()).toContain(point.backup_id);
    const during = await guestWriteRandomFile(name, '/data/during.bin', 4 << 20);
    const done = await waitUntil('the copy ends', async () => {
      const now = await job(jobId);
      return now.state === 'running' ? null : now;
    });
    expect(done.state).toBe('succeeded');
    const result = done.result as unknown as { time_to_running_ms: number; duration_ms: number };
    expect(result.time_to_running_ms).toBeLessThan(result.duration_ms);
    expect(await phasesOf(events, jobId)).toEqual(['stopping', 'defining', 'starting', 'copying', 'pivoting']);
    await expectCopiedAndIntact({ '/data/during.bin': during });
  }, 600_000);

  it('a cancelled copy leaves the guest running on its overlay; resume=true finishes it', async () => {
    const jobId = await startInstant();
    const during = await guestWriteRandomFile(name, '/data/cancel.bin', 2 << 20);
    await client.call('cancel_job', { job_id: jobId });
    const cancelled = await waitUntil('the job ends', async () => ((await job(jobId)).state === 'running' ? null : job(jobId)));
    expect(cancelled.state).toBe('cancelled');
    expect(await domainState(name)).toBe('running');
    expect(await diskBacking()).not.toBeNull();
    expect(await guestSha256(name, '/data/cancel.bin')).toBe(during);
    const backup = await client.call<JobView>('backup', { domain: name, wait: true }).catch((err: Error) => err);
    expect(String(backup)).toContain('RestoreIncomplete');
    const events = await watching();
    const resumed = await client.call<JobView>(
      'restore',
      { domain: name, backup_id: point.backup_id, instant: true, resume: true, wait: true },
      { timeoutMs: 600_000 },
    );
    expect(resumed.state).toBe('succeeded');
    expect(await phasesOf(events, resumed.job_id)).toEqual(['copying', 'pivoting']);
    await expectCopiedAndIntact({ '/data/cancel.bin': during });
  }, 600_000);

  it('the agent killed mid-copy: the guest runs on, and its next start finishes the copy', async () => {
    await startInstant();
    const during = await guestWriteRandomFile(name, '/data/killed.bin', 2 << 20);
    await agent.kill('SIGKILL');
    expect(await domainState(name)).toBe('running');
    expect(await guestSha256(name, '/data/killed.bin')).toBe(during);
    const restartedAt = new Date().toISOString();
    await agent.start();
    client = await agent.client();
    const resumed = await waitUntil('the resumed copy ends', async () => {
      const { jobs } = await client.call<{ jobs: (JobView & { action: string; created_at: string; progress: { phase: string | null } })[] }>('list_jobs', {});
      const resume = jobs.find((j) => j.action === 'restore' && j.created_at > restartedAt);
      return resume && resume.state !== 'queued' && resume.state !== 'running' ? resume : null;
    });
    expect(resumed.state).toBe('succeeded');
    // The resumed job went through the copy and the cut-over, as one asked for by hand does.
    expect(resumed.progress.phase).toBe('pivoting');
    await expectCopiedAndIntact({ '/data/killed.bin': during });
  }, 600_000);

  it('restores instantly as a new domain beside the original', async () => {
    const copyName = `${name}-copy`;
    await removeRestoredCopy(copyName, null);
    let copy: RestoreView | null = null;
    try {
      const done = await client.call<JobView>(
        'restore',
        { domain: name, backup_id: point.backup_id, target: 'new', new_name: copyName, instant: true, wait: true },
        { timeoutMs: 600_000 },
      );
      expect(done.state, done.error?.message).toBe('succeeded');
      copy = done.result as unknown as RestoreView;
      expect(await domainState(copyName)).toBe('running');
      expect(await domainState(name)).toBe('running');
      await waitForAgent(copyName);
      expect(await guestSha256(copyName, '/data/ballast.bin')).toBe(ballast);
      const info = JSON.parse((await run('qemu-img', ['info', '-U', '-f', 'qcow2', '--output=json', copy.disks[0]!.file])).stdout);
      expect(info['backing-filename']).toBeUndefined();
      expect(await repositoryLabels()).toEqual(labels);
    } finally {
      await removeRestoredCopy(copyName, copy);
    }
  }, 600_000);
});
