import { describe, expect, it } from 'vitest';
import { applyEdits, parseSet, parseUnset, type LayerJson } from '../../src/cli/policy-edit.js';
import { refusalOf as refusal } from '../support/policy-fixtures.js';

const edit = (layer: LayerJson | null, sets: string[], unsets: string[] = []): LayerJson =>
  applyEdits(layer, [...unsets.map(parseUnset), ...sets.map(parseSet)]);

describe('virt-dr policy --set', () => {
  it('sets a top-level key and dotted paths, creating the objects on the way', () => {
    expect(edit(null, ['chain_length=3', 'retention.max_count=4', 'tiers.fast.capacity={"count":10}'])).toEqual({
      chain_length: 3,
      retention: { max_count: 4 },
      tiers: { fast: { capacity: { count: 10 } } },
    });
  });

  it('changes a copy of the layer, keeping its other keys', () => {
    const layer = { schedule: { interval_s: 60 }, tiers: { fast: { target: 'ssd' } } };
    const edited = edit(layer, ['schedule.interval_s=30', 'tiers.slow={"target":"hdd","after_s":3600}']);
    expect(edited).toEqual({ schedule: { interval_s: 30 }, tiers: { fast: { target: 'ssd' }, slow: { target: 'hdd', after_s: 3600 } } });
    expect(layer).toEqual({ schedule: { interval_s: 60 }, tiers: { fast: { target: 'ssd' } } });
  });

  it('takes VALUE as JSON when it parses, else as text', () => {
    expect(edit(null, ['missed=skip', 'jitter_s=null', 'exclude_disks=["vdb"]', 'engine="snapshot"', 'quiesce=', 'chain_length=1e1'])).toEqual({
      missed: 'skip',
      jitter_s: null,
      exclude_disks: ['vdb'],
      engine: 'snapshot',
      quiesce: '',
      chain_length: 10,
    });
    // Only the first = splits: a value may hold more.
    expect(edit(null, ['schedule.cron=0 22 * * 3', 'schedule.tz=a=b'])).toEqual({ schedule: { cron: '0 22 * * 3', tz: 'a=b' } });
  });

  it('replaces a null object on the way (schedule=null, then a field of one)', () => {
    expect(edit({ schedule: null }, ['schedule.interval_s=30'])).toEqual({ schedule: { interval_s: 30 } });
  });

  it('refuses a path through a value that is not an object, naming it', () => {
    expect(refusal(() => edit({ schedule: { interval_s: 30 } }, ['schedule.interval_s.x=1']))).toBe(
      '--set "schedule.interval_s.x=1": schedule.interval_s is 30, not an object',
    );
    expect(refusal(() => edit({ plan: { secondaries: [] } }, ['plan.secondaries.delay_s=1']))).toBe(
      '--set "plan.secondaries.delay_s=1": plan.secondaries is a list: set it whole, like plan.secondaries=[...]',
    );
  });

  it('refuses what is not KEY=VALUE or not a key path', () => {
    expect(refusal(() => parseSet('retention'))).toBe('--set "retention": expected KEY=VALUE (KEY a policy key or a dotted path into one)');
    expect(refusal(() => parseSet('retension=4'))).toMatch(/^--set "retension=4": "retension" is not a policy key \(keys: schedule, missed, .*exclude_disks\)$/);
    expect(refusal(() => parseSet('retention..max_count=4'))).toBe('--set "retention..max_count=4": the key path has an empty name (write it like retention.max_count)');
    expect(refusal(() => parseSet('=4'))).toContain('the key path has an empty name');
    expect(refusal(() => parseSet('Retention=4'))).toBe('--set "Retention=4": "Retention" is not a policy key name (lowercase letters, digits and _)');
    expect(refusal(() => parseSet('plan.secondaries[0].delay_s=1'))).toContain('"secondaries[0]" is not a policy key name');
  });

  it('quotes a hostile key by its start only', () => {
    const message = refusal(() => parseSet(`${'x'.repeat(10_000)}=1`));
    expect(message.length).toBeLessThan(300);
    expect(message).toContain('(10002 chars)');
  });
});

describe('hostile key names', () => {
  const hostile = ['__proto__.polluted=1', 'tiers.__proto__.polluted=1', 'tiers.constructor.prototype.polluted=1', 'plan.prototype=1', 'constructor=1'];
  it.each(hostile)('refuses %s and pollutes nothing', (text) => {
    expect(refusal(() => edit({ tiers: {} }, [text]))).toMatch(/is not a policy key/);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('keeps a JSON value\'s own "__proto__" key as data, for the agent to refuse', () => {
    const edited = edit(null, ['tiers={"__proto__":{"polluted":1}}']);
    expect(Object.hasOwn(edited['tiers'] as object, '__proto__')).toBe(true);
    expect(JSON.stringify(edited)).toBe('{"tiers":{"__proto__":{"polluted":1}}}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('virt-dr policy --unset', () => {
  const layer = { retention: { max_count: 4 }, tiers: { fast: { capacity: { count: 10 } }, slow: null }, chain_length: 3 };

  it('removes a key and the objects it leaves empty', () => {
    expect(edit(layer, [], ['chain_length'])).toEqual({ retention: { max_count: 4 }, tiers: { fast: { capacity: { count: 10 } }, slow: null } });
    expect(edit(layer, [], ['tiers.fast.capacity'])).toEqual({ retention: { max_count: 4 }, tiers: { slow: null }, chain_length: 3 });
    expect(edit(layer, [], ['tiers.fast.capacity', 'tiers.slow', 'retention.max_count', 'chain_length'])).toEqual({});
  });

  it('refuses a key the layer does not set, so a typo is not a silent no-op', () => {
    expect(refusal(() => edit(layer, [], ['schedule']))).toBe('--unset "schedule": schedule is not set in this layer');
    expect(refusal(() => edit(layer, [], ['tiers.manual.capacity']))).toBe('--unset "tiers.manual.capacity": tiers.manual.capacity is not set in this layer');
    expect(refusal(() => edit(null, [], ['tiers']))).toBe('--unset "tiers": tiers is not set in this layer');
    expect(refusal(() => edit(layer, [], ['chain_length.x']))).toBe('--unset "chain_length.x": chain_length is 3, not an object');
    expect(refusal(() => parseUnset('tiers.__proto__'))).toContain('"__proto__" is not a policy key name');
  });

  it('runs before the sets, so a schedule can change its form', () => {
    const weekly = { schedule: { weekly: { days: ['wed'], time: '22:00', tz: 'UTC' } } };
    expect(edit(weekly, ['schedule.interval_s=30'], ['schedule'])).toEqual({ schedule: { interval_s: 30 } });
  });
});
