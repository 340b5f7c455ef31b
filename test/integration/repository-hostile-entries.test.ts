/**
 * The REAL agent (built dist/, child process) starting on a repository folder that holds
 * hostile and broken entries: points of a newer agent, a point with one odd field, a
 * directory and a FIFO named manifest.json, an oversized manifest, points filed under the
 * wrong domain, symlinks out of the repository, and staging folders of other hosts.
 *
 * It must start, answer ping, list the good points and mark the bad ones, and leave every
 * entry it does not own where it was. Then a second agent (another host name) shares the
 * repository while the first restarts: the second's staging folder survives.
 *
 * No guest: the domain is one libvirt does not know, found by its UUID.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteError, type RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess } from '../support/agent-process.js';
import { backupIdAt, existsNoFollow, missingPaths, plantHostileRepository, releaseFifoReaders, type PlantedRepository } from '../support/hostile-repo.js';

const agent = new AgentProcess('repo-hostile', '/var/lib/virt-dr-test/repo-hostile');
// The second host shares the first one's repository folder, as hosts share an NFS export.
const otherAgent = new AgentProcess('repo-hostile-b', '/var/lib/virt-dr-test/repo-hostile-b', { VIRT_DR_REPO_PATH: agent.repoPath });
const outside = path.join(agent.workDir, 'outside');

interface ListBackups {
  backups: { backup_id: string }[];
  invalid: { backup_id: string | null; reason: string }[];
}

let planted: PlantedRepository;
let client: RpcClient;

const listBackups = (domain: string, via: { client: RpcClient; host: string } = { client, host: agent.host }) =>
  via.client.call<ListBackups>('list_backups', { domain }, { timeoutMs: 20_000, server: via.host });

// One file-level setup: the second describe restarts the agent the first one started.
beforeAll(async () => {
  await agent.reset();
  await otherAgent.reset();
  // The planted foreign staging folder is of a third host, one that never starts here.
  planted = await plantHostileRepository(agent.repoPath, outside, agent.host, 'test-repo-hostile-elsewhere');
  await agent.start();
  client = await agent.client();
});

afterAll(async () => {
  // Releases a reader stuck on the FIFO, should an agent ever open it as a file again.
  await releaseFifoReaders(planted?.fifos ?? []);
  await client?.close();
  await otherAgent.stop();
  await agent.stop();
  await otherAgent.discard();
  await agent.discard();
  await rm(outside, { recursive: true, force: true });
});

describe('the agent starts on a repository with hostile entries', () => {
  it('answers ping after its start-up sweep', async () => {
    const pong = await client.call<{ host: string }>('ping', {}, { timeoutMs: 10_000, server: agent.host });
    expect(pong.host).toBe(agent.host);
  });

  it('lists the good points of a domain libvirt does not know, and marks every bad one', async () => {
    const listed = await listBackups(planted.domainUuid);
    expect(listed.backups.map((b) => b.backup_id)).toEqual(planted.good);
    expect(listed.invalid.map((i) => i.backup_id)).toEqual(planted.invalid.map((i) => i.backup_id));
    for (const expected of planted.invalid) {
      const marked = listed.invalid.find((i) => i.backup_id === expected.backup_id);
      expect(marked?.reason, expected.backup_id).toMatch(expected.reason);
      // Reasons name repository entries, never the host's absolute paths.
      expect(marked?.reason).not.toContain(agent.repoPath);
    }
  });

  it('reports a domain folder that is a symlink, without following it', async () => {
    const listed = await listBackups(planted.linkedDomainUuid);
    expect(listed.backups).toEqual([]);
    expect(listed.invalid).toEqual([{ backup_id: null, reason: expect.stringMatching(/symlink/), target: 'local' }]);
  });

  it('refuses get_backup of a bad point with InvalidRepositoryEntry and answers for a good one', async () => {
    const bad = planted.invalid[0]!.backup_id;
    const error = await client
      .call('get_backup', { domain: planted.domainUuid, backup_id: bad }, { timeoutMs: 20_000, server: agent.host })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).remoteClass).toBe('InvalidRepositoryEntry');
    const good = await client.call<{ backup_id: string }>(
      'get_backup',
      { domain: planted.domainUuid, backup_id: planted.good[1] },
      { timeoutMs: 20_000, server: agent.host },
    );
    expect(good.backup_id).toBe(planted.good[1]);
  });

  it('removed only its own staging folder; every other planted entry still exists', async () => {
    expect(await existsNoFollow(planted.ownStaging)).toBe(false);
    expect(await missingPaths(planted.mustSurvive)).toEqual([]);
  });

  it('logged each bad point it skipped', async () => {
    const log = await readFile(agent.logPath, 'utf8');
    for (const { backup_id } of planted.invalid) {
      expect(log).toMatch(new RegExp(`"backup_id":"${backup_id}"[^\\n]*untrusted backup point`));
    }
  });
});

describe('Start-up sweep on a shared repository', () => {
  it("keeps another host's staging folder while this host restarts", async () => {
    await otherAgent.start();
    // The other host's backup in flight is simulated by its staging folder with a disk
    // file being written: a real backup would need a guest, and the sweep sees only this.
    const inFlight = path.join(agent.repoPath, planted.domainUuid, `.partial-${otherAgent.host}-${backupIdAt(400)}`);
    await mkdir(inFlight, { recursive: true });
    await writeFile(path.join(inFlight, 'vda.qcow2'), 'being written');
    const ownLeftover = path.join(agent.repoPath, planted.domainUuid, `.partial-${agent.host}-${backupIdAt(401)}`);
    await mkdir(ownLeftover, { recursive: true });

    await agent.stop();
    await agent.start();

    expect(await readFile(path.join(inFlight, 'vda.qcow2'), 'utf8')).toBe('being written');
    expect(await existsNoFollow(ownLeftover)).toBe(false);
    expect(await missingPaths(planted.mustSurvive)).toEqual([]);
    // Both hosts still serve the same repository, and see the same points.
    const otherClient = await otherAgent.client();
    try {
      for (const via of [{ client, host: agent.host }, { client: otherClient, host: otherAgent.host }]) {
        const listed = await listBackups(planted.domainUuid, via);
        expect(listed.backups.map((b) => b.backup_id)).toEqual(planted.good);
      }
    } finally {
      await otherClient.close();
    }
  });
});
