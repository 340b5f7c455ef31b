import { describe, expect, it } from 'vitest';
import { ARG_LIMITS, ArgReader, checkDomainName } from '../../src/api/args.js';
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
    expect(() => read.done()).toThrow(/unexpected argument\(s\): "colour"/);
  });
});

describe('ArgReader limits', () => {
  it(`takes strings of up to ${ARG_LIMITS.stringChars} characters and names the limit beyond`, () => {
    const at = 'j'.repeat(ARG_LIMITS.stringChars);
    expect(new ArgReader('get_job', { job_id: at }).string('job_id')).toBe(at);
    expect(() => new ArgReader('get_job', { job_id: `${at}j` }).string('job_id')).toThrow(
      `get_job(): argument job_id is ${ARG_LIMITS.stringChars + 1} characters long; the limit is ${ARG_LIMITS.stringChars}`,
    );
  });

  it(`takes lists of up to ${ARG_LIMITS.listItems} strings, each bounded`, () => {
    const disks = Array.from({ length: ARG_LIMITS.listItems }, (_, i) => `vd${i}`);
    expect(new ArgReader('backup', { exclude_disks: disks }).stringList('exclude_disks')).toEqual(disks);
    expect(() => new ArgReader('backup', { exclude_disks: [...disks, 'vdz'] }).stringList('exclude_disks')).toThrow(
      `backup(): argument exclude_disks has ${ARG_LIMITS.listItems + 1} items; the limit is ${ARG_LIMITS.listItems}`,
    );
    expect(() => new ArgReader('backup', { exclude_disks: ['x'.repeat(ARG_LIMITS.stringChars + 1)] }).stringList('exclude_disks')).toThrow(
      /argument exclude_disks item is 1025 characters long; the limit is 1024/,
    );
  });

  it('lists at most five unexpected names, each clipped', () => {
    const names = Array.from({ length: 7 }, (_, i) => `unknown_${i}_`.padEnd(1_000_000, 'n'));
    const read = new ArgReader('backup', Object.fromEntries(names.map((n) => [n, true])));
    let message = '';
    try {
      read.done();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgument);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^backup\(\) got unexpected argument\(s\): "unknown_0_n+"…\(1000000 chars\), .* and 2 more$/);
    expect(message.length).toBeLessThan(600);
  });

  it('quotes a refused domain name clipped', () => {
    expect(() => checkDomainName('backup', `../${'x'.repeat(100_000)}`)).toThrow(/argument domain "\.\.\/x{61}"…\(100003 chars\) is not a valid/);
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
