import type { RpcClient } from '../src/bus/rpc-client.js';
import type { AgentProcess } from '../test/support/agent-process.js';
import type { GuestAssets } from '../test/support/guest.js';
import type { BenchPlan } from './plan.js';

/** What every suite gets from the runner: one agent, already answering, and a client. */
export interface BenchContext {
  plan: BenchPlan;
  /** Scratch space for guests and baseline copies, under /var/lib/libvirt/images. Removed at the end. */
  workDir: string;
  assets: GuestAssets;
  agent: AgentProcess;
  /** The agent's pid, for /proc readings of its CPU time and memory. */
  agentPid: number;
  client: RpcClient;
  progress(message: string): void;
}

/** Domain names of the bench: one prefix, so a crashed run's leftovers are easy to find. */
export const BENCH_DOMAIN_PREFIX = 'vdr-bench-';
