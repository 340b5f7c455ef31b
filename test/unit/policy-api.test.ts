import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApi, type ApiCall, type ApiDeps } from '../../src/api/methods.js';
import { DomainNotFound, InvalidArgument } from '../../src/errors.js';
import { Policies } from '../../src/policy/policies.js';
import { PolicyStore } from '../../src/policy/policy-store.js';
import { NOVA_METADATA_XML } from '../support/guest.js';
import { TEST_FACTS, TEST_PARSE_CONTEXT } from '../support/policy-fixtures.js';

const NOVA_PROJECT = '0a1b2c3d4e5f40718293a4b5c6d7e8f9';
const DEFINED = { name: 'vm-nova', uuid: '11111111-2222-4333-8444-555555555555' };
const PLAIN = { name: 'vm-plain', uuid: '11111111-2222-4333-8444-666666666666' };
/** Only in the repository: the host lost it; its newest point's XML is Nova's. */
const LOST = { name: 'vm-lost', uuid: '11111111-2222-4333-8444-777777777777' };
const UNKNOWN_UUID = '11111111-2222-4333-8444-888888888888';
const xmlOf = (name: string, metadata: string) => `<domain type='kvm'><name>${name}</name>${metadata}</domain>`;

async function api() {
  const state = await mkdtemp(join(tmpdir(), 'vdr-policy-api-'));
  const setup = { context: TEST_PARSE_CONTEXT, facts: TEST_FACTS, defaults: { retention: { max_count: 7 } } };
  const policies = new Policies(setup, new PolicyStore(state, TEST_PARSE_CONTEXT, pino({ level: 'silent' })));
  const defined = [
    { ...DEFINED, xml: async () => xmlOf(DEFINED.name, NOVA_METADATA_XML) },
    { ...PLAIN, xml: async () => xmlOf(PLAIN.name, '') },
  ];
  const deps = {
    hypervisor: {
      lookup: async (nameOrUuid: string) => {
        const found = defined.find((d) => d.name === nameOrUuid || d.uuid === nameOrUuid);
        if (!found) throw new DomainNotFound(`no domain ${nameOrUuid}`);
        return found;
      },
    },
    repo: {
      listDomains: async () => [LOST.uuid],
      latestPoint: async (uuid: string) => (uuid === LOST.uuid ? { domain: LOST.name, domain_xml: xmlOf(LOST.name, NOVA_METADATA_XML) } : null),
    },
    policies,
    onPolicyChange: () => undefined,
    scheduleOf: async () => ({ last_slot: null, next_slot: null, pending_slot: null, last_job_id: null, last_error: null, next_start: null }),
  } as unknown as ApiDeps;
  const { dispatch } = createApi(deps);
  const call = async (method: string, args: Record<string, unknown>, context: Record<string, unknown> = {}) => {
    const request: ApiCall = { method, args, context, requestId: null, uniqueId: null };
    return (await (await dispatch(request)).result) as Record<string, unknown>;
  };
  return { call };
}

describe('get_policy and set_policy', () => {
  it('answer the defaults with neither domain nor project: the policy\'s keys at the top, sources and layers beside', async () => {
    const { call } = await api();
    const answer = await call('get_policy', {});
    expect(answer).toMatchObject({ schedule: null, retention: { max_count: 7 }, chain_length: 0, project: null, domain: null });
    expect(answer.sources).toMatchObject({ retention: 'defaults', schedule: 'built-in' });
    expect(answer.layers).toEqual({ defaults: { retention: { max_count: 7 } }, project: null, domain: null });
  });

  it("layer a domain's policy over its Nova project's over the defaults", async () => {
    const { call } = await api();
    await call('set_policy', { project: NOVA_PROJECT, policy: { schedule: { interval_s: 3600 }, tiers: { fast: { capacity: { count: 4 } } } } });
    const set = await call('set_policy', { domain: DEFINED.name, policy: { chain_length: 3 } });
    expect(set).toMatchObject({ domain: DEFINED, project: NOVA_PROJECT, chain_length: 3, schedule: { interval_s: 3600 }, retention: { max_count: 7 } });
    expect(set.sources).toMatchObject({ chain_length: 'domain', schedule: 'project', retention: 'defaults', tiers: 'project' });
    expect(set.tiers).toMatchObject({ manual: { target: 'ssd', capacity: { count: 40 } } });
    // Nova's owner wins over the caller's context; by UUID too.
    expect(await call('get_policy', { domain: DEFINED.uuid }, { project_id: 'someone-else' })).toEqual(set);
  });

  it("use the caller's project_id for a domain Nova does not own", async () => {
    const { call } = await api();
    await call('set_policy', { project: 'tenant-a', policy: { quiesce: 'agent' } });
    expect(await call('get_policy', { domain: PLAIN.name }, { project_id: 'tenant-a' })).toMatchObject({ project: 'tenant-a', quiesce: 'agent' });
    expect(await call('get_policy', { domain: PLAIN.name })).toMatchObject({ project: null, quiesce: 'auto' });
  });

  it("take a domain only the repository has, its project from the newest point's XML", async () => {
    const { call } = await api();
    expect(await call('set_policy', { domain: LOST.uuid, policy: { engine: 'checkpoint' } })).toMatchObject({ domain: LOST, project: NOVA_PROJECT, engine: 'checkpoint' });
    expect(await call('get_policy', { domain: LOST.name })).toMatchObject({ engine: 'checkpoint' });
  });

  it('remove a layer set to null or {}', async () => {
    const { call } = await api();
    await call('set_policy', { domain: PLAIN.name, policy: { chain_length: 3 } });
    expect(await call('set_policy', { domain: PLAIN.name, policy: null })).toMatchObject({ chain_length: 0, layers: { domain: null } });
    await call('set_policy', { project: 'p', policy: { chain_length: 3 } });
    expect(await call('set_policy', { project: 'p', policy: {} })).toMatchObject({ chain_length: 0, layers: { project: null } });
  });

  it('refuse a domain neither defined nor in the repository, by name or UUID', async () => {
    const { call } = await api();
    for (const method of ['get_policy', 'set_policy']) {
      const policy = method === 'set_policy' ? { policy: { chain_length: 1 } } : {};
      await expect(call(method, { domain: 'vm-nowhere', ...policy })).rejects.toThrow(DomainNotFound);
      await expect(call(method, { domain: UNKNOWN_UUID, ...policy })).rejects.toThrow(
        new DomainNotFound(`${method}(): domain ${UNKNOWN_UUID} is neither defined on this host nor backed up in its repository`),
      );
    }
  });

  const badArgs: [string, string, Record<string, unknown>, string][] = [
    ['both a domain and a project', 'get_policy', { domain: PLAIN.name, project: 'p' }, 'get_policy(): give domain or project, not both'],
    ['a hostile project id', 'get_policy', { project: '../../etc/passwd' }, 'get_policy(): argument project "../../etc/passwd" is not a project id'],
    ['a hostile domain name', 'set_policy', { domain: '../x', policy: {} }, 'set_policy(): argument domain "../x" is not a valid domain name'],
    ['neither a domain nor a project', 'set_policy', { policy: { chain_length: 1 } }, 'set_policy(): name a domain or a project'],
    ['no policy', 'set_policy', { project: 'p' }, 'set_policy(): argument policy is required (null removes the layer)'],
    ['an unknown argument', 'set_policy', { project: 'p', policy: {}, scope: 'x' }, 'set_policy() got unexpected argument(s): "scope"'],
    ['a policy that is a list', 'set_policy', { project: 'p', policy: [] }, 'set_policy(): policy has 1 problem: must be an object, not a list'],
  ];
  it.each(badArgs)('refuse %s', async (_name, method, args, message) => {
    const { call } = await api();
    await expect(call(method, args)).rejects.toThrow(InvalidArgument);
    await expect(call(method, args)).rejects.toThrow(message);
  });

  it('refuse a layer that cannot resolve in its stack, and keep the layer there was', async () => {
    const { call } = await api();
    await call('set_policy', { project: NOVA_PROJECT, policy: { tiers: { slow: { target: 'hdd', after_s: 86_400 } } } });
    const before = await call('get_policy', { domain: DEFINED.name });
    await expect(call('set_policy', { domain: DEFINED.name, policy: { plan: { secondaries: [{ target: 'hdd', delay_s: 0 }] } } })).rejects.toThrow(
      'set_policy(): policy has 1 problem: plan.secondaries[0].target "hdd" is the slow tier\'s target',
    );
    await expect(call('set_policy', { project: NOVA_PROJECT, policy: { tiers: { fast: { capacity: { count: 0 } } }, engine: 'x' } })).rejects.toThrow(
      'set_policy(): policy has 2 problems: tiers.fast.capacity.count must be at least 1; engine must be one of',
    );
    expect(await call('get_policy', { domain: DEFINED.name })).toEqual(before);
  });
});
