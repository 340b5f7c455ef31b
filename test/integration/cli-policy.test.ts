/**
 * `virt-dr policy` (the built CLI, a child process) against the REAL agent on a real
 * RabbitMQ, with two file targets and a policy.defaults: a project's layer set with
 * --set (dotted paths, JSON and text values), read back as text and as JSON, --unset,
 * --clear; a domain's layer (a domain only the repository knows, so no guest); the
 * agent's refusal shown as it is, exit 1, the layer kept.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyAnswer } from '../../src/api/policy-methods.js';
import { AgentProcess } from '../support/agent-process.js';
import { backupIdAt, pointManifest, writePoint } from '../support/hostile-repo.js';

const WORK = '/var/lib/virt-dr-test/cli-policy';
const SECOND_TARGET = path.join(WORK, 'nas2');
const PROJECT = 'cli-policy-project';
const DOMAIN = { name: 'vm-cli-policy', uuid: '7c2e4b1a-3d5f-4a6b-8c9d-0e1f2a3b4c5d' };
const agent = new AgentProcess('cli-policy', WORK, {}, [], {
  config: {
    repo: {
      targets: [
        { name: 'local', url: `file://${WORK}/repo` },
        { name: 'nas2', url: `file://${SECOND_TARGET}`, delay_s: 300 },
      ],
    },
    policy: { defaults: { schedule: { interval_s: 3600 } } },
  },
});

/** `virt-dr policy ARGS`: its output, or (exit ≠ 0) its exit code and stderr. */
async function policy(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return agent.cliRun(['--host', agent.host, 'policy', ...args], 60_000);
}

async function json(...args: string[]): Promise<PolicyAnswer> {
  const run = await policy(...args, '--json');
  expect(run, run.stderr).toMatchObject({ code: 0 });
  return JSON.parse(run.stdout) as PolicyAnswer;
}

const WEEKLY = '{"weekly":{"days":["wed"],"time":"22:00","tz":"Asia/Shanghai"}}';
const PROJECT_LAYER = {
  schedule: { weekly: { days: ['wed'], time: '22:00', tz: 'Asia/Shanghai' } },
  missed: 'skip',
  retention: { max_count: 4 },
  tiers: { fast: { capacity: { count: 10 } } },
};

beforeAll(async () => {
  await agent.reset();
  const point = { ...pointManifest(DOMAIN.uuid, backupIdAt(1), null), domain: DOMAIN.name, domain_xml: `<domain type='kvm'><name>${DOMAIN.name}</name></domain>` };
  await writePoint(path.join(agent.repoPath, DOMAIN.uuid, backupIdAt(1)), point);
  await agent.start();
});

afterAll(async () => {
  await agent.stop();
  await agent.discard();
  await rm(SECOND_TARGET, { recursive: true, force: true });
});

describe('virt-dr policy', () => {
  it('shows the defaults, each key with its layer', async () => {
    const run = await policy();
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe('policy of the defaults (policy.defaults in the config file)');
    expect(lines).toContain('schedule       defaults  every 3600 s');
    expect(lines).toContain('plan           built-in  primary local, secondaries nas2 (+300 s); copies 2');
  });

  it("sets a project's layer with --set: dotted paths, JSON and text values", async () => {
    const run = await policy('--project', PROJECT, '--set', `schedule=${WEEKLY}`, '--set', 'missed=skip', '--set', 'retention.max_count=4', '--set', 'tiers.fast.capacity={"count":10}');
    expect(run, run.stderr).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`policy of project ${PROJECT}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        'schedule       project   weekly wed 22:00 (Asia/Shanghai)',
        'missed         project   skip',
        'retention      project   max 4',
        'tiers          project   fast local (10 points), no slow, manual local (100 points)',
      ]),
    );
  });

  it('reads it back as text and as JSON (the agent\'s answer)', async () => {
    expect((await policy('--project', PROJECT)).stdout).toContain('retention      project   max 4\n');
    const answer = await json('--project', PROJECT);
    expect(answer.layers.project).toEqual(PROJECT_LAYER);
    expect(answer).toMatchObject({ project: PROJECT, domain: null, retention: { max_count: 4 }, sources: { schedule: 'project', quiesce: 'built-in' } });
  });

  it("shows the agent's refusal as it is, every problem named, exit 1, and keeps the layer", async () => {
    const run = await policy('--project', PROJECT, '--set', 'tiers.fast.capacity.count=0', '--set', 'plan.secondaries=[{"target":"nas9","delay_s":0}]');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'virt-dr: InvalidArgument: set_policy(): policy has 2 problems: tiers.fast.capacity.count must be at least 1; ' +
        'plan.secondaries[0].target "nas9" is not a configured target (configured: local, nas2)\n',
    );
    expect((await json('--project', PROJECT)).layers.project).toEqual(PROJECT_LAYER);
  });

  it('refuses a bad key path before asking the agent', async () => {
    const run = await policy('--project', PROJECT, '--set', 'retension.max_count=4');
    expect(run.code).toBe(2); // a usage error: nothing was sent
    expect(run.stderr).toMatch(/^virt-dr: --set "retension.max_count=4": "retension" is not a policy key \(keys: schedule, /);
  });

  it('removes keys with --unset; the less specific layer shows through', async () => {
    const answer = await json('--project', PROJECT, '--unset', 'retention.max_count', '--unset', 'schedule');
    expect(answer.layers.project).toEqual({ missed: 'skip', tiers: { fast: { capacity: { count: 10 } } } });
    expect(answer).toMatchObject({ schedule: { interval_s: 3600 }, retention: null, sources: { schedule: 'defaults', retention: 'built-in' } });
  });

  it("sets a domain's layer (by name), and --clear removes it (by UUID) and the project's", async () => {
    const set = await policy(DOMAIN.name, '--set', 'chain_length=2');
    expect(set, set.stderr).toMatchObject({ code: 0 });
    expect(set.stdout).toContain(`policy of domain ${DOMAIN.name} (${DOMAIN.uuid})\n`);
    expect(set.stdout).toContain('chain_length   domain    2 (a new full after 2 incrementals)\n');

    expect((await json(DOMAIN.uuid, '--clear')).layers.domain).toBeNull();
    const cleared = await json('--project', PROJECT, '--clear');
    expect(cleared.layers.project).toBeNull();
    expect(cleared.sources).toMatchObject({ missed: 'built-in', tiers: 'built-in', schedule: 'defaults' });
  });
});
