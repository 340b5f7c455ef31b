import path from 'node:path';
import { AgentProcess } from './agent-process.js';
import type { Sshd } from './sshd.js';

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
