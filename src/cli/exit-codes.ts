import { CommanderError } from 'commander';
import { CallTimeout } from '../bus/rpc-client.js';
import { ConfigError } from '../config.js';
import { InvalidArgument } from '../errors.js';

/** `virt-dr`'s exit codes, documented in its help and the README. */
export const ExitCode = {
  ok: 0,
  /** The agent answered with a failure, a followed job failed, or the bus was unreachable. */
  failed: 1,
  /** The command line was wrong: nothing was sent. */
  usage: 2,
  /** No answer in time: no agent listening, or a --timeout that ran out while following. */
  timeout: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A command line the CLI refuses before it sends anything. */
export class UsageError extends Error {}

/** A wait that ran out: the job goes on, the CLI stops following it. */
export class FollowTimeout extends Error {}

/** How an error ends the CLI: its exit code and the one line it prints (never a stack). */
export function failureOf(err: unknown): { code: ExitCode; line: string | null } {
  if (err instanceof CommanderError) {
    // Commander printed its message, or the help, already. Asked-for help is success; the
    // help shown for a missing command (`commander.help`) is a usage error.
    const quiet = err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
    return { code: quiet ? ExitCode.ok : ExitCode.usage, line: null };
  }
  if (err instanceof UsageError || err instanceof InvalidArgument || err instanceof ConfigError) return { code: ExitCode.usage, line: err.message };
  if (err instanceof CallTimeout || err instanceof FollowTimeout) return { code: ExitCode.timeout, line: err.message };
  // A RemoteError's message is already `Class: message`, as the agent sent it.
  return { code: ExitCode.failed, line: err instanceof Error ? err.message : String(err) };
}
