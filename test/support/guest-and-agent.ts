import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import type { AgentProcess } from './agent-process.js';
import {
  buildGuestAssets,
  run,
  createTestGuest,
  destroyTestGuest,
  ensureLibvirtd,
  waitForAgent,
  waitForGuestReady,
  type CreateTestGuestOptions,
  type TestGuest,
} from './guest.js';
import { ensureRabbit } from './rabbit.js';

/**
 * What most integration files start with: the daemons up, a fresh guest booted (and its
 * guest agent answering, when it has one), a fresh agent started, and a client for it.
 */
export async function startGuestAndAgent(
  agent: AgentProcess,
  guestOptions: CreateTestGuestOptions,
  agentEnv: Record<string, string> = {},
): Promise<{ guest: TestGuest; client: RpcClient }> {
  await Promise.all([ensureRabbit(), ensureLibvirtd()]);
  await buildGuestAssets();
  await agent.reset();
  const guest = await createTestGuest(guestOptions);
  if (guestOptions.withAgent === false) await waitForGuestReady(guest);
  else await waitForAgent(guest.name);
  await agent.start(agentEnv);
  return { guest, client: await agent.client() };
}

/**
 * startGuestAndAgent with `ballastMiB` of random data in /data/ballast.bin, written on the
 * host into the data disk's filesystem (a TCG guest would take minutes), so that copies
 * and push backups of the disk last seconds. The data disk gets `spareMiB` more.
 */
export async function startGuestWithBallast(
  agent: AgentProcess,
  guestOptions: CreateTestGuestOptions & { ballastMiB: number; spareMiB: number },
  agentEnv: Record<string, string> = {},
): Promise<{ guest: TestGuest; client: RpcClient }> {
  const { ballastMiB, spareMiB, ...options } = guestOptions;
  const content = path.join('/var/lib/virt-dr-test', `${options.name}-content`);
  await rm(content, { recursive: true, force: true });
  await mkdir(content, { recursive: true });
  try {
    const ballast = path.join(content, 'ballast.bin');
    await run('bash', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'sh', `${ballastMiB}M`, ballast], { timeoutMs: 300_000 });
    return await startGuestAndAgent(agent, { ...options, dataDiskMiB: ballastMiB + spareMiB, dataDiskContent: content }, agentEnv);
  } finally {
    await rm(content, { recursive: true, force: true });
  }
}

/** Undoes startGuestAndAgent (the agent's log stays); safe after a start that failed half-way. */
export async function stopGuestAndAgent(agent: AgentProcess, guestName: string, client?: RpcClient): Promise<void> {
  await client?.close();
  await agent.stop();
  await destroyTestGuest(guestName);
  await agent.discard();
}
