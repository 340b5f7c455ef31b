import { Command, InvalidArgumentError, Option } from 'commander';
import { VERSION } from '../version.js';
import { ExitCode } from './exit-codes.js';
import { CliSession, type CliStreams, type GlobalOptions } from './session.js';

/** What a command's action does with its session; its exit code (0 unless it says). */
export type CommandBody = (session: CliSession) => Promise<ExitCode | void>;

/** The hooks each command module registers its subcommands with. */
export interface CommandKit {
  /** Runs a command's body with a session built from the global options, closed after. */
  run(command: Command, body: CommandBody): Promise<void>;
}

const EXIT_CODES = `
Exit codes:
  0  ok
  1  the remote failed: the agent refused, a followed job failed, or the bus is unreachable
  2  usage: a wrong command line; nothing was sent
  3  timeout: no agent answered in time, or --timeout ended a --wait (the job goes on)`;

/** The `virt-dr` command tree: global options, then each module's subcommands. */
export function buildProgram(streams: CliStreams, modules: readonly ((program: Command, kit: CommandKit) => void)[]): { program: Command; exitCode: () => ExitCode } {
  let exitCode: ExitCode = ExitCode.ok;
  const program = new Command('virt-dr')
    .description('Back up, restore and fail over the domains of libvirt/KVM hosts, through their virt-dr agents on the bus.')
    .version(VERSION, '-V, --version')
    .option('--config <file>', "the agent's configuration file, for the bus settings (default: built-ins and VIRT_DR_* variables)")
    .option('--host <host>', 'send the request to this agent only (its queue T.<host>), not to any agent on the topic')
    .addOption(new Option('-o, --output <format>', 'table, wide (more columns) or json').choices(['table', 'wide', 'json']).default('table'))
    .option('--json', 'the protocol\'s objects as JSON, unchanged (same as -o json)')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for a reply, or for a --wait to end').argParser(positiveSeconds))
    .addHelpText('after', EXIT_CODES)
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(virt-dr --help lists the commands; virt-dr COMMAND --help shows one)')
    .configureOutput({ writeOut: (text) => streams.out.write(text), writeErr: (text) => streams.err.write(text) })
    .exitOverride();
  const kit: CommandKit = {
    async run(command, body) {
      const session = new CliSession(globalOptions(command), streams);
      try {
        exitCode = (await body(session)) ?? ExitCode.ok;
      } finally {
        await session.close();
      }
    },
  };
  for (const register of modules) register(program, kit);
  // Subcommands inherit the override and output, so their usage errors exit 2 too.
  for (const command of program.commands) command.exitOverride().configureOutput(program.configureOutput());
  return { program, exitCode: () => exitCode };
}

/** Examples for a command's --help. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}`;
}

function globalOptions(command: Command): GlobalOptions {
  const raw = command.optsWithGlobals<{ config?: string; host?: string; output: GlobalOptions['output']; json?: boolean; timeout?: number }>();
  return { config: raw.config, host: raw.host, output: raw.json ? 'json' : raw.output, timeout: raw.timeout };
}

function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('give a number of seconds above 0');
  return seconds;
}

/** A repeatable option's values, in the order given. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
