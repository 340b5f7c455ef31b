import { registerActionCommands } from './commands/actions.js';
import { registerAgentCommands } from './commands/agents.js';
import { registerCompletionCommand } from './commands/completion.js';
import { registerJobCommands } from './commands/jobs.js';
import { registerPointCommands } from './commands/points.js';
import { registerPolicyCommand } from './commands/policy.js';
import { failureOf, type ExitCode } from './exit-codes.js';
import { buildProgram } from './program.js';
import type { CliStreams } from './session.js';

/** The command modules, in the order `virt-dr --help` lists them. */
const COMMANDS = [registerActionCommands, registerPointCommands, registerJobCommands, registerPolicyCommand, registerAgentCommands, registerCompletionCommand];

/** The `virt-dr` command: talks to agents over the bus with the agent's own config. */
export async function cli(argv: readonly string[], streams: CliStreams = { out: process.stdout, err: process.stderr }): Promise<ExitCode> {
  const { program, exitCode } = buildProgram(streams, COMMANDS);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode();
  } catch (err) {
    const { code, line } = failureOf(err);
    if (line !== null) streams.err.write(`virt-dr: ${line}\n`);
    return code;
  }
}
