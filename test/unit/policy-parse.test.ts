import { describe, expect, it } from 'vitest';
import { parsePolicyLayer, type PolicyLayer } from '../../src/policy/parse-policy.js';
import { REFUSAL_LIMITS } from '../../src/policy/policy-fields.js';
import { refusalOf, TEST_PARSE_CONTEXT } from '../support/policy-fixtures.js';

const WHAT = 'set_policy(): policy';
const parse = (value: unknown): PolicyLayer => parsePolicyLayer(value, WHAT, TEST_PARSE_CONTEXT);

const refusal = (value: unknown): string => refusalOf(() => parse(value));

describe('a policy layer from untrusted JSON', () => {
  const good: [string, unknown][] = [
    ['nothing', {}],
    ['an interval', { schedule: { interval_s: 10 } }],
    ['a cron expression with its time zone', { schedule: { cron: '0 22 * * 3', tz: 'Europe/Berlin' } }],
    ['weekly days at a time of day', { schedule: { weekly: { days: ['wed', 'sat'], time: '22:00', tz: 'Asia/Shanghai' } } }],
    ['no schedule', { schedule: null }],
    ['a count cap', { retention: { max_count: 4 } }],
    ['GFS with one key', { retention: { daily: 7 } }],
    ['GFS with zeros beside a count', { retention: { keep_last: 0, daily: 7, weekly: 4, monthly: 0 } }],
    ['no retention', { retention: null }],
    ['every other key', { missed: 'skip', jitter_s: 600, chain_length: 0, quiesce: 'agent', engine: 'checkpoint', exclude_disks: ['vdb', 'sdc'] }],
    ['the scheduler\'s jitter', { jitter_s: null }],
    ['a fast tier\'s capacity only', { tiers: { fast: { capacity: { count: 4 } } } }],
    [
      'three tiers',
      {
        tiers: {
          fast: { target: 'ssd', capacity: { count: 10 } },
          slow: { target: 'hdd', after_s: 86_400 },
          manual: { target: 'ssd', capacity: { bytes: 1 << 30 } },
        },
      },
    ],
    ['no slow tier, an unbounded manual tier', { tiers: { slow: null, manual: { capacity: null } } }],
    ['a plan', { plan: { primary: 'ssd', secondaries: [{ target: 'dr', delay_s: 60 }], copies: 2 } }],
    ['a plan with no secondaries', { plan: { secondaries: [] } }],
  ];
  it.each(good)('accepts %s, as given', (_name, value) => {
    expect(parse(value)).toEqual(value);
  });

  it('reads null as a layer that sets nothing', () => {
    expect(parse(null)).toEqual({});
  });

  const bad: [string, unknown, string][] = [
    ['a list', [], 'must be an object, not a list'],
    ['an unknown key', { schedul: {} }, 'unknown key "schedul" (known: schedule,'],
    ['an unknown nested key', { tiers: { fast: { capacty: { count: 1 } } } }, 'tiers.fast has unknown key "capacty" (known: target, capacity)'],
    ['an unknown key in a capacity', { tiers: { fast: { capacity: { count: 1, gb: 2 } } } }, 'tiers.fast.capacity has unknown key "gb"'],
    ['a short interval', { schedule: { interval_s: 9 } }, 'schedule.interval_s must be at least 10'],
    ['a fractional interval', { schedule: { interval_s: 60.5 } }, 'schedule.interval_s must be a whole number, not 60.5'],
    ['an interval as text', { schedule: { interval_s: '60' } }, 'schedule.interval_s must be a whole number, not "60"'],
    ['two schedule forms', { schedule: { interval_s: 60, cron: '* * * * *', tz: 'UTC' } }, 'schedule must be exactly one of'],
    ['an empty schedule', { schedule: {} }, 'schedule must be exactly one of'],
    ['a malformed cron', { schedule: { cron: '0 22 * *', tz: 'UTC' } }, 'schedule.cron "0 22 * *": has 4 fields, expected 5 (minute hour day-of-month month day-of-week)'],
    ['a cron hour out of range', { schedule: { cron: '0 25 * * 3', tz: 'UTC' } }, 'schedule.cron "0 25 * * 3": hour 25 is outside 0-23'],
    ['a cron without a time zone', { schedule: { cron: '0 22 * * 3' } }, 'schedule.tz is required (an IANA time zone'],
    ['an unknown time zone', { schedule: { cron: '0 22 * * 3', tz: 'Mars/Olympus_Mons' } }, 'schedule.tz "Mars/Olympus_Mons": is an unknown time zone'],
    ['weekly without days', { schedule: { weekly: { days: [], time: '22:00', tz: 'UTC' } } }, 'schedule.weekly.days must name at least one of mon, tue'],
    ['weekly on no such day', { schedule: { weekly: { days: ['wed', 'funday'], time: '22:00', tz: 'UTC' } } }, 'schedule.weekly.days[1] must be one of "mon"'],
    ['weekly on a day twice', { schedule: { weekly: { days: ['wed', 'wed'], time: '22:00', tz: 'UTC' } } }, 'schedule.weekly.days names day "wed" more than once'],
    ['weekly at 24:00', { schedule: { weekly: { days: ['wed'], time: '24:00', tz: 'UTC' } } }, 'schedule.weekly.time "24:00" is not a time of day "HH:MM"'],
    ['weekly at 9:00', { schedule: { weekly: { days: ['wed'], time: '9:00', tz: 'UTC' } } }, 'schedule.weekly.time "9:00" is not a time of day'],
    ['weekly without a time zone', { schedule: { weekly: { days: ['wed'], time: '22:00' } } }, 'schedule.weekly.tz is required'],
    ['missed as a boolean', { missed: true }, 'missed must be one of "catch_up", "skip", not true'],
    ['a negative jitter', { jitter_s: -1 }, 'jitter_s must be at least 0'],
    ['a jitter over a day', { jitter_s: 86_401 }, 'jitter_s must be at most 86400'],
    ['a count cap of 0', { retention: { max_count: 0 } }, 'retention.max_count must be at least 1'],
    ['both retention forms', { retention: { max_count: 3, daily: 7 } }, 'retention is {"max_count"} or GFS {"keep_last", "daily", "weekly", "monthly"}, not both'],
    ['GFS that keeps nothing', { retention: { daily: 0, weekly: 0 } }, 'retention keeps nothing'],
    ['an empty retention', { retention: {} }, 'retention keeps nothing'],
    ['a negative GFS count', { retention: { daily: -1 } }, 'retention.daily must be at least 0'],
    ['a negative chain length', { chain_length: -1 }, 'chain_length must be at least 0'],
    ['a chain length past the bound', { chain_length: 1001 }, 'chain_length must be at most 1000'],
    ['a capacity of 0', { tiers: { fast: { capacity: { count: 0 } } } }, 'tiers.fast.capacity.count must be at least 1'],
    ['a negative capacity', { tiers: { manual: { capacity: { bytes: -5 } } } }, 'tiers.manual.capacity.bytes must be at least 1'],
    ['a capacity in two units', { tiers: { fast: { capacity: { count: 1, bytes: 1 } } } }, 'tiers.fast.capacity must be {"count": N} or {"bytes": N}'],
    ['an empty capacity', { tiers: { fast: { capacity: {} } } }, 'tiers.fast.capacity must be {"count": N} or {"bytes": N}'],
    ['a slow tier without T2', { tiers: { slow: { target: 'hdd' } } }, 'tiers.slow.after_s is required (T2'],
    ['a slow tier without a target', { tiers: { slow: { after_s: 3600 } } }, 'tiers.slow.target is required'],
    ['a short T2', { tiers: { slow: { target: 'hdd', after_s: 5 } } }, 'tiers.slow.after_s must be at least 10'],
    ['an unknown tier target', { tiers: { fast: { target: 'nas9' } } }, 'tiers.fast.target "nas9" is not a configured target (configured: ssd, hdd, dr)'],
    ['an unknown tier', { tiers: { warm: {} } }, 'tiers has unknown key "warm" (known: fast, slow, manual)'],
    ['an unknown secondary', { plan: { secondaries: [{ target: 'nas9', delay_s: 0 }] } }, 'plan.secondaries[0].target "nas9" is not a configured target'],
    ['a secondary twice', { plan: { secondaries: [{ target: 'dr', delay_s: 0 }, { target: 'dr', delay_s: 60 }] } }, 'plan.secondaries names target "dr" more than once'],
    ['a secondary without a delay', { plan: { secondaries: [{ target: 'dr' }] } }, 'plan.secondaries[0].delay_s is required'],
    ['a negative delay', { plan: { secondaries: [{ target: 'dr', delay_s: -1 }] } }, 'plan.secondaries[0].delay_s must be at least 0'],
    ['no copies', { plan: { copies: 0 } }, 'plan.copies must be at least 1'],
    ['an empty primary', { plan: { primary: '' } }, 'plan.primary must be a non-empty string, not ""'],
    ['an unknown quiesce mode', { quiesce: 'freeze' }, 'quiesce must be one of "auto", "agent", "suspend", "none", not "freeze"'],
    ['an unknown engine', { engine: 'rsync' }, 'engine must be one of "auto", "checkpoint", "snapshot"'],
    ['a disk path', { exclude_disks: ['/dev/vdb'] }, 'exclude_disks[0] "/dev/vdb" is not a disk device name like "vdb"'],
    ['a disk twice', { exclude_disks: ['vdb', 'vdb'] }, 'exclude_disks names disk "vdb" more than once'],
    ['disks as text', { exclude_disks: 'vdb' }, 'exclude_disks must be a list, not "vdb"'],
  ];
  it.each(bad)('refuses %s, naming the field', (_name, value, problem) => {
    const message = refusal(value);
    expect(message).toMatch(/^set_policy\(\): policy has 1 problem: /);
    expect(message).toContain(problem);
  });

  it('refuses a policy with several problems whole, naming every one', () => {
    const message = refusal({
      schedule: { cron: '0 25 * * 3', tz: 'Europe/Berlin' },
      tiers: { fast: { capacity: { count: 0 } } },
      plan: { secondaries: [{ target: 'nas9', delay_s: 0 }] },
      quiesce: 'auto',
    });
    expect(message).toBe(
      'set_policy(): policy has 3 problems: schedule.cron "0 25 * * 3": hour 25 is outside 0-23; ' +
        'tiers.fast.capacity.count must be at least 1; ' +
        'plan.secondaries[0].target "nas9" is not a configured target (configured: ssd, hdd, dr)',
    );
  });

  it('names the problems inside lists, each by its index', () => {
    const message = refusal({ exclude_disks: ['vda', 'BAD/1', 'vdc', '../x'], schedule: { weekly: { days: ['mon', 'xx', 'yy'], time: '22:00', tz: 'UTC' } } });
    expect(message).toContain('has 4 problems');
    for (const path of ['exclude_disks[1] "BAD/1"', 'exclude_disks[3] "../x"', 'schedule.weekly.days[1]', 'schedule.weekly.days[2]']) expect(message).toContain(path);
  });

  it('clips hostile strings in its messages and bounds the message however many problems there are', () => {
    const huge = 'x'.repeat(100_000);
    const message = refusal({ [huge]: 1, engine: huge, schedule: { cron: huge, tz: 'UTC' }, plan: { primary: `nas${'9'.repeat(500)}` } });
    expect(message).toContain(`unknown key "${'x'.repeat(64)}"…(100000 chars)`);
    expect(message).toContain('engine must be one of "auto", "checkpoint", "snapshot", not "xxx');
    expect(message).toContain('schedule.cron is 100000 characters long; the limit is 1024');
    expect(message).toContain('plan.primary "nas999');
    expect(message.length).toBeLessThan(1000);

    const many = refusal({ exclude_disks: Array.from({ length: 256 }, (_, i) => `/dev/disk${i}${'z'.repeat(60)}`) });
    expect(many).toContain('has 256 problems');
    expect(many).toMatch(/; and \d+ more$/);
    expect(many.length).toBeLessThanOrEqual(REFUSAL_LIMITS.chars + 200);
  });

  it('lists at most a few unknown keys of one object', () => {
    const message = refusal(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])));
    expect(message).toContain('unknown keys "k0", "k1", "k2", "k3", "k4" and 45 more');
  });

  it('never reads a key named __proto__ or constructor as anything but unknown', () => {
    const value = JSON.parse('{"__proto__": {"engine": "snapshot"}, "constructor": 1}');
    expect(refusal(value)).toContain('unknown keys "__proto__", "constructor"');
  });
});
