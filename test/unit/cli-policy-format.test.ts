import { describe, expect, it } from 'vitest';
import type { PolicyAnswer } from '../../src/api/policy-methods.js';
import { describePlan, describeRetention, describeSchedule, describeTiers, formatPolicy } from '../../src/cli/policy-format.js';
import type { Policy } from '../../src/policy/policy.js';

const POLICY: Policy = {
  schedule: { interval_s: 30 },
  missed: 'skip',
  jitter_s: null,
  retention: { max_count: 4 },
  chain_length: 3,
  tiers: {
    fast: { target: 'ssd', capacity: { count: 10 } },
    slow: { target: 'hdd', capacity: null, after_s: 3600 },
    manual: { target: 'ssd', capacity: { count: 100 } },
  },
  plan: { primary: 'ssd', secondaries: [{ target: 'dr', delay_s: 300 }], copies: 2 },
  quiesce: 'auto',
  engine: 'checkpoint',
  exclude_disks: ['vdb', 'vdc'],
};

const ANSWER: PolicyAnswer = {
  ...POLICY,
  sources: {
    schedule: 'domain',
    missed: 'project',
    jitter_s: 'built-in',
    retention: 'defaults',
    chain_length: 'domain',
    tiers: 'project',
    plan: 'built-in',
    quiesce: 'built-in',
    engine: 'built-in',
    exclude_disks: 'domain',
  },
  layers: { defaults: { retention: { max_count: 4 } }, project: { missed: 'skip' }, domain: { schedule: { interval_s: 30 } } },
  project: '0a1b2c3d',
  domain: { name: 'vm1', uuid: '5e1f0c3a-7b2d-4e6f-9a8b-0c1d2e3f4a5b' },
};

describe('virt-dr policy, as text', () => {
  it('shows whose policy it is, then each key with its layer and its value in words', () => {
    expect(formatPolicy(ANSWER)).toEqual([
      'policy of domain vm1 (5e1f0c3a-7b2d-4e6f-9a8b-0c1d2e3f4a5b), project 0a1b2c3d',
      'schedule       domain    every 30 s',
      'missed         project   skip',
      "jitter_s       built-in  the scheduler's default",
      'retention      defaults  max 4',
      'chain_length   domain    3 (a new full after 3 incrementals)',
      'tiers          project   fast ssd (10 points), slow hdd after 3600 s (unbounded), manual ssd (100 points)',
      'plan           built-in  primary ssd, secondaries dr (+300 s); copies 2',
      'quiesce        built-in  auto',
      'engine         built-in  checkpoint',
      'exclude_disks  domain    vdb, vdc',
    ]);
  });

  it("names a project's policy and the defaults", () => {
    expect(formatPolicy({ ...ANSWER, domain: null })[0]).toBe('policy of project 0a1b2c3d');
    expect(formatPolicy({ ...ANSWER, domain: null, project: null })[0]).toBe('policy of the defaults (policy.defaults in the config file)');
    expect(formatPolicy({ ...ANSWER, project: null })[0]).toBe('policy of domain vm1 (5e1f0c3a-7b2d-4e6f-9a8b-0c1d2e3f4a5b)');
  });

  it('words the other values of the scalar keys', () => {
    const lines = formatPolicy({ ...ANSWER, jitter_s: 600, chain_length: 0, exclude_disks: [] });
    expect(lines).toContain('jitter_s       built-in  up to 600 s');
    expect(lines).toContain('chain_length   domain    0 (incrementals while the chain is intact)');
    expect(lines).toContain('exclude_disks  domain    none');
  });

  it.each([
    [{ interval_s: 30 }, 'every 30 s'],
    [{ cron: '0 22 * * 3', tz: 'Europe/Berlin' }, 'cron 0 22 * * 3 (Europe/Berlin)'],
    [{ weekly: { days: ['wed'], time: '22:00', tz: 'Asia/Shanghai' } }, 'weekly wed 22:00 (Asia/Shanghai)'],
    [{ weekly: { days: ['mon', 'thu'], time: '03:30', tz: 'UTC' } }, 'weekly mon,thu 03:30 (UTC)'],
    [null, 'none (backups only on request)'],
  ] as const)('schedule %j: %s', (schedule, text) => {
    expect(describeSchedule(schedule as Policy['schedule'])).toBe(text);
  });

  it.each([
    [{ max_count: 4 }, 'max 4'],
    [{ keep_last: 2, daily: 7 }, 'keep_last 2, daily 7'],
    [{ monthly: 12, weekly: 4, keep_last: 0 }, 'keep_last 0, weekly 4, monthly 12'],
    [{}, 'keep none'],
    [null, "none (the tiers' capacities decide)"],
  ] as const)('retention %j: %s', (retention, text) => {
    expect(describeRetention(retention)).toBe(text);
  });

  it('words each tier and capacity form', () => {
    expect(describeTiers(POLICY.tiers)).toBe('fast ssd (10 points), slow hdd after 3600 s (unbounded), manual ssd (100 points)');
    expect(
      describeTiers({ fast: { target: 'ssd', capacity: { count: 1 } }, slow: null, manual: { target: 'hdd', capacity: { bytes: 10 * 1024 ** 3 } } }),
    ).toBe('fast ssd (1 point), no slow, manual hdd (10.0 GiB)');
  });

  it('words a plan with several secondaries and with none', () => {
    expect(describePlan(POLICY.plan)).toBe('primary ssd, secondaries dr (+300 s); copies 2');
    expect(describePlan({ primary: 'ssd', secondaries: [{ target: 'dr', delay_s: 300 }, { target: 'nas', delay_s: 0 }], copies: 3 })).toBe(
      'primary ssd, secondaries dr (+300 s), nas (+0 s); copies 3',
    );
    expect(describePlan({ primary: 'ssd', secondaries: [], copies: 1 })).toBe('primary ssd, no secondaries; copies 1');
  });

  it("ends a domain's policy with its schedule as the scheduler keeps it", () => {
    const state = { last_slot: '2026-11-29T22:00:00.000Z', next_slot: '2026-11-29T22:01:00.000Z', pending_slot: null, last_job_id: 'j1', last_error: 'domain vm is shutoff', next_start: '2026-11-29T22:01:00.000Z' };
    expect(formatPolicy({ ...ANSWER, schedule_state: state }).slice(-3)).toEqual([
      'last slot  2026-11-29T22:00:00.000Z (job j1)',
      'next start 2026-11-29T22:01:00.000Z',
      'last error domain vm is shutoff',
    ]);
  });
});
