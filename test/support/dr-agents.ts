import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Notification, RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess } from './agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from './guest-and-agent.js';
import { defaultWorkDir, destroyTestGuest, type TestGuest } from './guest.js';
import { startSshd, type Sshd } from './sshd.js';

export interface DrAgentsOptions {
  /** The agents are `<name>-compute` and `<name>-dr`, on the topic `virt_dr_test_<name>`. */
  name: string;
  /** Their folders are `<workDir>/compute` and `<workDir>/dr-node`. */
  workDir: string;
  /**
   * The DR node as a real SSH server: its root is the DR agent's repository, and the
   * compute agent's target "dr" reaches it over SSH with `agent` naming the DR agent.
   * Without it both use `<workDir>/dr-node/repo` as a file target.
   */
  sshd?: Sshd;
  /** The DR agent's failover.path_map: the compute host's disk folders to its own. */
  pathMap: { from: string; to: string }[];
  computeEnv?: Record<string, string>;
  drEnv?: Record<string, string>;
}

/**
 * A compute host's agent and its DR node's agent on one RabbitMQ topic and one libvirtd,
 * with different host names: the compute agent's targets are its own folder ("local", the
 * primary) and the DR node's repository ("dr"), so every point reaches the DR node by
 * replication; the DR agent (roles dr) owns that repository and fails domains over from it.
 * Neither is started.
 */
export function computeAndDrAgents(options: DrAgentsOptions): { compute: AgentProcess; drNode: AgentProcess } {
  const topic = `virt_dr_test_${options.name}`;
  const drNode = new AgentProcess(`${options.name}-dr`, path.join(options.workDir, 'dr-node'), { VIRT_DR_ROLES: 'dr', ...options.drEnv }, [], {
    topic,
    config: { failover: { path_map: options.pathMap } },
    ...(options.sshd ? { repoPath: options.sshd.root } : {}),
  });
  const computeDir = path.join(options.workDir, 'compute');
  const compute = new AgentProcess(`${options.name}-compute`, computeDir, options.computeEnv ?? {}, [], {
    topic,
    config: {
      repo: {
        targets: [
          { name: 'local', url: `file://${path.join(computeDir, 'repo')}` },
          options.sshd
            ? { name: 'dr', url: options.sshd.url, ssh_key: options.sshd.clientKeyPath, known_hosts: options.sshd.knownHostsPath, agent: drNode.host }
            : { name: 'dr', url: `file://${drNode.repoPath}` },
        ],
      },
    },
  });
  return { compute, drNode };
}

/** A guest on the compute host, backed up by its agent, with a DR node over a real sshd. */
export interface DrScenario {
  sshd: Sshd;
  compute: AgentProcess;
  drNode: AgentProcess;
  client: RpcClient;
  /** A client on the same topic; the DR agent takes requests on its own queue only (`server: drNode.host`). */
  drClient: RpcClient;
  guest: TestGuest;
  /** Every notification since the start. */
  events: Notification[];
  /** Where failover.path_map puts the guest's disks on the DR node. */
  drDisks: string;
  stop(): Promise<void>;
}

/**
 * What the failover and failback tests start from: a real sshd as the DR node's
 * repository, both agents (computeAndDrAgents), a Nova-like guest on the compute host and
 * clients for both. `drLibvirtUri`: the DR agent's hypervisor when it is not the host's.
 */
export async function startDrScenario(options: { name: string; workDir: string; guestName: string; drLibvirtUri?: string }): Promise<DrScenario> {
  const drDisks = defaultWorkDir(`${options.guestName}-dr`);
  const sshd = await startSshd(path.join(options.workDir, 'sshd'));
  const { compute, drNode } = computeAndDrAgents({
    name: options.name,
    workDir: options.workDir,
    pathMap: [{ from: defaultWorkDir(options.guestName), to: drDisks }],
    drEnv: { VIRT_DR_FAILOVER_HOME_TIMEOUT_S: '3', ...(options.drLibvirtUri ? { VIRT_DR_LIBVIRT_URI: options.drLibvirtUri } : {}) },
    sshd,
  });
  await drNode.reset();
  await rm(drDisks, { recursive: true, force: true });
  const { client, guest } = await startGuestAndAgent(compute, { name: options.guestName, dataDiskMiB: 64, nova: true });
  await drNode.start();
  const drClient = await drNode.client();
  const events: Notification[] = [];
  await client.watchNotifications((n) => events.push(n));
  return {
    sshd,
    compute,
    drNode,
    client,
    drClient,
    guest,
    events,
    drDisks,
    async stop() {
      await drClient.close();
      await drNode.stop();
      await destroyTestGuest(options.guestName, { workDir: drDisks, ...(options.drLibvirtUri ? { uri: options.drLibvirtUri } : {}) });
      await stopGuestAndAgent(compute, options.guestName, client);
      await drNode.discard();
      await sshd.stop();
    },
  };
}
