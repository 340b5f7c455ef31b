import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { waitForEvent, type AgentProcess } from '../support/agent-process.js';
import { backupPoint } from '../support/backup-api.js';
import { startDrScenario, type DrScenario } from '../support/dr-agents.js';
import { domainState, guestSha256, guestWriteRandomFile, virsh, waitForAgent, type TestGuest } from '../support/guest.js';
import { expectRefused } from '../support/refused.js';
import { phasesOf } from '../support/job-phases.js';
import { finishedJob, finishedJobByCli, type RestoreView } from '../support/restore-api.js';
import { startDrLibvirtd, type DrLibvirtd } from '../support/second-libvirtd.js';

/**
 * Failover and failback between two hypervisors on one machine: the home host is the
 * machine's libvirtd, the DR node a second libvirtd in its own mount namespace (one
 * UUID cannot be defined twice in one libvirtd, and failback runs both copies at once).
 * The DR node's repository is a real sshd's root; the compute agent replicates to it.
 * The guest fails over, writes a file on the DR node, and fails back with it; the DR
 * copy stops only after the home copy runs.
 */
const WORK = '/var/lib/virt-dr-test/failback';
const NAME = 'vdr-failback';
const FILE = 1 << 20;

describe('failback from a DR node with its own libvirtd', () => {
  let dr: DrLibvirtd;
  let scenario: DrScenario;
  let drNode: AgentProcess;
  let compute: AgentProcess;
  let client: RpcClient;
  let drClient: RpcClient;
  let guest: TestGuest;
  const files: Record<string, string> = {};
  const onDr = () => ({ uri: dr.uri });

  beforeAll(async () => {
    // The DR node's own hypervisor, up before the DR agent connects to it.
    dr = await startDrLibvirtd(path.join(WORK, 'dr-libvirtd'));
    scenario = await startDrScenario({ name: 'failback', workDir: WORK, guestName: NAME, drLibvirtUri: dr.uri });
    ({ compute, drNode, client, drClient, guest } = scenario);
    files.home = await guestWriteRandomFile(NAME, '/data/home.bin', FILE);
    const point = await backupPoint(client, NAME);
    await waitForEvent(scenario.events, (n) => n.event_type === 'virt_dr.replicate.end' && (n.payload.backup_ids as string[]).includes(point.backup_id));
    // The home host is lost: its domain and its disk are gone.
    await virsh(['destroy', NAME]);
    await virsh(['undefine', NAME]);
    await rm(guest.dataDisk, { force: true });
    const failover = await finishedJob<RestoreView>(drClient, 'failover', { domain: NAME }, drNode.host);
    expect(failover.state, `${failover.error?.class}: ${failover.error?.message}`).toBe('succeeded');
    await waitForAgent(NAME, 120_000, onDr());
    // Written on the DR node: failback must bring it home.
    files.dr = await guestWriteRandomFile(NAME, '/data/dr.bin', FILE, onDr());
  }, 600_000);

  afterAll(async () => {
    await scenario?.stop();
    await dr?.stop();
  });

  it('is refused on a compute agent, and for a domain the DR node did not fail over', async () => {
    await expectRefused(client, 'failback', { domain: NAME }, 'RoleMissing', { server: compute.host });
    await expectRefused(drClient, 'failback', { domain: 'vdr-no-such-domain' }, 'DomainNotFound', { server: drNode.host });
  });

  it('brings the domain home with what it wrote on the DR node, and stops the DR copy only once the home copy runs; both jobs report their phases', async () => {
    // Watch both hypervisors while the failback runs.
    let homeRunningAt = 0;
    let drGoneAt = 0;
    let watching = true;
    const watcher = (async () => {
      for (;;) {
        // One more look once the job has ended: its last step stops the DR copy, which a
        // look that began just before it would miss.
        const last = !watching;
        const [home, there] = await Promise.all([domainState(NAME), domainState(NAME, onDr())]);
        if (!homeRunningAt && home === 'running') homeRunningAt = Date.now();
        if (!drGoneAt && there !== 'running' && there !== 'paused') drGoneAt = Date.now();
        if (last) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const job = await finishedJobByCli<{ backup_id: string; paused_ms: number; home_host: string }>(drNode, ['failback', NAME]);
    watching = false;
    await watcher;
    expect(job.state, `${job.error?.class}: ${job.error?.message}`).toBe('succeeded');
    expect(job.result).toMatchObject({ home_host: compute.host });
    expect(await phasesOf(scenario.events, job.job_id)).toEqual(['copying', 'syncing', 'handing_over', 'stopping']);
    // The home host's restore: the point comes home from the DR target first; its domain was lost, so none is stopped.
    const homeRestore = scenario.events.find((n) => n.event_type === 'virt_dr.restore.end' && n.payload.domain_uuid === guest.uuid);
    expect(await phasesOf(scenario.events, String(homeRestore?.payload.job_id))).toEqual(['fetching', 'copying', 'defining', 'starting']);
    expect(homeRunningAt).toBeGreaterThan(0);
    expect(drGoneAt).toBeGreaterThanOrEqual(homeRunningAt);
    // Home: the same domain, on the home host's own disk path, with both files.
    expect(await virsh(['domuuid', NAME])).toBe(guest.uuid);
    expect(await virsh(['domblklist', NAME])).toContain(guest.dataDisk);
    await waitForAgent(NAME);
    expect(await guestSha256(NAME, '/data/home.bin')).toBe(files.home);
    expect(await guestSha256(NAME, '/data/dr.bin')).toBe(files.dr);
    // The DR node: no domain, no disk of the DR copy.
    expect(await domainState(NAME, onDr())).toBeNull();
    console.log(`failback: the guest was paused ${job.result!.paused_ms} ms`);
  }, 600_000);
});
