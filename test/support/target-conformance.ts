/**
 * What the repository port's conformance suite needs of each target: the target as two
 * hosts see it, and its root as a local folder. Every target under test keeps its bytes on
 * this machine (a folder, or the root of an sshd on loopback), so the suite can plant
 * hostile entries and look at what a call left there, without going through the port.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FileRepository } from '../../src/repo/file-repository.js';
import { SshTarget } from '../../src/repo/ssh/ssh-target.js';
import type { RepositoryTarget } from '../../src/repo/target.js';
import { sshTargetOptions, startSshd } from './sshd.js';

export interface TargetUnderTest {
  /** The target as host `HOST_A` uses it. */
  target: RepositoryTarget;
  /** The same target as host `HOST_B` uses it: its staging folders are not A's. */
  otherHost: RepositoryTarget;
  /** The target's root folder on this machine. */
  rootOnDisk: string;
  /** Closes the targets and removes what the factory made. */
  cleanup(): Promise<void>;
}

export interface TargetFactory {
  /** The URL scheme the suite names the run after. */
  kind: string;
  create(work: string): Promise<TargetUnderTest>;
}

export const HOST_A = 'conformance-a';
export const HOST_B = 'conformance-b';

export const fileTargetFactory: TargetFactory = {
  kind: 'file',
  async create(work) {
    const root = join(work, 'file-target');
    await rm(root, { recursive: true, force: true });
    return {
      target: new FileRepository(root, HOST_A, { name: 'conformance' }),
      otherHost: new FileRepository(root, HOST_B, { name: 'conformance' }),
      rootOnDisk: root,
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
};

/**
 * The SSH target against a real sshd on 127.0.0.1 (test/support/sshd.ts) whose root is a
 * local folder; each host has its own local spool and cache, as two machines would.
 */
export const sshTargetFactory: TargetFactory = {
  kind: 'ssh',
  async create(work) {
    const sshd = await startSshd(join(work, 'sshd'));
    const asHost = (host: string) => new SshTarget({ ...sshTargetOptions(sshd, host, join(work, host)), name: 'conformance' });
    const target = asHost(HOST_A);
    const otherHost = asHost(HOST_B);
    return {
      target,
      otherHost,
      rootOnDisk: sshd.root,
      async cleanup() {
        await Promise.all([target.close(), otherHost.close()]);
        await sshd.stop();
        await Promise.all([HOST_A, HOST_B].map((host) => rm(join(work, host), { recursive: true, force: true })));
      },
    };
  },
};
