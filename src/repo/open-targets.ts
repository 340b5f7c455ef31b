import { join } from 'node:path';
import type { Logger } from 'pino';
import { FileRepository } from './file-repository.js';
import { S3Target } from './s3/s3-target.js';
import { SshTarget } from './ssh/ssh-target.js';
import type { TargetSpec } from './target-config.js';
import type { RepositoryTarget } from './target.js';

/**
 * The targets of the configuration, the primary first, ready to use (they connect lazily).
 * A remote target's (SSH, S3) local spool and cache live in the state folder, one pair per target
 * (target names are plain path parts), so one target's sweep never touches another's.
 */
export function openTargets(specs: readonly TargetSpec[], deps: { host: string; statePath: string; log: Logger }): RepositoryTarget[] {
  return specs.map((spec) => {
    if (spec.kind === 'file') return new FileRepository(spec.path, deps.host, { name: spec.name, bandwidthBytesPerS: spec.bandwidthBytesPerS });
    const local = { spoolRoot: join(deps.statePath, 'spool', spec.name), cacheRoot: join(deps.statePath, 'cache', spec.name) };
    if (spec.kind === 's3') {
      return new S3Target({ name: spec.name, address: spec.address, settings: spec.settings, bandwidthBytesPerS: spec.bandwidthBytesPerS, host: deps.host, log: deps.log, ...local });
    }
    return new SshTarget({
      name: spec.name,
      url: spec.address,
      privateKeyPath: spec.sshKey,
      knownHostsPath: spec.knownHosts,
      bandwidthBytesPerS: spec.bandwidthBytesPerS,
      host: deps.host,
      log: deps.log,
      ...local,
    });
  });
}
