import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { run, virsh, type TestGuest } from '../support/guest.js';

/**
 * A tenant controls every byte of a raw disk, so a raw disk can start with a qcow2 header
 * that names any host file as its backing file. Nothing the agent does may open such a
 * disk as qcow2: after every kind of backup (a copy of the file, an incremental, a
 * flattening full, a push backup) the host file's content is in no file of the repository.
 */
const GUEST = 'vdr-raw-no-probe';
const WORK = '/var/lib/virt-dr-test/raw-no-probe';
const agent = new AgentProcess('raw-no-probe', WORK);
const SECRET = `host-secret-${randomBytes(16).toString('hex')}`;
let guest: TestGuest;
let client: RpcClient;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('a raw disk that carries a crafted qcow2 header', () => {
  beforeAll(async () => {
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 64 }));
    const secretFile = path.join(WORK, 'secret.txt');
    const crafted = path.join(guest.workDir, 'crafted.raw');
    await mkdir(WORK, { recursive: true });
    await writeFile(secretFile, SECRET.repeat(4096));
    // A qcow2 image whose backing file is the secret: a reader that probes the format
    // opens it as qcow2 and reads the secret through it. Used as the bytes of a raw disk.
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', secretFile, '-F', 'raw', crafted, '64M']);
    await virsh(['attach-disk', GUEST, crafted, 'vdb', '--driver', 'qemu', '--subdriver', 'raw', '--targetbus', 'virtio', '--live', '--config']);
    const probed = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', crafted])).stdout);
    expect(probed.format).toBe('qcow2'); // what a probing qemu-img sees
  });
  afterAll(async () => {
    await stopGuestAndAgent(agent, GUEST, client);
    await rm(WORK, { recursive: true, force: true });
  });

  it('snapshot engine: a copy, an incremental and a flattening full carry no byte of the host file', async () => {
    const first = await backupPoint(client, GUEST, { engine: 'snapshot' });
    expect(first.disks.find((d) => d.target === 'vdb')).toMatchObject({ file: 'vdb.raw' });
    expect(await backupPoint(client, GUEST, { engine: 'snapshot' })).toMatchObject({ mode: 'incremental' });
    expect(await backupPoint(client, GUEST, { engine: 'snapshot', mode: 'full' })).toMatchObject({ mode: 'full' });
  });

  it('checkpoint engine: a push backup carries no byte of it either', async () => {
    const point = await backupPoint(client, GUEST, { engine: 'checkpoint' });
    expect(point).toMatchObject({ engine: 'checkpoint', mode: 'full' });
  });

  it('the secret is in no file of the repository', async () => {
    const files = await filesUnder(agent.repoPath);
    expect(files.length).toBeGreaterThan(8);
    for (const file of files) {
      expect({ file, leaks: (await readFile(file)).includes(SECRET) }).toEqual({ file, leaks: false });
    }
  });
});
