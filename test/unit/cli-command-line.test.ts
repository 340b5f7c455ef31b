import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { CallTimeout, RemoteError } from '../../src/bus/rpc-client.js';
import { bashCompletion } from '../../src/cli/completion.js';
import { ExitCode, failureOf, UsageError } from '../../src/cli/exit-codes.js';
import { cli } from '../../src/cli/virt-dr.js';

/** Runs the CLI in-process with captured output; usage errors never reach the bus. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const captured = { out: '', err: '' };
  const sink = (key: 'out' | 'err') => new Writable({ write: (chunk, _encoding, done) => ((captured[key] += String(chunk)), done()) });
  const code = await cli(argv, { out: sink('out'), err: sink('err') });
  return { code, ...captured };
}

describe('virt-dr on the command line, before anything is sent', () => {
  it('help is exit 0 and lists every command and the exit codes; no command is a usage error', async () => {
    const help = await run('--help');
    expect(help.code).toBe(0);
    for (const command of ['backup', 'restore', 'verify', 'rm', 'ls', 'show', 'jobs', 'job', 'cancel', 'policy', 'failover', 'failback', 'ping', 'hosts', 'completion']) {
      expect(help.out).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    expect(help.out).toContain('Exit codes:');
    expect((await run()).code).toBe(ExitCode.usage);
  });

  it("each command's help has its examples and the global options", async () => {
    const help = await run('restore', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Examples:\n  $ virt-dr restore');
    expect(help.out).toContain('Global Options:');
  });

  it('wrong command lines exit 2 with a message on stderr', async () => {
    const cases = [['ls'], ['frobnicate'], ['backup', 'vm', '--mode', 'sideways'], ['jobs', '--state', 'done'], ['--timeout', '-1', 'ping'], ['failover', 'vm'], ['failback', 'vm'], ['completion', 'zsh']];
    for (const argv of cases) {
      const outcome = await run(...argv);
      expect(outcome, argv.join(' ')).toMatchObject({ code: ExitCode.usage, out: '' });
      expect(outcome.err.length, argv.join(' ')).toBeGreaterThan(0);
    }
    expect((await run('failover', 'vm')).err).toBe("virt-dr: failover needs --host, the DR node's agent\n");
  });

  it('maps errors to exit codes and one line, never a stack', () => {
    expect(failureOf(new RemoteError('DomainNotFound', 'virt_dr.errors', 'no domain x'))).toEqual({ code: ExitCode.failed, line: 'DomainNotFound: no domain x' });
    expect(failureOf(new CallTimeout('no reply within 2000 ms'))).toEqual({ code: ExitCode.timeout, line: 'no reply within 2000 ms' });
    expect(failureOf(new UsageError('bad'))).toEqual({ code: ExitCode.usage, line: 'bad' });
    expect(failureOf(new Error('connect ECONNREFUSED 127.0.0.1:5672'))).toEqual({ code: ExitCode.failed, line: 'connect ECONNREFUSED 127.0.0.1:5672' });
  });
});

describe('bash completion', () => {
  it('is a valid bash script that completes commands, flags and choices', async () => {
    const program = new Command('virt-dr').option('--host <host>');
    program.command('restore').argument('<domain>').option('--instant');
    program.command('rm').argument('<domain>');
    const script = bashCompletion(program);
    const file = path.join(tmpdir(), `virt-dr-completion-${process.pid}.bash`);
    await writeFile(file, script);
    const complete = async (...words: string[]) => {
      const probe = `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _virt_dr; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const { stdout } = await promisify(execFile)('bash', ['-c', probe]);
      return stdout.split('\n').filter(Boolean);
    };
    expect(await complete('virt-dr', 're')).toEqual(['restore']);
    expect(await complete('virt-dr', 'restore', '--in')).toEqual(['--instant']);
    expect(await complete('virt-dr', '--host', 'h1', 'r')).toEqual(['restore', 'rm']);
  });
});
