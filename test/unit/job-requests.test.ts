import { describe, expect, it } from 'vitest';
import { readBackupArgs, readDeleteArgs, readRestoreArgs, readVerifyArgs } from '../../src/api/job-requests.js';
import { InvalidArgument } from '../../src/errors.js';

const ID = '20261129T050000000Z-abcdef';

describe('job method arguments', () => {
  it('reads a backup as scheduled by default (the protocol\'s first kind), and refuses a manual incremental', () => {
    expect(readBackupArgs({ domain: 'inst' }).request).toEqual({ mode: 'auto', quiesce: 'auto', kind: 'scheduled', engine: null, excludeDisks: [] });
    expect(readBackupArgs({ domain: 'inst', kind: 'manual', mode: 'full' }).request.kind).toBe('manual');
    expect(() => readBackupArgs({ domain: 'inst', kind: 'manual', mode: 'incremental' })).toThrow(/manual backup is a self-contained full/);
  });

  it('reads a restore with its defaults', () => {
    expect(readRestoreArgs({ domain: 'inst', backup_id: ID })).toEqual({
      domain: 'inst',
      wait: false,
      request: { backupId: ID, target: 'replace', newName: null, instant: false, resume: false, definitionFrom: null },
    });
    expect(readRestoreArgs({ domain: 'inst', backup_id: ID, target: 'new', new_name: 'copy', instant: true, wait: true }).request).toMatchObject({
      target: 'new',
      newName: 'copy',
      instant: true,
    });
  });

  it.each([
    [{ domain: 'inst', backup_id: '../../etc/passwd' }, 'not a backup id'],
    [{ domain: '../x', backup_id: ID }, 'not a valid domain name'],
    [{ domain: 'inst', backup_id: ID, target: 'new' }, 'needs new_name'],
    [{ domain: 'inst', backup_id: ID, target: 'new', new_name: '../../root' }, 'argument new_name'],
    [{ domain: 'inst', backup_id: ID, new_name: 'copy' }, 'only for target "new"'],
    [{ domain: 'inst', backup_id: ID, resume: true }, 'pass instant=true'],
    [{ domain: 'inst', backup_id: ID, instant: 'yes' }, 'must be true or false'],
    [{ domain: 'inst', backup_id: ID, target: 'elsewhere' }, 'must be one of'],
    [{ domain: 'inst', backup_id: ID, path: '/etc' }, 'unexpected argument'],
  ])('refuses restore args %j', (args, message) => {
    expect(() => readRestoreArgs(args)).toThrow(InvalidArgument);
    expect(() => readRestoreArgs(args)).toThrow(message);
  });

  it('reads verify with or without a backup id, and delete_backup with one', () => {
    expect(readVerifyArgs({ domain: 'inst' }).request).toEqual({ backupId: null });
    expect(readVerifyArgs({ domain: 'inst', backup_id: ID }).request).toEqual({ backupId: ID });
    expect(() => readVerifyArgs({ domain: 'inst', backup_id: 'x/y' })).toThrow(InvalidArgument);
    expect(readDeleteArgs({ domain: 'inst', backup_id: ID, wait: true })).toEqual({ domain: 'inst', wait: true, request: { backupId: ID } });
    expect(() => readDeleteArgs({ domain: 'inst' })).toThrow('backup_id is required');
  });
});
