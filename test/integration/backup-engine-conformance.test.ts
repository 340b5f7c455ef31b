import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import type { EngineName } from '../../src/repo/point.js';
import { backupPoint, pointFile, type PointView } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { agentCommand, domainState, guestWriteRandomFile, readFileFromQcow2, run, virsh } from '../support/guest.js';

/**
 * What every backup engine must do, whichever one runs: the same repository format, the
 * same point object, verified bytes, an incremental the size of what the guest wrote that
 * opens with plain qemu-img onto its parent, and a guest that runs on, thawed, with no
 * libvirt snapshot or checkpoint metadata of the agent's left behind.
 */
const ENGINES: EngineName[] = ['snapshot', 'checkpoint'];
const WRITE = 4 << 20;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe.each(ENGINES)('backup engine conformance: %s', (engine) => {
  const name = `vdr-conform-${engine}`;
  const agent = new AgentProcess(`conform-${engine}`, `/var/lib/virt-dr-test/conform-${engine}`, { VIRT_DR_BACKUP_ENGINE: engine });
  let client: RpcClient;
  let full: PointView;

  beforeAll(async () => {
    ({ client } = await startGuestAndAgent(agent, { name, dataDiskMiB: 64 }));
  });
  afterAll(() => stopGuestAndAgent(agent, name, client));

  async function expectGuestReleased(): Promise<void> {
    expect(await domainState(name)).toBe('running');
    expect(await agentCommand<string>(name, 'guest-fsfreeze-status')).toBe('thawed');
    expect(await virsh(['snapshot-list', name, '--name'])).toBe('');
    expect(await virsh(['checkpoint-list', name, '--name'])).toBe('');
  }

  it('takes a full whose files are what the manifest says', async () => {
    full = await backupPoint(client, name);
    expect(full).toMatchObject({ engine, mode: 'full', parent: null, quiesce: 'agent' });
    expect(full.reason).toEqual(expect.any(String));
    for (const disk of full.disks) {
      const bytes = await readFile(pointFile(agent.repoPath, { ...full, disks: [disk] }));
      expect(sha256(bytes)).toBe(disk.sha256);
      expect(disk.size).toBe(bytes.length);
    }
    await expectGuestReleased();
  });

  it('takes an incremental the size of the writes, which opens onto its parent with plain qemu-img', async () => {
    const written = await guestWriteRandomFile(name, '/data/conformance.bin', WRITE);
    const next = await backupPoint(client, name);
    expect(next).toMatchObject({ engine, mode: 'incremental', parent: full.backup_id, reason: null });
    expect(next.bytes).toBeGreaterThan(WRITE);
    expect(next.bytes).toBeLessThan(WRITE + (4 << 20));
    const file = pointFile(agent.repoPath, next);
    const info = JSON.parse((await run('qemu-img', ['info', '-f', 'qcow2', '--output=json', file])).stdout);
    expect(info['backing-filename']).toBe(`../${full.backup_id}/${full.disks[0]!.file}`);
    expect(sha256(await readFileFromQcow2(file, '/conformance.bin'))).toBe(written);
    await expectGuestReleased();
  });

  it('stores nothing others may read: every file and folder of its points is private', async () => {
    const domainDir = path.join(agent.repoPath, full.domain_uuid);
    for (const point of await readdir(domainDir)) {
      for (const name of ['', ...(await readdir(path.join(domainDir, point)))]) {
        const { mode } = await stat(path.join(domainDir, point, name));
        expect({ file: `${point}/${name}`, others: mode & 0o007 }).toEqual({ file: `${point}/${name}`, others: 0 });
      }
    }
  });

  it('lists its points oldest first and answers get_backup with the same point', async () => {
    const { backups } = await client.call<{ backups: PointView[] }>('list_backups', { domain: name });
    expect(backups.map((b) => b.mode)).toEqual(['full', 'incremental']);
    expect(backups.every((b) => b.engine === engine)).toBe(true);
    expect(await client.call('get_backup', { domain: name, backup_id: backups[1]!.backup_id })).toEqual(backups[1]);
  });
});
