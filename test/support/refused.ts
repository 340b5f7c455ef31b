import { expect } from 'vitest';
import { RemoteError, type RpcClient } from '../../src/cli/rpc-client.js';

export const ERRORS_MODULE = 'virt_dr.errors';

/** Calls and expects a failure reply of `cls` (in `module`); returns it for further checks. */
export async function expectRefused(
  client: RpcClient,
  method: string,
  args: Record<string, unknown>,
  cls: string,
  module = ERRORS_MODULE,
): Promise<RemoteError> {
  let error: unknown;
  try {
    const result = await client.call(method, args, { timeoutMs: 20_000 });
    error = new Error(`${method}(${JSON.stringify(args)}) was accepted: ${JSON.stringify(result)}`);
  } catch (err) {
    error = err;
  }
  if (!(error instanceof RemoteError)) throw error;
  expect(error.remoteClass, `${method}(${JSON.stringify(args)}): ${error.message}`).toBe(cls);
  expect(error.remoteModule).toBe(module);
  return error;
}
