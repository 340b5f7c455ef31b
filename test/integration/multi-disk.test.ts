import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint, diskChain } from '../support/backup-api.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess, SNAPSHOT_ENGINE } from '../support/agent-process.js';
import { guestExecOk, run, type TestGuest } from '../support/guest.js';

/**
 * A domain with two disks: one snapshot covers both, each keeps a base plus one overlay,
 * and a disk left out with exclude_disks neither breaks the chain nor grows its own.
 */
const GUEST = 'vdr-multidisk';
const agent = new AgentProcess('multidisk', '/var/lib/virt-dr-test/multidisk', SNAPSHOT_ENGINE);
let guest: TestGuest;
let client: RpcClient;

const backup = (args: Record<string, unknown> = {}) => backupPoint(client, GUEST, args);

/** Writes `mib` MiB of random data to the raw block device vdb and returns their sha256. */
async function writeToVdb(mib: number): Promise<string> {
  const script = 'set -e; head -c "$1" /dev/urandom > /tmp/blob; dd if=/tmp/blob of=/dev/vdb bs=1M conv=fsync 2>/dev/null; sha256sum /tmp/blob';
  const r = await guestExecOk(GUEST, ['/bin/sh', '-c', script, 'sh', String(mib << 20)], { timeoutMs: 120_000 });
  return r.stdout.trim().split(/\s+/)[0]!;
}

/** The sha256 of the first `bytes` of a disk image, read through its whole qcow2 chain. */
async function imagePrefixSha256(image: string, bytes: number): Promise<string> {
  const raw = `${image}.raw`;
  try {
    await run('qemu-img', ['convert', '-O', 'raw', image, raw]);
    return createHash('sha256').update((await readFile(raw)).subarray(0, bytes)).digest('hex');
  } finally {
    await rm(raw, { force: true });
  }
}

describe('a domain with two disks', () => {
  beforeAll(async () => {
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 64, extraDisksMiB: [64] }));
  });

  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  let vdbSha: string;

  it('backs up both disks with one snapshot; each chain is a base plus one overlay', async () => {
    const full = await backup();
    expect(full.mode).toBe('full');
    expect(full.disks.map((d) => d.target)).toEqual(['vda', 'vdb']);
    expect((await diskChain(GUEST, 'vda')).slice(1)).toEqual([guest.dataDisk]);
    expect((await diskChain(GUEST, 'vdb')).slice(1)).toEqual([guest.extraDisks[0]]);
  });

  it('takes an incremental of both, and the second disk restores with the bytes written to it', async () => {
    vdbSha = await writeToVdb(2);
    const point = await backup();
    expect(point.mode).toBe('incremental');
    const vdb = point.disks.find((d) => d.target === 'vdb')!;
    expect(vdb.size).toBeGreaterThan(2 << 20);
    expect(vdb.size).toBeLessThan(4 << 20);
    const file = path.join(agent.repoPath, point.domain_uuid, point.backup_id, vdb.file);
    expect(await imagePrefixSha256(file, 2 << 20)).toBe(vdbSha);
  });

  it('leaves an excluded disk alone, and merges its overlay once it is included again', async () => {
    const vdbBefore = await diskChain(GUEST, 'vdb');
    const vdaOnly = await backup({ exclude_disks: ['vdb'] });
    expect(vdaOnly.disks.map((d) => d.target)).toEqual(['vda']);
    // The disk set changed, so this is a full; vdb was not touched.
    expect(vdaOnly.mode).toBe('full');
    expect(await diskChain(GUEST, 'vdb')).toEqual(vdbBefore);

    const both = await backup();
    expect(both.disks.map((d) => d.target)).toEqual(['vda', 'vdb']);
    expect((await diskChain(GUEST, 'vda')).slice(1)).toEqual([guest.dataDisk]);
    // vdb's older agent overlay was merged, not left under the new one.
    expect((await diskChain(GUEST, 'vdb')).slice(1)).toEqual([guest.extraDisks[0]]);
  });
});
