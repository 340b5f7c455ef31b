import type { PolicyAnswer } from '../api/policy-methods.js';
import type { RpcClient } from '../bus/rpc-client.js';
import { InvalidArgument } from '../errors.js';
import { applyEdits, parseSet, parseUnset } from './policy-edit.js';

export interface PolicyCommand {
  /** A domain's policy (name or UUID), a project's, or (neither) the defaults. */
  domain: string | null;
  project: string | null;
  set: readonly string[];
  unset: readonly string[];
  /** Start from an empty layer: alone it removes the layer; with --set it replaces it. */
  clear: boolean;
}

/**
 * `virt-dr policy`: get_policy; with changes, the layer get_policy answered edited and
 * sent back whole with set_policy, whose answer (the new resolved policy) is returned.
 * Read and write are two calls: a change another client makes in between is overwritten.
 */
export async function runPolicyCommand(client: Pick<RpcClient, 'call'>, command: PolicyCommand, server: { server?: string }): Promise<PolicyAnswer> {
  if (command.domain !== null && command.project !== null) throw new InvalidArgument('policy: give DOMAIN or --project P, not both');
  const scope = command.domain !== null ? { domain: command.domain } : command.project !== null ? { project: command.project } : {};
  // Unsets first, so `--unset schedule --set schedule.interval_s=30` replaces the schedule's form.
  const edits = [...command.unset.map(parseUnset), ...command.set.map(parseSet)];
  const changes = edits.length > 0 || command.clear;
  if (changes && command.domain === null && command.project === null) {
    throw new InvalidArgument("policy: the defaults are the config file's policy.defaults; name a DOMAIN or --project P to change a layer");
  }
  const get = () => client.call<PolicyAnswer>('get_policy', scope, server);
  if (!changes) return get();
  const current = command.clear ? null : (await get()).layers[command.domain !== null ? 'domain' : 'project'];
  const layer = applyEdits(current, edits);
  return client.call<PolicyAnswer>('set_policy', { ...scope, policy: Object.keys(layer).length === 0 ? null : layer }, server);
}
