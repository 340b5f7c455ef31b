import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { SCHEDULE_CHECKS } from '../../src/policy/schedule/checks.js';
import type { PolicyLayer } from '../../src/policy/parse-policy.js';
import { policySetupOf } from '../../src/policy/policies.js';
import { resolvePolicy, type PolicyLayers } from '../../src/policy/resolve-policy.js';
import type { TargetSpec } from '../../src/repo/target-config.js';
import { refusalOf, TEST_FACTS } from '../support/policy-fixtures.js';

const layers = (l: Partial<PolicyLayers>): PolicyLayers => ({ defaults: null, project: null, domain: null, ...l });
const resolve = (l: Partial<PolicyLayers>) => resolvePolicy(layers(l), TEST_FACTS);

const refusal = (l: Partial<PolicyLayers>): string => refusalOf(() => resolve(l));

describe('resolving a policy from its layers', () => {
  it('is the built-in policy when no layer sets anything: every target but the primary a secondary', () => {
    const { policy, sources } = resolve({});
    expect(policy).toEqual({
      schedule: null,
      missed: 'catch_up',
      jitter_s: null,
      retention: null,
      chain_length: 0,
      tiers: { fast: { target: 'ssd', capacity: null }, slow: null, manual: { target: 'ssd', capacity: null } },
      plan: {
        primary: 'ssd',
        secondaries: [
          { target: 'hdd', delay_s: 0 },
          { target: 'dr', delay_s: 300 },
        ],
        copies: 3,
      },
      quiesce: 'auto',
      engine: 'auto',
      exclude_disks: [],
    });
    expect(Object.values(sources).every((s) => s === 'built-in')).toBe(true);
  });

  it('takes each key from the most specific layer that sets it, nested objects whole', () => {
    const defaults: PolicyLayer = { schedule: { interval_s: 3600 }, retention: { max_count: 7 }, chain_length: 10, tiers: { fast: { capacity: { count: 5 } } } };
    const project: PolicyLayer = { schedule: { weekly: { days: ['wed'], time: '22:00', tz: 'Europe/Berlin' } }, tiers: { slow: { target: 'hdd', after_s: 86_400 } } };
    const domain: PolicyLayer = { chain_length: 3, jitter_s: null };
    const { policy, sources } = resolve({ defaults, project, domain });
    expect(policy.schedule).toEqual(project.schedule);
    expect(policy.retention).toEqual({ max_count: 7 });
    expect(policy.chain_length).toBe(3);
    // The project's tiers replace the defaults' whole: fast is unbounded again.
    expect(policy.tiers.fast).toEqual({ target: 'ssd', capacity: null });
    expect(sources).toMatchObject({ schedule: 'project', retention: 'defaults', chain_length: 'domain', jitter_s: 'domain', tiers: 'project', plan: 'built-in', engine: 'built-in' });
  });

  it('derives slow and manual capacities as ten times fast\'s, in its unit, unless given', () => {
    const count = resolve({ defaults: { tiers: { fast: { capacity: { count: 4 } }, slow: { target: 'hdd', after_s: 3600 } } } }).policy.tiers;
    expect(count.slow).toEqual({ target: 'hdd', capacity: { count: 40 }, after_s: 3600 });
    expect(count.manual).toEqual({ target: 'ssd', capacity: { count: 40 } });
    const bytes = resolve({ defaults: { tiers: { fast: { capacity: { bytes: 1000 } }, manual: { capacity: null } } } }).policy.tiers;
    expect(bytes.manual.capacity).toBeNull();
    const given = resolve({ defaults: { tiers: { fast: { capacity: { bytes: 1000 } }, slow: { target: 'hdd', capacity: { count: 2 }, after_s: 60 } } } }).policy.tiers;
    expect(given.slow?.capacity).toEqual({ count: 2 });
  });

  it('completes the tiers and the plan from each other and the configured targets', () => {
    // The plan's primary makes the fast tier's target; the tier targets are no secondaries.
    const fromPlan = resolve({ project: { plan: { primary: 'hdd' } } }).policy;
    expect(fromPlan.tiers.fast.target).toBe('hdd');
    expect(fromPlan.tiers.manual.target).toBe('hdd');
    expect(fromPlan.plan).toEqual({ primary: 'hdd', secondaries: [{ target: 'ssd', delay_s: 0 }, { target: 'dr', delay_s: 300 }], copies: 3 });
    // The fast tier's target makes the primary; a slow tier's target is not a secondary either.
    const fromTiers = resolve({ project: { tiers: { fast: { target: 'ssd' }, slow: { target: 'hdd', after_s: 60 } } } }).policy;
    expect(fromTiers.plan).toEqual({ primary: 'ssd', secondaries: [{ target: 'dr', delay_s: 300 }], copies: 2 });
    // Given secondaries set the default copy count.
    expect(resolve({ domain: { plan: { secondaries: [] } } }).policy.plan.copies).toBe(1);
  });

  it('uses the agent\'s backup.engine unless a layer names one', () => {
    expect(resolvePolicy(layers({}), { ...TEST_FACTS, engine: 'snapshot' }).policy.engine).toBe('snapshot');
    expect(resolvePolicy(layers({ project: { engine: 'checkpoint' } }), { ...TEST_FACTS, engine: 'snapshot' }).policy.engine).toBe('checkpoint');
  });

  const conflicts: [string, Partial<PolicyLayers>, string][] = [
    ['a primary that is not the fast tier', { project: { tiers: { fast: { target: 'ssd' } }, plan: { primary: 'hdd' } } }, 'tiers.fast.target "ssd" and plan.primary "hdd" differ'],
    ['a slow tier on the fast tier\'s target', { project: { tiers: { slow: { target: 'ssd', after_s: 60 } } } }, 'tiers.slow.target "ssd" is the fast tier\'s target'],
    ['more copies than targets', { project: { plan: { secondaries: [{ target: 'dr', delay_s: 0 }], copies: 3 } } }, 'plan.copies 3 is more than the primary and 1 secondary can hold (2)'],
    ['more copies than the default secondaries', { project: { plan: { copies: 4 } } }, 'plan.copies 4 is more than the primary and 2 secondaries can hold (3)'],
    ['a secondary that is a tier target', { project: { tiers: { slow: { target: 'hdd', after_s: 60 } }, plan: { secondaries: [{ target: 'hdd', delay_s: 0 }] } } }, 'plan.secondaries[0].target "hdd" is the slow tier\'s target'],
    ['the primary as a secondary', { project: { plan: { secondaries: [{ target: 'ssd', delay_s: 0 }] } } }, 'plan.secondaries[0].target "ssd" is the fast tier\'s target'],
  ];
  it.each(conflicts)('refuses %s', (_name, l, problem) => {
    const message = refusal(l);
    expect(message).toMatch(/^policy has 1 problem: /);
    expect(message).toContain(problem);
  });

  it('finds conflicts across layers, and names every one', () => {
    const message = refusal({
      defaults: { plan: { primary: 'hdd', copies: 4 } },
      domain: { tiers: { fast: { target: 'ssd' }, slow: { target: 'ssd', after_s: 60 } } },
    });
    expect(message).toContain('has 3 problems');
    expect(message).toContain('plan.primary "hdd" differ');
    expect(message).toContain('tiers.slow.target "ssd"');
    expect(message).toContain('plan.copies 4');
  });
});

describe('policy.defaults, parsed at start', () => {
  const targets: TargetSpec[] = TEST_FACTS.targets.map((t) => ({ kind: 'file', name: t.name, path: `/r/${t.name}`, bandwidthBytesPerS: 0, delayS: t.delay_s, ownerAgent: null }));

  it('sets the defaults layer and the facts policies are resolved with', () => {
    const setup = policySetupOf({ retention: { max_count: 7 } }, targets, 'checkpoint', SCHEDULE_CHECKS);
    expect(setup.defaults).toEqual({ retention: { max_count: 7 } });
    expect(setup.context.targets).toEqual(['ssd', 'hdd', 'dr']);
    expect(setup.facts).toEqual({ ...TEST_FACTS, engine: 'checkpoint' });
    expect(policySetupOf({}, targets, 'auto', SCHEDULE_CHECKS).defaults).toBeNull();
  });

  it('is a configuration error when it is bad alone or cannot resolve', () => {
    expect(() => policySetupOf({ chain_length: -1, schedule: { interval_s: 1 } }, targets, 'auto', SCHEDULE_CHECKS)).toThrow(
      new ConfigError('policy.defaults has 2 problems: schedule.interval_s must be at least 10; chain_length must be at least 0'),
    );
    expect(() => policySetupOf({ plan: { copies: 9 } }, targets, 'auto', SCHEDULE_CHECKS)).toThrow(/^policy\.defaults has 1 problem: plan\.copies 9/);
  });
});
