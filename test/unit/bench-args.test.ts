import { describe, expect, it } from 'vitest';
import { parseBenchArgs, SUITE_NAMES } from '../../bench/args.js';
import { FULL_PLAN, QUICK_PLAN } from '../../bench/plan.js';

describe('parseBenchArgs (the bench command line)', () => {
  it('runs every suite with the full plan into latest.*, or the quick plan into quick.*', () => {
    expect(parseBenchArgs([])).toEqual({ plan: FULL_PLAN, suites: [...SUITE_NAMES], stem: 'latest', command: '`npm run bench`' });
    expect(parseBenchArgs(['--quick'])).toEqual({ plan: QUICK_PLAN, suites: [...SUITE_NAMES], stem: 'quick', command: '`npm run bench -- --quick`' });
  });

  it('runs only the suites --only names, in the runner\'s order, and never writes latest.* or quick.* then', () => {
    expect(parseBenchArgs(['--only', 'restore'])).toMatchObject({ plan: FULL_PLAN, suites: ['restore'], stem: 'restore', command: '`npm run bench -- --only restore`' });
    expect(parseBenchArgs(['--only=full-backup,restore', '--quick'])).toMatchObject({
      plan: QUICK_PLAN,
      suites: ['restore', 'full-backup'],
      stem: 'quick-restore+full-backup',
      command: '`npm run bench -- --quick --only restore,full-backup`',
    });
    expect(parseBenchArgs(['--only', 'restore', '--only', 'bus-cost']).suites).toEqual(['bus-cost', 'restore']);
  });

  it('runs the DR suite alone into dr.*', () => {
    expect(parseBenchArgs(['--only', 'dr'])).toMatchObject({ suites: ['dr'], stem: 'dr', command: '`npm run bench -- --only dr`' });
    expect(parseBenchArgs(['--quick', '--only', 'dr'])).toMatchObject({ plan: QUICK_PLAN, stem: 'quick-dr' });
  });

  it('naming every suite is a whole run', () => {
    expect(parseBenchArgs(['--only', SUITE_NAMES.join(',')])).toMatchObject({ stem: 'latest', command: '`npm run bench`' });
  });

  it('refuses what it does not know, with the usage', () => {
    expect(() => parseBenchArgs(['--fast'])).toThrow(/unknown argument --fast; usage: npm run bench/);
    expect(() => parseBenchArgs(['--only', 'restor'])).toThrow(/unknown suite restor; .*suites: freeze-window, incremental, bus-cost, restore, dr, prune, s3, full-backup/);
    expect(() => parseBenchArgs(['--only'])).toThrow(/--only needs a suite name/);
    expect(() => parseBenchArgs(['--only='])).toThrow(/--only needs a suite name/);
  });

  it('refuses the incremental suite without the freeze-window suite, whose chain it continues', () => {
    expect(() => parseBenchArgs(['--only', 'incremental'])).toThrow(/add freeze-window/);
    expect(parseBenchArgs(['--only', 'incremental,freeze-window']).suites).toEqual(['freeze-window', 'incremental']);
  });
});
