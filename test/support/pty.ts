/**
 * Runs a command on a real pseudo-terminal, so that its stdout is a TTY (isTTY, columns)
 * as on an operator's screen: util-linux `script` (Debian's bsdutils, Essential) opens
 * the pty and copies everything the command writes to its own stdout, which we capture.
 * `script -c` takes one shell command line; it is built here from an argument array with
 * every argument single-quoted, so nothing in it is interpreted by the shell.
 */
import { spawn } from 'node:child_process';

const SCRIPT = '/usr/bin/script';

export interface PtyRun {
  /** Everything the command wrote to the terminal (with the pty's LF → CR LF). */
  output: string;
  /** The command's own exit code (script -e); null when it was killed. */
  exitCode: number | null;
  /** True when the command was still running at the deadline and was killed. */
  timedOut: boolean;
}

export interface PtyOptions {
  columns?: number;
  rows?: number;
  timeoutMs?: number;
}

export async function runInPty(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, options: PtyOptions = {}): Promise<PtyRun> {
  const { columns = 100, rows = 30, timeoutMs = 30_000 } = options;
  const command = `stty cols ${columns} rows ${rows} && exec ${argv.map(shellQuote).join(' ')}`;
  // detached: script and the command get a process group of their own, killed whole at the deadline.
  const child = spawn(SCRIPT, ['-qfec', command, '/dev/null'], {
    env: { ...env, SHELL: '/bin/sh' },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    process.kill(-child.pid!, 'SIGKILL');
  }, timeoutMs);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  }).finally(() => clearTimeout(deadline));
  child.stdin.end();
  const stderr = Buffer.concat(errors).toString('utf8');
  if (stderr !== '' && !timedOut) throw new Error(`${SCRIPT} failed: ${stderr}`);
  return { output: Buffer.concat(chunks).toString('utf8'), exitCode: timedOut ? null : exitCode, timedOut };
}

function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
