import { randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { waitForEvent, type AgentProcess } from '../support/agent-process.js';
import { backupPoint, type PointView } from '../support/backup-api.js';
import { startDrScenario, type DrScenario } from '../support/dr-agents.js';
import { defaultWorkDir, domainState, guestExec, guestSha256, guestWriteRandomFile, virsh, waitForAgent, type TestGuest } from '../support/guest.js';
import { expectRefused } from '../support/refused.js';
import type { Sshd } from '../support/sshd.js';
import { phasesOf } from '../support/job-phases.js';
import { finishedJob, finishedJobByCli, type RestoreView } from '../support/restore-api.js';
import { FileRepository } from '../../src/repo/file-repository.js';
import { fileSums, flattenedSha256 } from '../support/repo-chain.js';

/**
 * Failover to a DR node on one machine: a compute agent and a DR agent (roles: dr, its
 * own host name and repository) on one RabbitMQ and one libvirtd. The DR node's
 * repository is the root of a real sshd on loopback (its own host key and user), and the
 * compute agent's second target is that sshd: every point reaches the DR node over SSH.
 * The guest is a Nova-like instance backed up twice, then destroyed and undefined at home;
 * the DR agent brings it up from its own repository, its disks where failover.path_map
 * puts them, and the guest agent answers with the second point's data.
 */
const WORK = '/var/lib/virt-dr-test/failover';
const NAME = 'vdr-failover';
const DR_DISKS = defaultWorkDir(`${NAME}-dr`);
const FILE = 1 << 20;

describe('failover to a DR node over SSH', () => {
  let scenario: DrScenario;
  let sshd: Sshd;
  let drNode: AgentProcess;
  let compute: AgentProcess;
  let client: RpcClient;
  let drClient: RpcClient;
  let guest: TestGuest;
  const points: PointView[] = [];
  const files: Record<string, string> = {};


  beforeAll(async () => {
    scenario = await startDrScenario({ name: 'failover', workDir: WORK, guestName: NAME });
    ({ sshd, compute, drNode, client, drClient, guest } = scenario);
    // Three points; the first is deleted everywhere before the failover.
    for (const file of ['a', 'b', 'c']) {
      files[file] = await guestWriteRandomFile(NAME, `/data/${file}.bin`, FILE);
      const point = await backupPoint(client, NAME);
      points.push(point);
      await waitForEvent(scenario.events, (n) => n.event_type === 'virt_dr.replicate.end' && (n.payload.backup_ids as string[]).includes(point.backup_id));
    }
    // Written after the last point: a failover cannot have it.
    await guestWriteRandomFile(NAME, '/data/late.bin', FILE);
  }, 300_000);

  afterAll(async () => {
    await scenario?.stop();
  });

  it('deletes the first point everywhere: the DR agent merges it into its child in its own repository', async () => {
    const [first, second] = points as [PointView, PointView];
    const job = await finishedJob<{ places: { place: string; merged_into: string[] }[] }>(client, 'delete_backup', { domain: NAME, backup_id: first.backup_id });
    expect(job.state, `${job.error?.class}: ${job.error?.message}`).toBe('succeeded');
    expect(job.result!.places).toEqual([
      expect.objectContaining({ place: 'local', merged_into: [second.backup_id] }),
      expect.objectContaining({ place: 'dr', merged_into: [second.backup_id] }),
    ]);
    points.shift();
    const onDr = (await readdir(path.join(sshd.root, guest.uuid))).filter((n) => !n.startsWith('.')).sort();
    expect(onDr).toEqual(points.map((p) => p.backup_id).sort());
    // The DR node's merged point reads as the compute host's, and the SSH user still owns it.
    const drRepo = new FileRepository(sshd.root, 'failover-test-reader');
    const localRepo = new FileRepository(path.join(WORK, 'compute', 'repo'), 'failover-test-reader');
    expect(await flattenedSha256(drRepo, guest.uuid, second.backup_id)).toEqual(await flattenedSha256(localRepo, guest.uuid, second.backup_id));
    const owner = (await stat(path.join(sshd.root, guest.uuid, second.backup_id, 'manifest.json'))).uid;
    expect(owner).toBe((await stat(sshd.root)).uid);
  });

  it('lists each point on both targets, and gives the domain an RPO', async () => {
    const listed = await client.call<{ backups: { backup_id: string; targets: string[]; host: string }[]; rpo_s: number }>('list_backups', { domain: NAME });
    expect(listed.backups.map((b) => [b.backup_id, b.targets, b.host])).toEqual(points.map((p) => [p.backup_id, ['local', 'dr'], compute.host]));
    expect(listed.rpo_s).toBeGreaterThanOrEqual(0);
    const ping = await drClient.call<{ roles: string[]; capabilities: string[] }>('ping', {}, { server: drNode.host });
    expect(ping.roles).toEqual(['dr']);
    expect(ping.capabilities).toContain('failover');
  });

  it('refuses a failover while the home host runs the domain, a compute agent\'s failover, and domains it has nothing of', async () => {
    const split = await expectRefused(drClient, 'failover', { domain: NAME }, 'DomainRunningElsewhere', { server: drNode.host });
    expect(split.message).toContain(compute.host);
    await expect(drNode.cli(['failover', NAME, '--host', drNode.host])).rejects.toMatchObject({ stderr: expect.stringContaining('DomainRunningElsewhere') });
    await expectRefused(client, 'failover', { domain: NAME }, 'RoleMissing', { server: compute.host });
    await expectRefused(drClient, 'failover', { domain: 'vdr-no-such-domain' }, 'DomainNotFound', { server: drNode.host });
    await expectRefused(drClient, 'failover', { domain: randomUUID() }, 'BackupNotFound', { server: drNode.host });
  });

  it('brings the domain up on the DR node from the newest point: same name and UUID, its guest agent answers, the data is the point\'s; reports its phases', async () => {
    const repoBefore = await fileSums(sshd.root);
    await virsh(['destroy', NAME]);
    await virsh(['undefine', NAME]);
    const requested = Date.now();
    // As an operator runs it: the CLI, on the DR agent's own queue.
    const job = await finishedJobByCli<RestoreView>(drNode, ['failover', NAME]);
    expect(job.state, `${job.error?.class}: ${job.error?.message}`).toBe('succeeded');
    expect(job.result).toMatchObject({ backup_id: points.at(-1)!.backup_id, domain: NAME, domain_uuid: guest.uuid, instant: true });
    // The DR node reads its own repository in place: nothing to fetch, no domain to stop.
    expect(await phasesOf(scenario.events, job.job_id)).toEqual(['defining', 'starting', 'copying', 'pivoting']);
    await waitForAgent(NAME);
    const toGuestAgent = Date.now() - requested;
    expect(await domainState(NAME)).toBe('running');
    expect(await virsh(['domuuid', NAME])).toBe(guest.uuid);
    for (const file of ['a', 'b', 'c']) expect(await guestSha256(NAME, `/data/${file}.bin`)).toBe(files[file]);
    expect((await guestExec(NAME, ['/bin/test', '-e', '/data/late.bin'])).exitCode).not.toBe(0);
    // The disk is the DR node's, where path_map puts it; the points are as they were.
    expect(await virsh(['domblklist', NAME])).toContain(path.join(DR_DISKS, 'data.qcow2'));
    expect(await fileSums(sshd.root)).toEqual(repoBefore);
    console.log(`failover: request to a running guest agent in ${toGuestAgent} ms`);
  }, 300_000);

  it('refuses a second failover of a domain the DR node now runs', async () => {
    // force skips the home host, which shares this test's libvirtd and would say "running".
    await expectRefused(drClient, 'failover', { domain: NAME, force: true }, 'DomainExists', { server: drNode.host });
  });
});
