import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient, Notification } from '../../src/bus/rpc-client.js';
import { waitForEvent } from '../support/agent-process.js';
import { backupPoint, type PointView } from '../support/backup-api.js';
import { computeAndDrAgents } from '../support/dr-agents.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { defaultWorkDir, destroyTestGuest, domainState, guestExec, guestSha256, guestWriteRandomFile, virsh, waitForAgent, type TestGuest } from '../support/guest.js';
import { expectRefused } from '../support/refused.js';
import { finishedJob, type RestoreView } from '../support/restore-api.js';
import { fileSums } from '../support/repo-chain.js';

/**
 * Failover to a DR node on one machine: a compute agent and a DR agent (roles: dr, its
 * own host name and repository) on one RabbitMQ and one libvirtd. The compute agent's
 * second target is the DR node's repository, so every point reaches it by replication.
 * The guest is a Nova-like instance backed up twice, then destroyed and undefined at home;
 * the DR agent brings it up from its own repository, its disks where failover.path_map
 * puts them, and the guest agent answers with the second point's data.
 */
const WORK = '/var/lib/virt-dr-test/failover';
const NAME = 'vdr-failover';
const HOME_DISKS = defaultWorkDir(NAME);
const DR_DISKS = defaultWorkDir(`${NAME}-dr`);
const FILE = 1 << 20;

const { compute, drNode } = computeAndDrAgents({
  name: 'failover',
  workDir: WORK,
  pathMap: [{ from: HOME_DISKS, to: DR_DISKS }],
  drEnv: { VIRT_DR_FAILOVER_HOME_TIMEOUT_S: '3' },
});

describe('failover to a DR node', () => {
  let client: RpcClient;
  let drClient: RpcClient;
  let guest: TestGuest;
  let events: Notification[];
  const points: PointView[] = [];
  const files: Record<string, string> = {};

  /** The finished failover job, from the DR agent's own queue. */
  const failover = (args: Record<string, unknown>) => finishedJob<RestoreView>(drClient, 'failover', args, drNode.host);

  beforeAll(async () => {
    await drNode.reset();
    await rm(DR_DISKS, { recursive: true, force: true });
    ({ client, guest } = await startGuestAndAgent(compute, { name: NAME, dataDiskMiB: 64, nova: true }));
    await drNode.start();
    drClient = await drNode.client();
    events = [];
    await client.watchNotifications((n) => events.push(n));
    for (const file of ['a', 'b']) {
      files[file] = await guestWriteRandomFile(NAME, `/data/${file}.bin`, FILE);
      const point = await backupPoint(client, NAME);
      points.push(point);
      await waitForEvent(events, (n) => n.event_type === 'virt_dr.replicate.end' && (n.payload.backup_ids as string[]).includes(point.backup_id));
    }
    // Written after the last point: a failover cannot have it.
    await guestWriteRandomFile(NAME, '/data/c.bin', FILE);
  }, 300_000);

  afterAll(async () => {
    await drClient?.close();
    await drNode.stop();
    await destroyTestGuest(NAME, { workDir: DR_DISKS });
    await stopGuestAndAgent(compute, NAME, client);
    await drNode.discard();
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
    await expectRefused(client, 'failover', { domain: NAME }, 'RoleMissing', { server: compute.host });
    await expectRefused(drClient, 'failover', { domain: 'vdr-no-such-domain' }, 'DomainNotFound', { server: drNode.host });
    await expectRefused(drClient, 'failover', { domain: randomUUID() }, 'BackupNotFound', { server: drNode.host });
  });

  it('brings the domain up on the DR node from the newest point: same name and UUID, its guest agent answers, the data is the point\'s', async () => {
    const repoBefore = await fileSums(drNode.repoPath);
    await virsh(['destroy', NAME]);
    await virsh(['undefine', NAME]);
    const requested = Date.now();
    const job = await failover({ domain: NAME });
    expect(job.state, `${job.error?.class}: ${job.error?.message}`).toBe('succeeded');
    expect(job.result).toMatchObject({ backup_id: points[1]!.backup_id, domain: NAME, domain_uuid: guest.uuid, instant: true });
    await waitForAgent(NAME);
    const toGuestAgent = Date.now() - requested;
    expect(await domainState(NAME)).toBe('running');
    expect(await virsh(['domuuid', NAME])).toBe(guest.uuid);
    for (const file of ['a', 'b']) expect(await guestSha256(NAME, `/data/${file}.bin`)).toBe(files[file]);
    expect((await guestExec(NAME, ['/bin/test', '-e', '/data/c.bin'])).exitCode).not.toBe(0);
    // The disk is the DR node's, where path_map puts it; the points are as they were.
    expect(await virsh(['domblklist', NAME])).toContain(path.join(DR_DISKS, 'data.qcow2'));
    expect(await fileSums(drNode.repoPath)).toEqual(repoBefore);
    console.log(`failover: request to a running guest agent in ${toGuestAgent} ms`);
  }, 300_000);

  it('refuses a second failover of a domain the DR node now runs', async () => {
    // force skips the home host, which shares this test's libvirtd and would say "running".
    await expectRefused(drClient, 'failover', { domain: NAME, force: true }, 'DomainExists', { server: drNode.host });
  });
});
