import { expect } from 'vitest';
import { RemoteError, type RpcClient } from '../../src/bus/rpc-client.js';

export const ERRORS_MODULE = 'virt_dr.errors';

/**
 * Calls and expects a failure reply of `cls` (in `module`); returns it for further checks.
 * `server` sends it to one host's queue (a DR node takes nothing from the shared one).
 */
export async function expectRefused(
  client: RpcClient,
  method: string,
  args: Record<string, unknown>,
  cls: string,
  { module = ERRORS_MODULE, server }: { module?: string; server?: string } = {},
): Promise<RemoteError> {
  let error: unknown;
  try {
    const result = await client.call(method, args, { timeoutMs: 20_000, ...(server ? { server } : {}) });
    error = new Error(`${method}(${JSON.stringify(args)}) was accepted: ${JSON.stringify(result)}`);
  } catch (err) {
    error = err;
  }
  if (!(error instanceof RemoteError)) throw error;
  expect(error.remoteClass, `${method}(${JSON.stringify(args)}): ${error.message}`).toBe(cls);
  expect(error.remoteModule).toBe(module);
  return error;
}
