import type { RpcClient } from '../../src/cli/rpc-client.js';
import type { AgentProcess } from './agent-process.js';
import {
  buildGuestAssets,
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

/** Undoes startGuestAndAgent (the agent's log stays); safe after a start that failed half-way. */
export async function stopGuestAndAgent(agent: AgentProcess, guestName: string, client?: RpcClient): Promise<void> {
  await client?.close();
  await agent.stop();
  await destroyTestGuest(guestName);
  await agent.discard();
}
