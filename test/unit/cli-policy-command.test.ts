import { describe, expect, it } from 'vitest';
import type { PolicyAnswer } from '../../src/api/policy-methods.js';
import { runPolicyCommand, type PolicyCommand } from '../../src/cli/policy-command.js';
import { InvalidArgument } from '../../src/errors.js';

/** A client that answers get_policy with `layers` and records every call. */
function fakeClient(layers: Partial<PolicyAnswer['layers']> = {}) {
  const calls: [string, Record<string, unknown>][] = [];
  const client = {
    call: async <T>(method: string, args: Record<string, unknown>): Promise<T> => {
      calls.push([method, args]);
      return { layers: { defaults: null, project: null, domain: null, ...layers } } as T;
    },
  };
  return { client, calls };
}

const command = (over: Partial<PolicyCommand>): PolicyCommand => ({ domain: null, project: null, set: [], unset: [], clear: false, ...over });

describe('virt-dr policy, the calls it makes', () => {
  it('only reads when nothing changes: a domain, a project, the defaults', async () => {
    for (const [scope, args] of [[{ domain: 'vm1' }, { domain: 'vm1' }], [{ project: 'p1' }, { project: 'p1' }], [{}, {}]] as const) {
      const { client, calls } = fakeClient();
      await runPolicyCommand(client, command(scope), {});
      expect(calls).toEqual([['get_policy', args]]);
    }
  });

  it("sends the scope's layer edited, whole", async () => {
    const { client, calls } = fakeClient({ project: { missed: 'skip' }, domain: { chain_length: 3, retention: { max_count: 2 } } });
    await runPolicyCommand(client, command({ domain: 'vm1', set: ['retention.max_count=4'], unset: ['chain_length'] }), { server: 'h1' });
    expect(calls).toEqual([
      ['get_policy', { domain: 'vm1' }],
      ['set_policy', { domain: 'vm1', policy: { retention: { max_count: 4 } } }],
    ]);
  });

  it('sends null when the layer ends empty, and --clear does not read it first', async () => {
    const unset = fakeClient({ project: { missed: 'skip' } });
    await runPolicyCommand(unset.client, command({ project: 'p1', unset: ['missed'] }), {});
    expect(unset.calls.at(-1)).toEqual(['set_policy', { project: 'p1', policy: null }]);

    const cleared = fakeClient({ project: { missed: 'skip' } });
    await runPolicyCommand(cleared.client, command({ project: 'p1', clear: true }), {});
    expect(cleared.calls).toEqual([['set_policy', { project: 'p1', policy: null }]]);

    const replaced = fakeClient({ project: { missed: 'skip' } });
    await runPolicyCommand(replaced.client, command({ project: 'p1', clear: true, set: ['chain_length=1'] }), {});
    expect(replaced.calls).toEqual([['set_policy', { project: 'p1', policy: { chain_length: 1 } }]]);
  });

  it('refuses, before any call, changes to the defaults, both scopes, and a bad edit', async () => {
    const refused: [Partial<PolicyCommand>, string][] = [
      [{ set: ['chain_length=1'] }, "policy: the defaults are the config file's policy.defaults; name a DOMAIN or --project P to change a layer"],
      [{ clear: true }, "policy: the defaults are the config file's policy.defaults; name a DOMAIN or --project P to change a layer"],
      [{ domain: 'vm1', project: 'p1' }, 'policy: give DOMAIN or --project P, not both'],
      [{ project: 'p1', set: ['__proto__.x=1'] }, '--set "__proto__.x=1": "__proto__" is not a policy key name (lowercase letters, digits and _)'],
    ];
    for (const [over, message] of refused) {
      const { client, calls } = fakeClient();
      const error = await runPolicyCommand(client, command(over), {}).then(() => null, (err: unknown) => err);
      expect(error).toBeInstanceOf(InvalidArgument);
      expect((error as Error).message).toBe(message);
      expect(calls).toEqual([]);
    }
  });
});
