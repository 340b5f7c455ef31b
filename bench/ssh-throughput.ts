import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { SshTarget } from '../src/repo/ssh/ssh-target.js';
import { run } from '../test/support/guest.js';
import { backupIdAt } from '../test/support/hostile-repo.js';
import { writePointFiles } from '../test/support/point-files.js';
import { sshTargetOptions, type Sshd } from '../test/support/sshd.js';
import { timeAsync } from './measure.js';
import { MiB } from './stats.js';

/** Seconds of each run, in the order they ran. */
export interface TransferRuns {
  bytes: number;
  /** SshTarget.publishPoint: upload, fsync, sha256sum on the far side, the manifest, the rename. */
  agent: number[];
  /** scp of the same file to the same server and user. */
  scp: number[];
  /** After each scp: `sync -f` and `sha256sum` of the copy, each over ssh. */
  verify: number[];
}

export const SCP = '`scp` of the same file to the same sshd and user';
export const SCP_VERIFIED = '`scp`, then `sync -f` and `sha256sum` of the copy, each over `ssh`';

/**
 * One file of random data, published as a point's only disk to an SSH target on the
 * loopback sshd, alternating with scp of that file to the same server: both read it from
 * the page cache and write to the same disk. Each copy goes before the next run, so the
 * server's disk never holds two. The agent's side opens a new connection per run, as scp
 * does; its publish ends with the file durable and its sha256 checked on the server, which
 * the scp run then does with `sync -f` and `sha256sum` over ssh.
 */
export async function measureSshTransfers(sshd: Sshd, workDir: string, fileMiB: number, samples: number, progress: (m: string) => void): Promise<TransferRuns> {
  const bytes = fileMiB * MiB;
  const source = path.join(workDir, 'source');
  const domainUuid = randomUUID();
  await rm(workDir, { recursive: true, force: true });
  await mkdir(source, { recursive: true });
  const manifest = await writePointFiles(source, { domainUuid, backupId: backupIdAt(1), parent: null }, [{ target: 'vda', file: 'vda.raw', bytes }]);
  const file = path.join(source, 'vda.raw');
  const remote = path.join(sshd.root, 'scp-baseline.raw');
  const runs: TransferRuns = { bytes, agent: [], scp: [], verify: [] };
  try {
    for (let i = 1; i <= samples; i++) {
      progress(`dr: ${fileMiB} MiB to the SSH target and by scp, ${i}/${samples}`);
      const target = new SshTarget(sshTargetOptions(sshd, 'bench-dr', workDir));
      try {
        runs.agent.push((await timeAsync(() => target.publishPoint(manifest, source))).seconds);
      } finally {
        await target.close();
        await rm(path.join(sshd.root, domainUuid), { recursive: true, force: true });
      }
      try {
        runs.scp.push((await timeAsync(() => run('scp', [...sshOptions(sshd, '-P'), '-q', file, `${sshd.user}@127.0.0.1:${remote}`], { timeoutMs: 600_000 }))).seconds);
        const synced = await timeAsync(() => run('ssh', [...sshOptions(sshd, '-p'), `${sshd.user}@127.0.0.1`, 'sync', '-f', remote]));
        const hashed = await timeAsync(() => run('ssh', [...sshOptions(sshd, '-p'), `${sshd.user}@127.0.0.1`, 'sha256sum', remote], { timeoutMs: 600_000 }));
        const digest = hashed.value.stdout.split(/\s/)[0];
        if (digest !== manifest.disks[0]!.sha256) throw new Error(`scp's copy reads as sha256 ${digest}, the file is ${manifest.disks[0]!.sha256}`);
        runs.verify.push(synced.seconds + hashed.seconds);
      } finally {
        await rm(remote, { force: true });
      }
    }
    return runs;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** OpenSSH's client options for the test server: its key, its known_hosts only, never a prompt. */
function sshOptions(sshd: Sshd, portFlag: '-p' | '-P'): string[] {
  return [
    '-i', sshd.clientKeyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${sshd.knownHostsPath}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    portFlag, String(sshd.port),
  ];
}
