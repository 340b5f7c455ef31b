import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config.js';
import { FileRepository } from './file-repository.js';
import type { TargetSpec } from './target-config.js';
import type { RepositoryTarget } from './target.js';

/** The targets of the configuration, the primary first, ready to use (they connect lazily). */
export function openTargets(specs: readonly TargetSpec[], deps: { host: string; statePath: string; log: Logger }): RepositoryTarget[] {
  return specs.map((spec) => {
    if (spec.kind === 'file') return new FileRepository(spec.path, deps.host, { name: spec.name, bandwidthBytesPerS: spec.bandwidthBytesPerS });
    throw new ConfigError(`target ${spec.name}: ssh targets are not available in this build (${join(deps.statePath, 'spool')})`);
  });
}
