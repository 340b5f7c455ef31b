import { RpcClient, type ClientOptions } from './rpc-client.js';

/** A call to one agent's own queue `T.<host>`: what agents ask each other. */
export type CallAgent = <T>(host: string, method: string, args: Record<string, unknown>, timeoutMs: number) => Promise<T>;

/**
 * Each call on a connection of its own: agents call each other rarely (a failover's
 * question, a delete in a repository another agent owns), and a call must not depend on
 * a connection kept open through an outage. Rejects with the client's CallTimeout when no
 * answer comes in time, and with RemoteError for a failure reply.
 */
export function callAgentOverBus(options: ClientOptions): CallAgent {
  return async <T>(host: string, method: string, args: Record<string, unknown>, timeoutMs: number): Promise<T> => {
    const client = await RpcClient.connect(options);
    try {
      return await client.call<T>(method, args, { server: host, timeoutMs });
    } finally {
      await client.close();
    }
  };
}
