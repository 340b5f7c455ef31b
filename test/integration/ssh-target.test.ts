/**
 * The SSH repository target against a real OpenSSH server on 127.0.0.1 (its own host key,
 * user and root; test/support/sshd.ts): publish, list, read and open points byte for
 * byte; refuse a wrong or unknown host key with nothing written; resume a transfer cut in
 * the middle; keep to its bandwidth limit; report planted symlinks without following
 * them; delete a leaf and refuse a parent. Runs as root; needs no libvirtd.
 */
import { spawnSync } from 'node:child_process';
import { lstat, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackupNotFound, HostKeyRejected, InvalidRepositoryEntry, TargetUnreachable } from '../../src/errors.js';
import type { Manifest } from '../../src/repo/point.js';
import { SshTarget, type SshTargetOptions } from '../../src/repo/ssh/ssh-target.js';
import { parseSshUrl } from '../../src/repo/ssh/ssh-url.js';
import { backupIdAt, existsNoFollow, missingPaths, plantHostileRepository, releaseFifoReaders } from '../support/hostile-repo.js';
import { sha256Of, writePointFiles, type DiskSpec } from '../support/point-files.js';
import { sshTargetOptions, startSshd, type Sshd } from '../support/sshd.js';

const WORK = '/var/lib/virt-dr-test/ssh-target-helper';
const UUID = '5a5c3f5e-0000-4000-8000-00000000551a';
const HOST = 'compute-ssh-a';
const MB = 1_000_000;

let sshd: Sshd;
const opened: SshTarget[] = [];

beforeAll(async () => {
  await rm(WORK, { recursive: true, force: true });
  sshd = await startSshd(join(WORK, 'sshd'));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

afterAll(async () => {
  await sshd?.stop();
  await rm(WORK, { recursive: true, force: true });
});

function sshTarget(overrides: Partial<SshTargetOptions> = {}): SshTarget {
  const target = new SshTarget({ ...sshTargetOptions(sshd, HOST, WORK), ...overrides });
  opened.push(target);
  return target;
}

/** A point's files in the target's local staging folder, and its manifest. */
async function stagedPoint(target: SshTarget, backupId: string, parent: string | null, disks: DiskSpec[], domainUuid = UUID): Promise<Manifest> {
  const folder = await target.beginPoint(domainUuid, backupId);
  return writePointFiles(folder, { domainUuid, backupId, parent }, disks);
}

/** Every entry below `dir` with its kind, size and link target, read as root without following links. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string, shown: string): Promise<void> => {
    for (const name of (await readdir(at)).sort()) {
      const path = join(at, name);
      const st = await lstat(path);
      if (st.isSymbolicLink()) out.push(`${shown}${name} -> ${await readlink(path)}`);
      else if (st.isDirectory()) {
        out.push(`${shown}${name}/`);
        await walk(path, `${shown}${name}/`);
      } else out.push(`${shown}${name} ${st.size}`);
    }
  };
  await walk(dir, '');
  return out;
}

const remotePointDir = (backupId: string) => join(sshd.root, UUID, backupId);

describe('publish, list, read and open', () => {
  it('round-trips a point byte for byte, and its incremental child', async () => {
    const target = sshTarget();
    const full = backupIdAt(1);
    const child = backupIdAt(2);
    const fullManifest = await stagedPoint(target, full, null, [
      { target: 'vda', file: 'vda.raw', bytes: 5 * MB + 1 },
      { target: 'vdb', file: 'vdb.raw', bytes: 0 },
    ]);
    await target.publishPoint(fullManifest, target.stagingFolder(UUID, full));
    const childManifest = await stagedPoint(target, child, full, [{ target: 'vda', file: 'vda.raw', bytes: 3 * MB }]);
    let sent = 0;
    await target.publishPoint(childManifest, target.stagingFolder(UUID, child), { onBytes: (n) => (sent += n) });
    expect(sent).toBe(3 * MB);

    expect(await target.listDomains()).toContain(UUID);
    expect((await target.listPoints(UUID)).map((p) => p.backup_id)).toEqual([full, child]);
    expect(await target.listInvalidPoints(UUID)).toEqual([]);
    expect(await target.getPoint(UUID, full)).toEqual(fullManifest);
    expect((await target.latestPoint(UUID))?.backup_id).toBe(child);
    expect(await target.hasPoint(UUID, child)).toBe(true);
    await expect(target.getPoint(UUID, backupIdAt(3))).rejects.toBeInstanceOf(BackupNotFound);
    // The file target's layout, and nothing staged left behind.
    expect(await tree(join(sshd.root, UUID))).toEqual([
      `${full}/`,
      `${full}/manifest.json ${(await stat(join(remotePointDir(full), 'manifest.json'))).size}`,
      `${full}/vda.raw ${5 * MB + 1}`,
      `${full}/vdb.raw 0`,
      `${child}/`,
      `${child}/manifest.json ${(await stat(join(remotePointDir(child), 'manifest.json'))).size}`,
      `${child}/vda.raw ${3 * MB}`,
    ]);

    const copies = await target.openPoints(UUID, [full, child]);
    try {
      expect(copies.dirOf(child)).toBe(join(copies.root, UUID, child));
      for (const [id, manifest] of [[full, fullManifest], [child, childManifest]] as const) {
        for (const disk of manifest.disks) {
          const local = await readFile(join(target.stagingFolder(UUID, id), disk.file));
          expect((await readFile(join(copies.dirOf(id), disk.file))).equals(local)).toBe(true);
        }
        expect(JSON.parse(await readFile(join(copies.dirOf(id), 'manifest.json'), 'utf8'))).toEqual(manifest);
      }
    } finally {
      await copies.release();
    }
    expect(await existsNoFollow(copies.root)).toBe(false);

    const space = await target.freeSpace();
    expect(space.total_bytes).toBeGreaterThan(space.free_bytes);
    expect(space.free_bytes).toBeGreaterThan(0);
  });

  it('discardPartial removes the local spool folder and the remote staging folder of this host', async () => {
    const target = sshTarget({ bandwidthBytesPerS: 4 * MB });
    const id = backupIdAt(10);
    const manifest = await stagedPoint(target, id, null, [{ target: 'vda', file: 'vda.raw', bytes: 40 * MB }]);
    const controller = new AbortController();
    const publishing = target.publishPoint(manifest, target.stagingFolder(UUID, id), {
      signal: controller.signal,
      onBytes: () => controller.abort(new Error('stop here')),
    });
    await expect(publishing).rejects.toThrow('stop here');
    const staging = join(sshd.root, UUID, `.partial-${HOST}-${id}`);
    expect(await existsNoFollow(join(staging, 'vda.raw'))).toBe(true);
    expect(await target.hasPoint(UUID, id)).toBe(false);

    await target.discardPartial(UUID, id);
    expect(await existsNoFollow(staging)).toBe(false);
    expect(await existsNoFollow(target.stagingFolder(UUID, id))).toBe(false);
  });
});

describe('host keys', () => {
  /** Tries to publish a point through known_hosts `text`; returns the error and whether the root changed. */
  async function publishThrough(knownHosts: string, backupId: string) {
    const file = join(sshd.workDir, `known_hosts-${backupId}`);
    await writeFile(file, knownHosts);
    // Staged through a target that trusts the server (beginPoint connects), published through one that does not.
    const manifest = await stagedPoint(sshTarget(), backupId, null, [{ target: 'vda', file: 'vda.raw', bytes: MB }]);
    const target = sshTarget({ knownHostsPath: file });
    const before = await tree(sshd.root);
    const accepted = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const error = await target.publishPoint(manifest, target.stagingFolder(UUID, backupId)).then(
      () => null,
      (err: unknown) => err,
    );
    return { error, unchanged: JSON.stringify(await tree(sshd.root)) === JSON.stringify(before), logins: (sshd.log().match(/Accepted publickey/g) ?? []).length - accepted };
  }

  it('refuses a host whose key is not the one known_hosts records, and writes nothing', async () => {
    const other = join(sshd.workDir, 'other_host_key');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const otherKey = (await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    const { error, unchanged, logins } = await publishThrough(`[127.0.0.1]:${sshd.port} ${otherKey}\n`, backupIdAt(20));
    expect(error).toBeInstanceOf(HostKeyRejected);
    expect((error as Error).message).toMatch(/changed/);
    expect((error as Error).message).toContain(`ssh://${sshd.user}@127.0.0.1:${sshd.port}`);
    expect(unchanged).toBe(true);
    expect(logins).toBe(0);
  });

  it('refuses an unknown host, and writes nothing', async () => {
    const { error, unchanged, logins } = await publishThrough(`[127.0.0.2]:${sshd.port} ${sshd.hostPublicKey}\nexample.org ${sshd.hostPublicKey}\n`, backupIdAt(21));
    expect(error).toBeInstanceOf(HostKeyRejected);
    expect((error as Error).message).toMatch(/not in the known_hosts file/);
    expect(unchanged).toBe(true);
    expect(logins).toBe(0);
  });

  it('refuses a key marked @revoked, even beside a line that accepts it', async () => {
    const line = `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`;
    const { error, unchanged } = await publishThrough(`${line}\n@revoked * ${sshd.hostPublicKey}\n`, backupIdAt(22));
    expect(error).toBeInstanceOf(HostKeyRejected);
    expect((error as Error).message).toMatch(/revoked/);
    expect(unchanged).toBe(true);
  });

  it('accepts the right key from a hashed known_hosts (ssh-keygen -H)', async () => {
    const hashed = join(sshd.workDir, 'known_hosts-hashed');
    await writeFile(hashed, `# hashed by ssh-keygen\n[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const made = spawnSync('ssh-keygen', ['-H', '-f', hashed], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    expect(await readFile(hashed, 'utf8')).toMatch(/^\|1\|/m);
    const target = sshTarget({ knownHostsPath: hashed });
    expect(await target.listDomains()).toEqual(expect.any(Array));
  });

  it('reports a connection refused as TargetUnreachable, naming the target and no secret', async () => {
    const url = parseSshUrl(`ssh://${sshd.user}@127.0.0.1:1${sshd.root}`);
    await writeFile(join(sshd.workDir, 'known_hosts-port1'), `[127.0.0.1]:1 ${sshd.hostPublicKey}\n`);
    const target = sshTarget({ url, knownHostsPath: join(sshd.workDir, 'known_hosts-port1') });
    const error = await target.listDomains().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TargetUnreachable);
    expect((error as Error).message).toContain(`ssh://${sshd.user}@127.0.0.1:1${sshd.root}`);
    expect((error as Error).message).not.toContain((await readFile(sshd.clientKeyPath, 'utf8')).split('\n')[1]!);
  });
});

describe('an interrupted transfer', () => {
  it('resumes where the cut connection stopped, sends only the rest, and verifies', async () => {
    const size = 200 * MB;
    const id = backupIdAt(30);
    // 25 MB/s makes the cut land mid-file whatever the machine's speed.
    const slow = sshTarget({ bandwidthBytesPerS: 25 * MB });
    const manifest = await stagedPoint(slow, id, null, [{ target: 'vda', file: 'vda.raw', bytes: size }]);
    let firstSent = 0;
    let killed = 0;
    const first = slow.publishPoint(manifest, slow.stagingFolder(UUID, id), {
      onBytes: (n) => {
        firstSent += n;
        if (firstSent >= 60 * MB && killed === 0) {
          killed = -1;
          void sshd.cutConnections().then((count) => (killed = count));
        }
      },
    });
    const error = await first.then(
      () => null,
      (err: unknown) => err,
    );
    expect(killed).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(TargetUnreachable);
    const staged = join(sshd.root, UUID, `.partial-${HOST}-${id}`, 'vda.raw');
    const stagedBytes = (await stat(staged)).size;
    expect(stagedBytes).toBeGreaterThan(0);
    expect(stagedBytes).toBeLessThan(size);
    // A partial upload never looks complete.
    expect(await slow.hasPoint(UUID, id)).toBe(false);
    expect((await slow.listPoints(UUID)).map((p) => p.backup_id)).not.toContain(id);

    // The same target reconnects by itself; the limit is lifted to keep the test short.
    const fast = sshTarget();
    let secondSent = 0;
    const started = performance.now();
    await fast.publishPoint(manifest, fast.stagingFolder(UUID, id), { onBytes: (n) => (secondSent += n) });
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `resume: first attempt sent ${(firstSent / MB).toFixed(1)} MB before the cut, ${(stagedBytes / MB).toFixed(1)} MB were staged; ` +
        `the second sent ${(secondSent / MB).toFixed(1)} MB of ${size / MB} MB in ${seconds.toFixed(1)} s (verified)`,
    );
    expect(secondSent).toBe(size - stagedBytes);
    expect(secondSent).toBeLessThan(size);
    expect((await fast.getPoint(UUID, id)).disks[0]!.sha256).toBe(manifest.disks[0]!.sha256);
    expect(await sha256Of(join(remotePointDir(id), 'vda.raw'))).toBe(manifest.disks[0]!.sha256);
    // The slow target's dropped connection is replaced on its next call.
    expect(await slow.hasPoint(UUID, id)).toBe(true);
  });

  it('removes a staged file that does not verify, and starts over the next time', async () => {
    const id = backupIdAt(31);
    const target = sshTarget();
    const manifest = await stagedPoint(target, id, null, [{ target: 'vda', file: 'vda.raw', bytes: 4 * MB }]);
    // A staged prefix that is not the source's: resuming from it cannot verify.
    const stagingDir = join(sshd.root, UUID, `.partial-${HOST}-${id}`);
    spawnSync('install', ['-d', '-o', sshd.user, '-m', '0750', stagingDir]);
    spawnSync('install', ['-o', sshd.user, '-m', '0640', '/dev/null', join(stagingDir, 'vda.raw')]);
    await writeFile(join(stagingDir, 'vda.raw'), Buffer.alloc(MB, 7));
    const error = await target.publishPoint(manifest, target.stagingFolder(UUID, id)).catch((err: unknown) => err);
    expect((error as Error).name).toBe('VerificationFailed');
    expect(await existsNoFollow(join(stagingDir, 'vda.raw'))).toBe(false);
    expect(await target.hasPoint(UUID, id)).toBe(false);
    let sent = 0;
    await target.publishPoint(manifest, target.stagingFolder(UUID, id), { onBytes: (n) => (sent += n) });
    expect(sent).toBe(4 * MB);
    expect(await target.hasPoint(UUID, id)).toBe(true);
  });
});

describe('the bandwidth limit', () => {
  it('keeps a 150 MB upload at 40-55 MB/s under a 50 MB/s limit', async () => {
    const size = 150 * MB;
    const rate = async (bandwidthBytesPerS: number, backupId: string) => {
      const target = sshTarget({ bandwidthBytesPerS });
      const manifest = await stagedPoint(target, backupId, null, [{ target: 'vda', file: 'vda.raw', bytes: size }]);
      let sent = 0;
      let lastByteAt = 0;
      const started = performance.now();
      await target.publishPoint(manifest, target.stagingFolder(UUID, backupId), {
        onBytes: (n) => {
          sent += n;
          lastByteAt = performance.now();
        },
      });
      expect(sent).toBe(size);
      await target.discardPartial(UUID, backupId);
      return size / MB / ((lastByteAt - started) / 1000);
    };
    const limited = await rate(50 * MB, backupIdAt(40));
    const unlimited = await rate(0, backupIdAt(41));
    console.log(`bandwidth: ${limited.toFixed(1)} MB/s with a 50 MB/s limit; ${unlimited.toFixed(1)} MB/s without a limit (150 MB each)`);
    expect(limited).toBeGreaterThanOrEqual(40);
    expect(limited).toBeLessThanOrEqual(55);
  });
});

describe('what is read is not trusted', () => {
  it('reports planted entries (symlinked point folder, symlinked disk, ...) as invalid, never follows them, and the sweep removes only its own staging', async () => {
    const outside = join(sshd.workDir, 'outside');
    const planted = await plantHostileRepository(sshd.root, outside, HOST, 'compute-ssh-b');
    try {
      // The DR user owns its repository; the links' targets outside it stay root's.
      spawnSync('chown', ['-R', '-h', `${sshd.user}:`, sshd.root]);
      const target = sshTarget();

      const scan = await target.scanPoints(planted.domainUuid);
      expect(scan.points.map((p) => p.backup_id)).toEqual(planted.good);
      expect(scan.invalid.map((i) => i.backup_id)).toEqual(planted.invalid.map((i) => i.backup_id));
      for (const expected of planted.invalid) {
        expect(scan.invalid.find((i) => i.backup_id === expected.backup_id)?.reason).toMatch(expected.reason);
      }
      const linkedFolder = planted.invalid.find((i) => String(i.reason) === String(/symlink/))!.backup_id;
      const linkedDisk = planted.invalid.find((i) => String(i.reason).includes('vda'))!.backup_id;
      for (const id of [linkedFolder, linkedDisk]) {
        await expect(target.getPoint(planted.domainUuid, id)).rejects.toBeInstanceOf(InvalidRepositoryEntry);
        await expect(target.openPoints(planted.domainUuid, [id])).rejects.toBeInstanceOf(InvalidRepositoryEntry);
        // Not a point it trusts, so not one it deletes: the entry stays (checked below).
        expect(await target.deletePoint(planted.domainUuid, id, {})).toBeNull();
      }
      expect(await readdir(join(WORK, 'cache'))).toEqual([]);
      expect(await target.scanPoints(planted.linkedDomainUuid)).toEqual({
        points: [],
        invalid: [{ domain_uuid: planted.linkedDomainUuid, backup_id: null, reason: expect.stringMatching(/is a symlink/) }],
      });

      const report = await target.sweep();
      // The remote staging folder of this host, and the local spool (earlier tests' points).
      const inPlanted = `${target.location}/${planted.domainUuid}/`;
      expect(report.removed.filter((p) => p.startsWith(inPlanted))).toEqual([`${inPlanted}${planted.ownStaging.split('/').at(-1)}`]);
      expect(report.removed).toContain(join(WORK, 'spool', UUID));
      expect(await readdir(join(WORK, 'spool'))).toEqual([]);
      expect(await existsNoFollow(planted.ownStaging)).toBe(false);
      expect(await missingPaths(planted.mustSurvive)).toEqual([]);
      expect(report.kept.map((k) => k.path.split('/').at(-1)).sort()).toEqual([`.partial-compute-ssh-b-${backupIdAt(201)}`, `.partial-${backupIdAt(202)}`].sort());
      expect(report.invalid.filter((i) => i.domain_uuid === planted.domainUuid).map((i) => i.backup_id)).toEqual(planted.invalid.map((i) => i.backup_id));
    } finally {
      await releaseFifoReaders(planted.fifos);
      await rm(join(sshd.root, planted.domainUuid), { recursive: true, force: true });
      await rm(join(sshd.root, planted.linkedDomainUuid), { force: true });
    }
  });
});

describe('deleting', () => {
  const DOMAIN = '5a5c3f5e-0000-4000-8000-00000000551b';
  const domainDir = () => join(sshd.root, DOMAIN);

  it('removes a leaf and nothing else; keeps a parent, or a point another host stages a child of, with nothing changed', async () => {
    const target = sshTarget();
    const parent = backupIdAt(50);
    const leaf = backupIdAt(51);
    for (const [id, up] of [[parent, null], [leaf, parent]] as const) {
      const manifest = await stagedPoint(target, id, up, [{ target: 'vda', file: 'vda.raw', bytes: MB }], DOMAIN);
      await target.publishPoint(manifest, target.stagingFolder(DOMAIN, id));
    }
    const before = await tree(domainDir());

    await expect(target.deletePoint(DOMAIN, parent, {})).rejects.toThrow(
      new InvalidRepositoryEntry(`backup ${parent} is kept on target dr: its children need it merged into them, which the agent that owns the repository does: name it as this target's "agent" in repo.targets`),
    );
    expect(await tree(domainDir())).toEqual(before);

    expect(await target.deletePoint(DOMAIN, leaf, {})).toEqual({ backup_id: leaf, merged_into: [], bytes_written: 0 });
    expect(await tree(domainDir())).toEqual(before.filter((e) => !e.startsWith(leaf)));
    expect(await target.deletePoint(DOMAIN, leaf, {})).toBeNull();
    expect(await target.finishDelete(DOMAIN, leaf)).toBe('deleted');
    expect(await target.finishDelete(DOMAIN, parent)).toBe('kept');

    // Another host is publishing a child of the parent: its overlay's header names the parent's disk.
    const foreign = join(domainDir(), `.partial-compute-ssh-b-${backupIdAt(52)}`);
    spawnSync('install', ['-d', '-o', sshd.user, '-m', '0750', foreign]);
    const made = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-b', `../${parent}/vda.raw`, '-F', 'raw', join(foreign, 'vda.qcow2'), '1M'], {
      encoding: 'utf8',
    });
    expect(made.status, made.stderr).toBe(0);
    const withForeign = await tree(domainDir());
    await expect(target.deletePoint(DOMAIN, parent, {})).rejects.toThrow(/is kept on target dr: \.partial-compute-ssh-b-\S+\/vda\.qcow2 depend on it/);
    expect(await tree(domainDir())).toEqual(withForeign);

    await rm(foreign, { recursive: true });
    expect(await target.deletePoint(DOMAIN, parent, {})).toEqual({ backup_id: parent, merged_into: [], bytes_written: 0 });
    expect(await tree(domainDir())).toEqual([]);
    expect(await target.listPoints(DOMAIN)).toEqual([]);
  });
});
