import { parseArgs } from 'node:util';
import { Agent } from './agent.js';
import { ConfigError, describeConfig, loadConfig } from './config.js';
import { createRootLogger } from './log.js';
import { targetSpecs } from './repo/target-config.js';
import { hostMappingOf } from './failover/host-mapping.js';
import { SCHEDULE_CHECKS } from './policy/schedule/checks.js';
import { policySetupOf } from './policy/policies.js';

/**
 * `virt-dr-agent [--config FILE] [--<key> VALUE ...]`. Flags override environment
 * variables, which override the file (see `--help-config`).
 */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, 'help-config': { type: 'boolean' }, help: { type: 'boolean' } },
    strict: false,
  });
  if (values.help) {
    process.stdout.write('usage: virt-dr-agent [--config FILE] [--help-config] [--<key> VALUE]...\n');
    return 0;
  }
  if (values['help-config']) {
    process.stdout.write(describeConfig() + '\n');
    return 0;
  }
  let config;
  let parts;
  try {
    config = loadConfig({
      file: typeof values.config === 'string' ? values.config : undefined,
      argv: argv.filter((_, i) => !isConfigFlag(argv, i)),
      env: process.env,
    });
    const targets = targetSpecs(config.repo);
    parts = {
      targets,
      mapping: hostMappingOf(config.failover),
      policy: policySetupOf(config.policy.defaults, targets, config.backup.engine, SCHEDULE_CHECKS),
    };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`virt-dr-agent: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // Backups hold customers' disks: nothing the agent or its qemu-img children create is
  // world-readable, whatever umask it was started with (systemd's unit sets 0077).
  process.umask(process.umask() | PRIVATE_UMASK);
  const log = createRootLogger(config.log.level);
  const agent = new Agent(config, parts, log);

  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    stopping ??= agent.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // A stray rejection must not take every guest's backup down with it, but it is a bug.
  process.on('unhandledRejection', (reason) => log.error({ err: String(reason) }, 'unhandled rejection'));

  try {
    await agent.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'agent failed to start');
    await agent.stop();
    return 1;
  }
  return -1;
}

/** Bits never granted on what the agent creates: group write, and anything for others. */
const PRIVATE_UMASK = 0o027;

/** `--config FILE` is ours, not convict's. */
function isConfigFlag(argv: string[], index: number): boolean {
  const arg = argv[index];
  if (arg === '--config' || arg?.startsWith('--config=')) return true;
  return argv[index - 1] === '--config';
}
