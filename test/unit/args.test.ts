import { describe, expect, it } from 'vitest';
import { ArgReader, checkDomainName } from '../../src/api/args.js';
import { InvalidArgument } from '../../src/errors.js';

describe('ArgReader', () => {
  it('reads typed args with defaults', () => {
    const read = new ArgReader('backup', { domain: 'vm', mode: 'full', exclude_disks: ['vdb'] });
    expect(read.string('domain')).toBe('vm');
    expect(read.oneOf('mode', ['auto', 'full'] as const, 'auto')).toBe('full');
    expect(read.oneOf('quiesce', ['auto', 'none'] as const, 'auto')).toBe('auto');
    expect(read.stringList('exclude_disks')).toEqual(['vdb']);
    expect(read.boolean('wait', false)).toBe(false);
    expect(() => read.done()).not.toThrow();
  });

  it('names the argument that is missing, ill-typed, out of range or unexpected', () => {
    expect(() => new ArgReader('backup', {}).string('domain')).toThrow(/argument domain is required/);
    expect(() => new ArgReader('backup', { domain: 3 }).string('domain')).toThrow(/domain must be a non-empty string/);
    expect(() => new ArgReader('backup', { mode: 'weekly' }).oneOf('mode', ['auto'] as const, 'auto')).toThrow(InvalidArgument);
    expect(() => new ArgReader('backup', { wait: 'yes' }).boolean('wait', false)).toThrow(/true or false/);
    expect(() => new ArgReader('backup', { exclude_disks: 'vdb' }).stringList('exclude_disks')).toThrow(/list of strings/);
    const read = new ArgReader('ping', { colour: 'red' });
    expect(() => read.done()).toThrow(/unexpected argument\(s\): colour/);
  });
});

describe('checkDomainName', () => {
  it('accepts names and UUIDs and refuses path tricks', () => {
    expect(checkDomainName('backup', 'instance-0000002a')).toBe('instance-0000002a');
    expect(checkDomainName('backup', '0b5c3f5e-0000-4000-8000-000000000001')).toBeTruthy();
    for (const bad of ['../etc', 'a/b', '..', 'x\ny', '', ' vm']) {
      expect(() => checkDomainName('backup', bad)).toThrow(InvalidArgument);
    }
  });
});
