import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, type PointView } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { createTestGuest, destroyTestGuest, domainState, waitForGuestReady, type TestGuest } from '../support/guest.js';
import { expectRefused } from '../support/refused.js';

/**
 * restore, verify and delete_backup refuse what they cannot do safely, each with a clear
 * error and before any job exists, and nothing changes: an unknown backup id, another
 * domain's backup id, a new_name that is taken, a restore while a backup of the domain
 * runs, and ids or names that try to become paths.
 */
const NAME = 'vdr-restore-bad';
const OTHER = 'vdr-restore-bad-other';
const UNKNOWN_ID = '20200101T000000000Z-000000';

describe('restore, verify and delete refuse bad requests', () => {
  const agent = new AgentProcess('restore-bad', '/var/lib/virt-dr-test/restore-bad');
  let client: RpcClient;
  let guest: TestGuest;
  let point: PointView;
  let otherPoint: PointView;

  beforeAll(async () => {
    ({ client, guest } = await startGuestAndAgent(agent, { name: NAME, dataDiskMiB: 32 }));
    const other = await createTestGuest({ name: OTHER, dataDiskMiB: 16, withAgent: false });
    await waitForGuestReady(other);
    point = await backupPoint(client, NAME);
    otherPoint = await backupPoint(client, OTHER, { quiesce: 'none' });
  }, 300_000);
  afterAll(async () => {
    await destroyTestGuest(OTHER);
    await stopGuestAndAgent(agent, NAME, client);
  });

  /**
   * Every file in the repository with its sha256, and the names of the files beside the
   * guest's disk (whose bytes change as the guest runs).
   */
  async function snapshotOfFiles(): Promise<Record<string, string>> {
    const files: Record<string, string> = {};
    for (const entry of await readdir(agent.repoPath, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      files[file] = createHash('sha256').update(await readFile(file)).digest('hex');
    }
    for (const name of await readdir(guest.workDir)) files[path.join(guest.workDir, name)] = 'present';
    return files;
  }

  it('refuses each with its own error class, and changes nothing', async () => {
    const before = await snapshotOfFiles();
    const refused = (method: string, args: Record<string, unknown>, cls: string) => expectRefused(client, method, args, cls);

    await refused('restore', { domain: NAME, backup_id: UNKNOWN_ID }, 'BackupNotFound');
    await refused('restore', { domain: NAME, backup_id: otherPoint.backup_id }, 'BackupNotFound');
    await refused('verify', { domain: NAME, backup_id: otherPoint.backup_id }, 'BackupNotFound');
    await refused('delete_backup', { domain: NAME, backup_id: otherPoint.backup_id }, 'BackupNotFound');
    await refused('delete_backup', { domain: NAME, backup_id: UNKNOWN_ID }, 'BackupNotFound');
    const taken = await refused('restore', { domain: NAME, backup_id: point.backup_id, target: 'new', new_name: OTHER }, 'DomainExists');
    expect(taken.message).toContain(OTHER);

    for (const args of [
      { domain: NAME, backup_id: `../${point.backup_id}` },
      { domain: NAME, backup_id: '../../../etc/passwd' },
      { domain: '../../etc', backup_id: point.backup_id },
      { domain: NAME, backup_id: point.backup_id, target: 'new', new_name: '../../../var/lib/x' },
      { domain: NAME, backup_id: point.backup_id, target: 'new', new_name: 'a/b' },
    ]) {
      await refused('restore', args, 'InvalidArgument');
    }
    await refused('delete_backup', { domain: NAME, backup_id: '..' }, 'InvalidArgument');
    await refused('verify', { domain: NAME, backup_id: '/etc/shadow' }, 'InvalidArgument');

    const { job_id } = await client.call<{ job_id: string }>('backup', { domain: NAME });
    await refused('restore', { domain: NAME, backup_id: point.backup_id }, 'DomainBusy');
    await refused('delete_backup', { domain: NAME, backup_id: point.backup_id }, 'DomainBusy');
    await client.call('cancel_job', { job_id }).catch(() => undefined);
    for (let i = 0; i < 200 && ['queued', 'running'].includes((await client.call<{ state: string }>('get_job', { job_id })).state); i++) {
      await new Promise((r) => setTimeout(r, 250));
    }

    expect(await domainState(NAME)).toBe('running');
    expect(await domainState(OTHER)).toBe('running');
    const after = await snapshotOfFiles();
    // Every file is as it was; the cancelled backup may have published a point of its own first.
    for (const [file, sha] of Object.entries(before)) expect(after[file], file).toBe(sha);
    const added = Object.keys(after).filter((f) => !(f in before));
    expect(added.every((f) => f.startsWith(path.join(agent.repoPath, guest.uuid) + '/'))).toBe(true);
  }, 300_000);
});
