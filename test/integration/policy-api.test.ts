/**
 * get_policy and set_policy against the REAL agent (built dist/, child process) on a real
 * RabbitMQ, with two file targets and a policy.defaults in its config file: a project's
 * layer and a domain's over the defaults, the domain's project read from Nova's metadata
 * in its newest point's XML (a domain only the repository knows, so no libvirt domain is
 * needed), both kept across a restart; bad policies refused whole with every problem
 * named; a bad policy.defaults stops the agent at start.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { AGENT_BIN, AgentProcess } from '../support/agent-process.js';
import { NOVA_METADATA_XML } from '../support/guest.js';
import { backupIdAt, pointManifest, writePoint } from '../support/hostile-repo.js';
import { expectRefused } from '../support/refused.js';

const WORK = '/var/lib/virt-dr-test/policy-api';
const SECOND_TARGET = path.join(WORK, 'nas2');
/** The project NOVA_METADATA_XML names as the owner. */
const NOVA_PROJECT = '0a1b2c3d4e5f40718293a4b5c6d7e8f9';
const DOMAIN = { name: 'vm-gone', uuid: '5e1f0c3a-7b2d-4e6f-9a8b-0c1d2e3f4a5b' };
const DEFAULTS = { schedule: { interval_s: 3600 }, retention: { max_count: 7 } };
const agent = new AgentProcess('policy-api', WORK, {}, [], {
  config: {
    repo: {
      targets: [
        { name: 'local', url: `file://${WORK}/repo` },
        { name: 'nas2', url: `file://${SECOND_TARGET}`, delay_s: 600 },
      ],
    },
    policy: { defaults: DEFAULTS },
  },
});

type Answer = Record<string, unknown> & { sources: Record<string, string>; layers: Record<string, unknown> };
let client: RpcClient;
const call = (method: string, args: Record<string, unknown>) => client.call<Answer>(method, args, { timeoutMs: 20_000, server: agent.host });
const refused = (args: Record<string, unknown>, cls: string) => expectRefused(client, 'set_policy', args, cls, { server: agent.host });

const PROJECT_POLICY = { schedule: { weekly: { days: ['wed'], time: '22:00', tz: 'Europe/Berlin' } }, tiers: { fast: { capacity: { count: 4 } } } };

beforeAll(async () => {
  await agent.reset();
  // A point of a domain libvirt does not know, made by a Nova host: its XML names the owner project.
  const point = pointManifest(DOMAIN.uuid, backupIdAt(1), null);
  const disks = [{ ...(point['disks'] as object[])[0], sha256: createHash('sha256').update('disk').digest('hex') }];
  const manifest = { ...point, disks, domain: DOMAIN.name, domain_xml: `<domain type='kvm'><name>${DOMAIN.name}</name>${NOVA_METADATA_XML}</domain>` };
  await writePoint(path.join(agent.repoPath, DOMAIN.uuid, backupIdAt(1)), manifest);
  await agent.start();
  client = await agent.client();
});

afterAll(async () => {
  await client?.close();
  await agent.stop();
  await agent.discard();
  await rm(SECOND_TARGET, { recursive: true, force: true });
});

describe('policies over the bus', () => {
  it("answers the config file's defaults, completed from the configured targets", async () => {
    const ping = await call('ping', {});
    expect(ping['capabilities']).toContain('policy');
    const defaults = await call('get_policy', {});
    expect(defaults).toMatchObject({
      ...DEFAULTS,
      tiers: { fast: { target: 'local', capacity: null }, slow: null, manual: { target: 'local', capacity: null } },
      plan: { primary: 'local', secondaries: [{ target: 'nas2', delay_s: 600 }], copies: 2 },
      project: null,
      domain: null,
    });
    expect(defaults.sources).toMatchObject({ schedule: 'defaults', retention: 'defaults', tiers: 'built-in' });
  });

  it("layers a domain's policy over its Nova project's over the defaults", async () => {
    const project = await call('set_policy', { project: NOVA_PROJECT, policy: PROJECT_POLICY });
    expect(project).toMatchObject({ schedule: PROJECT_POLICY.schedule, project: NOVA_PROJECT, layers: { project: PROJECT_POLICY } });
    const domain = await call('set_policy', { domain: DOMAIN.name, policy: { chain_length: 3 } });
    expect(domain).toMatchObject({
      domain: DOMAIN,
      project: NOVA_PROJECT,
      chain_length: 3,
      schedule: PROJECT_POLICY.schedule,
      retention: DEFAULTS.retention,
      tiers: { fast: { capacity: { count: 4 } }, manual: { capacity: { count: 40 } } },
    });
    expect(domain.sources).toMatchObject({ chain_length: 'domain', schedule: 'project', tiers: 'project', retention: 'defaults', quiesce: 'built-in' });
    expect(await call('get_policy', { domain: DOMAIN.uuid })).toEqual(domain);
  });

  it('keeps both layers across a restart, in files only the agent reads', async () => {
    const before = await call('get_policy', { domain: DOMAIN.name });
    await client.close();
    await agent.stop();
    await agent.start();
    client = await agent.client();
    expect(await call('get_policy', { domain: DOMAIN.name })).toEqual(before);
    for (const file of [`domains/${DOMAIN.uuid}.json`, `projects/${NOVA_PROJECT}.json`]) {
      expect((await lstat(path.join(agent.statePath, 'policies', file))).mode & 0o777, file).toBe(0o600);
    }
  });

  const refusals: [string, Record<string, unknown>, string][] = [
    ['a malformed cron', { schedule: { cron: '0 22 * *', tz: 'UTC' } }, 'schedule.cron "0 22 * *": has 4 fields, expected 5 (minute hour day-of-month month day-of-week)'],
    ['an unknown time zone', { schedule: { weekly: { days: ['wed'], time: '22:00', tz: 'Mars/Olympus_Mons' } } }, 'schedule.weekly.tz "Mars/Olympus_Mons": is an unknown time zone'],
    ['a capacity of 0', { tiers: { fast: { capacity: { count: 0 } } } }, 'tiers.fast.capacity.count must be at least 1'],
    ['a capacity below 0', { tiers: { manual: { capacity: { bytes: -1 } } } }, 'tiers.manual.capacity.bytes must be at least 1'],
    ['an unknown target', { plan: { secondaries: [{ target: 'nas9', delay_s: 0 }] } }, 'plan.secondaries[0].target "nas9" is not a configured target (configured: local, nas2)'],
  ];
  it.each(refusals)('refuses %s with InvalidArgument, naming the field', async (_name, policy, problem) => {
    const error = await refused({ project: NOVA_PROJECT, policy }, 'InvalidArgument');
    expect(error.message).toContain(`set_policy(): policy has 1 problem: ${problem}`);
  });

  it('refuses a policy with several problems whole, naming each, and keeps the layer there was', async () => {
    const error = await refused({ project: NOVA_PROJECT, policy: Object.assign({}, ...refusals.map(([, policy]) => policy)) }, 'InvalidArgument');
    // The last of each key wins in the merged object: weekly's tz, manual's bytes, the unknown target.
    expect(error.message).toContain('set_policy(): policy has 3 problems: schedule.weekly.tz "Mars/Olympus_Mons"');
    expect(error.message).toContain('tiers.manual.capacity.bytes must be at least 1');
    expect(error.message).toContain('plan.secondaries[0].target "nas9"');
    expect((await call('get_policy', { project: NOVA_PROJECT })).layers['project']).toEqual(PROJECT_POLICY);
  });

  it('refuses a policy for a domain neither defined here nor in the repository', async () => {
    await refused({ domain: 'vm-policy-no-such-domain', policy: { chain_length: 1 } }, 'DomainNotFound');
    const error = await refused({ domain: '00000000-0000-4000-8000-00000000dead', policy: { chain_length: 1 } }, 'DomainNotFound');
    expect(error.message).toContain('is neither defined on this host nor backed up in its repository');
  });

  it('removes a layer set to null', async () => {
    const removed = await call('set_policy', { domain: DOMAIN.name, policy: null });
    expect(removed).toMatchObject({ chain_length: 0, layers: { domain: null } });
    expect(removed.sources['chain_length']).toBe('built-in');
  });
});

describe('a bad policy.defaults', () => {
  it('stops the agent at start as a configuration error (exit 2), naming every problem', async () => {
    const config = path.join(WORK, 'bad-defaults.json');
    await writeFile(config, JSON.stringify({ policy: { defaults: { schedule: { interval_s: 5 }, tiers: { fast: { target: 'nowhere' } } } } }));
    const run = promisify(execFile)(process.execPath, [AGENT_BIN, '--config', config], { timeout: 30_000 });
    const failed = await run.then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toBe(
      'virt-dr-agent: configuration error: policy.defaults has 2 problems: schedule.interval_s must be at least 10; tiers.fast.target "nowhere" is not a configured target (configured: local)\n',
    );
  });
});
