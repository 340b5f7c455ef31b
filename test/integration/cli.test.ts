/**
 * The `virt-dr` CLI (the built command, a child process) against real agents on a real
 * RabbitMQ and a real guest: every subcommand's table parses as its columns, and its
 * --json is the protocol's object unchanged (equal to the same call made directly); the
 * exit codes for a remote failure, a usage error and a timeout; `hosts` over the fanout
 * exchange, with a second agent (a DR node) on the same topic; bash completion as
 * deploy/install-completion.sh (run by install.sh) installs it.
 */
import { execFile } from 'node:child_process';
import { truncate } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess, CLI_BIN } from '../support/agent-process.js';
import { parseRecord, parseTable } from '../support/cli-output.js';
import { backupIdAt, pointManifest, writePoint } from '../support/hostile-repo.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { domainState, guestWriteRandomFile, waitForAgent } from '../support/guest.js';
import { projectRoot } from '../support/project-root.js';
import { runInPty } from '../support/pty.js';
import { renderScreen } from '../support/terminal-screen.js';

const execFileP = promisify(execFile);
const ROOT = projectRoot(import.meta.url);
const GUEST = 'vdr-cli';
const WORK = '/var/lib/virt-dr-test/cli';
const agent = new AgentProcess('cli', `${WORK}/compute`);
// A DR node on the same topic: `hosts` must list both.
const drNode = new AgentProcess('cli-dr', `${WORK}/dr`, { VIRT_DR_ROLES: 'dr' }, [], { topic: agent.topic });
let client: RpcClient;

/** The CLI addressed to the compute agent (two agents share the topic's queue). */
const cli = (...args: string[]) => agent.cliRun(['--host', agent.host, ...args]);
async function ok(...args: string[]): Promise<string> {
  const run = await cli(...args);
  expect(run, `virt-dr ${args.join(' ')}: ${run.stderr}`).toMatchObject({ code: 0 });
  return run.stdout;
}
const json = async <T = Record<string, unknown>>(...args: string[]): Promise<T> => JSON.parse(await ok(...args, '--json')) as T;
const call = <T = unknown>(method: string, args: Record<string, unknown>) => client.call<T>(method, args, { server: agent.host });

/** A domain only the repository knows, whose one point is a sparse 32 GiB file. */
const SLOW_DOMAIN = '5b1d7f3e-2c4a-4e6b-9d8f-0a1b2c3d4e5f';
async function plantSlowPoint(): Promise<void> {
  const backupId = backupIdAt(1);
  const size = 32 * 1024 ** 3;
  const manifest = pointManifest(SLOW_DOMAIN, backupId, null);
  manifest.disks = [{ target: 'vda', file: 'vda.qcow2', format: 'qcow2', virtual_size: size, size, sha256: '0'.repeat(64) }];
  const folder = path.join(agent.repoPath, SLOW_DOMAIN, backupId);
  await writePoint(folder, manifest);
  await truncate(path.join(folder, 'vda.qcow2'), size);
}

const POINT_COLUMNS = ['ID', 'MODE', 'ENGINE', 'KIND', 'TIER', 'AGE', 'SIZE', 'FREEZE MS', 'TARGETS'];

describe('the virt-dr CLI against real agents', () => {
  beforeAll(async () => {
    ({ client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 64 }));
    await plantSlowPoint();
    await drNode.reset();
    await drNode.start();
  }, 300_000);

  afterAll(async () => {
    await drNode.stop();
    await drNode.discard();
    await stopGuestAndAgent(agent, GUEST, client);
  });

  const points: string[] = [];

  it('ping: a record of the agent, and the same object as JSON', async () => {
    const record = parseRecord(await ok('ping'));
    expect(record).toMatchObject({ host: agent.host, roles: 'compute' });
    expect(record.capabilities).toContain('backup');
    expect(await json('ping')).toEqual(await call('ping', {}));
  });

  it('hosts: every agent on the topic answers the fanout ping; none answering is a timeout', async () => {
    const table = parseTable(await ok('hosts'));
    expect(table.header).toEqual(['HOST', 'ROLES', 'VERSION', 'LIBVIRT', 'WORST RPO', 'DOMAIN']);
    expect(table.rows.map((row) => [row.HOST, row.ROLES])).toEqual(
      [[agent.host, 'compute'], [drNode.host, 'dr']].sort((a, b) => a[0]!.localeCompare(b[0]!)),
    );
    const { hosts } = await json<{ hosts: { host: string; version: string }[] }>('hosts');
    expect(hosts.map((h) => h.host).sort()).toEqual([agent.host, drNode.host].sort());
    expect(parseTable(await ok('hosts', '-o', 'wide')).header).toContain('CAPABILITIES');

    const nobody = await agent.cliRun(['hosts', '--timeout', '1'], 60_000, { VIRT_DR_BUS_TOPIC: 'virt_dr_test_cli_nobody' });
    expect(nobody.code).toBe(3);
    expect(nobody.stderr).toContain('no agent answered within 1 s');
  });

  it('backup --wait: progress lines without a terminal, then the point; --json gives the finished job', async () => {
    const stdout = await ok('backup', GUEST, '--wait');
    expect(stdout).toMatch(/backup of vdr-cli/);
    expect(stdout).toMatch(/100 ?%/);
    const record = parseRecord(stdout.slice(stdout.indexOf('backup_id')));
    expect(record).toMatchObject({ domain: GUEST, mode: 'full', engine: 'checkpoint' });
    points.push(record.backup_id!);

    await guestWriteRandomFile(GUEST, '/data/cli.bin', 2 << 20);
    const job = await json<{ state: string; action: string; result: { backup_id: string; mode: string } }>('backup', GUEST, '--wait');
    expect(job).toMatchObject({ state: 'succeeded', action: 'backup', result: { mode: 'incremental' } });
    points.push(job.result.backup_id);
  });

  it('ls: id, mode, engine, kind, tier, age, size, freeze ms and targets; -o wide adds the parent; --json is list_backups', async () => {
    const table = parseTable(await ok('ls', GUEST));
    expect(table.header).toEqual(POINT_COLUMNS);
    expect(table.rows.map((row) => [row.ID, row.MODE, row.ENGINE, row.KIND, row.TIER, row.TARGETS])).toEqual([
      [points[0], 'full', 'checkpoint', 'scheduled', 'fast', 'local'],
      [points[1], 'incremental', 'checkpoint', 'scheduled', 'fast', 'local'],
    ]);
    for (const row of table.rows) {
      expect(row.AGE).toMatch(/^\d+[smhd]$/);
      expect(row.SIZE).toMatch(/^\d+(\.\d)? (B|KiB|MiB|GiB)$/);
      expect(row['FREEZE MS']).toMatch(/^\d+$/);
    }
    const wide = parseTable(await ok('ls', GUEST, '-o', 'wide'));
    expect(wide.header).toEqual([...POINT_COLUMNS, 'QUIESCE', 'PARENT', 'DISKS', 'CREATED', 'REASON']);
    expect(wide.rows[1]).toMatchObject({ PARENT: points[0], QUIESCE: 'agent', DISKS: 'vda' });
    // Equal to the direct call but for the RPO, an age that may tick between the two.
    const [printed, direct] = [await json<{ rpo_s: number }>('ls', GUEST), await call<{ rpo_s: number }>('list_backups', { domain: GUEST })];
    expect(printed).toEqual({ ...direct, rpo_s: printed.rpo_s });
    expect(Math.abs(printed.rpo_s - direct.rpo_s)).toBeLessThanOrEqual(2);
  });

  it('show: every field of a point and its disks; --json is get_backup', async () => {
    const stdout = await ok('show', GUEST, points[1]!);
    expect(parseRecord(stdout)).toMatchObject({ backup_id: points[1], parent: points[0], mode: 'incremental', domain: GUEST });
    const disks = parseTable(stdout.slice(stdout.indexOf('disks:') + 'disks:\n'.length));
    expect(disks.rows.map((disk) => disk.TARGET)).toEqual(['vda']);
    expect(disks.rows[0]!.SHA256).toMatch(/^[0-9a-f]{64}$/);
    expect(await json('show', GUEST, points[1]!)).toEqual(await call('get_backup', { domain: GUEST, backup_id: points[1] }));
  });

  it('jobs, job: the table of jobs and one job\'s record; --json is list_jobs and get_job', async () => {
    const table = parseTable(await ok('jobs', '--state', 'succeeded'));
    expect(table.header).toEqual(['JOB', 'ACTION', 'DOMAIN', 'STATE', 'PROGRESS', 'AGE', 'ERROR']);
    const backups = table.rows.filter((row) => row.ACTION === 'backup');
    expect(backups).toHaveLength(2);
    expect(backups.every((row) => row.STATE === 'succeeded' && row.DOMAIN === GUEST && row.PROGRESS === '100%')).toBe(true);
    expect(await json('jobs', '--state', 'succeeded')).toEqual(await call('list_jobs', { state: 'succeeded' }));

    const jobId = backups[1]!.JOB!;
    expect(parseRecord(await ok('job', jobId))).toMatchObject({ job_id: jobId, state: 'succeeded', 'result.backup_id': points[1] });
    expect(await json('job', jobId)).toEqual(await call('get_job', { job_id: jobId }));
  });

  it('backup without --wait is accepted at once', async () => {
    await guestWriteRandomFile(GUEST, '/data/accepted.bin', 1 << 20);
    const accepted = await ok('backup', GUEST);
    const jobId = /^backup of vdr-cli: job (\S+) accepted$/m.exec(accepted)?.[1];
    expect(jobId, accepted).toBeDefined();
    await expect.poll(async () => (await call<{ state: string }>('get_job', { job_id: jobId })).state, { timeout: 120_000 }).toBe('succeeded');
    const { backups } = await call<{ backups: { backup_id: string }[] }>('list_backups', { domain: GUEST });
    points.splice(0, points.length, ...backups.map((b) => b.backup_id));
  });

  it('cancel stops a running job and shows it; --json is cancel_job\'s answer; a finished job is not cancellable (exit 1)', async () => {
    // A verify of the slow point reads 32 GiB: it runs long enough to be cancelled.
    const running = async () => {
      const { job_id: jobId } = await call<{ job_id: string }>('verify', { domain: SLOW_DOMAIN });
      await expect.poll(async () => (await call<{ state: string }>('get_job', { job_id: jobId })).state).toBe('running');
      return jobId;
    };
    const ended = (jobId: string) => expect.poll(async () => (await call<{ state: string }>('get_job', { job_id: jobId })).state, { timeout: 120_000 }).toBe('cancelled');

    const first = await running();
    expect(parseRecord(await ok('cancel', first))).toMatchObject({ job_id: first, action: 'verify', state: 'running' });
    await ended(first);
    const again = await cli('cancel', first);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`virt-dr: JobNotCancellable: job ${first} has already finished (cancelled); only queued and running jobs can be cancelled\n`);

    const second = await running();
    expect(await json('cancel', second)).toMatchObject({ job_id: second, action: 'verify', state: 'running', domain: SLOW_DOMAIN });
    await ended(second);
  });

  it('verify waits for its report: a record of counts; --json gives the finished job', async () => {
    const record = parseRecord((await ok('verify', GUEST)).split('\n').filter((line) => /^\S+ {2,}/.test(line)).join('\n'));
    expect(record).toMatchObject({ ok: String(points.length), corrupt: '0', missing: '0' });
    const job = await json<{ state: string; result: { ok: number } }>('verify', GUEST, points[0]!);
    expect(job).toMatchObject({ state: 'succeeded', result: { ok: 1 } });
  });

  it('restore --wait over the running guest: the phases and the result; the guest runs again', async () => {
    const stdout = await ok('restore', GUEST, points[0]!, '--wait');
    expect(stdout).toMatch(/restore of vdr-cli/);
    const record = parseRecord(stdout.slice(stdout.indexOf('backup_id')));
    expect(record).toMatchObject({ backup_id: points[0], target: 'replace', domain: GUEST });
    await waitForAgent(GUEST);
    expect(await domainState(GUEST)).toBe('running');
  }, 300_000);

  it('rm deletes a point everywhere and waits; --json gives the finished job', async () => {
    const job = await json<{ state: string; result: { backup_id: string } }>('rm', GUEST, points[0]!);
    expect(job).toMatchObject({ state: 'succeeded', result: { backup_id: points[0] } });
    expect(parseTable(await ok('ls', GUEST)).rows.map((row) => row.ID)).toEqual(points.slice(1));
  });

  it('policy: one line per key with its layer; --json is get_policy', async () => {
    const lines = (await ok('policy', GUEST)).split('\n');
    expect(lines[0]).toContain(`domain ${GUEST}`);
    expect(lines.some((line) => /^retention\s+\S+/.test(line))).toBe(true);
    expect(await json('policy', GUEST)).toEqual(await call('get_policy', { domain: GUEST }));
  });

  it('failover and failback: the DR node refuses what it has nothing of, a compute agent is no DR node', async () => {
    const roleMissing = await agent.cliRun(['failover', GUEST, '--host', agent.host]);
    expect(roleMissing.code).toBe(1);
    expect(roleMissing.stderr.trim()).toMatch(/^virt-dr: RoleMissing: failover\(\): agent test-cli is not a DR node/);
    const nothing = await agent.cliRun(['failback', 'vdr-cli-no-such', '--host', drNode.host, '--wait']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/^virt-dr: [A-Za-z]+: /);
    for (const refused of [roleMissing, nothing]) expect(refused.stderr).not.toMatch(/\n\s+at /);
  });

  it('exit codes: 2 for a usage error (nothing sent), 1 for a remote failure, 3 for a timeout', async () => {
    const usage = [await cli('ls'), await cli('backup', GUEST, '--mode', 'sideways'), await cli('frobnicate'), await agent.cliRun(['failover', GUEST])];
    for (const run of usage) expect(run, run.stderr).toMatchObject({ code: 2, stdout: '' });
    expect(usage[3]!.stderr).toContain('failover needs --host');

    const remote = await cli('ls', 'vdr-cli-no-such-domain');
    expect(remote.code).toBe(1);
    expect(remote.stderr).toMatch(/^virt-dr: DomainNotFound: .*vdr-cli-no-such-domain/);
    expect(remote.stderr.trim().split('\n')).toHaveLength(1);

    const started = Date.now();
    const timeout = await agent.cliRun(['--timeout', '2', 'ping'], 60_000, { VIRT_DR_BUS_TOPIC: 'virt_dr_test_cli_nobody' });
    expect(timeout.code).toBe(3);
    expect(timeout.stderr).toMatch(/^virt-dr: no reply within 2000 ms/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('backup --wait on a pseudo-terminal: one bar, redrawn in place, ending at 100 %, then the point', async () => {
    await guestWriteRandomFile(GUEST, '/data/pty.bin', 8 << 20);
    // Wide enough for the record's longest line (a full's reason) not to wrap.
    const run = await runInPty([process.execPath, CLI_BIN, '--host', agent.host, 'backup', GUEST, '--wait'], agent.cliEnv(), { columns: 400, timeoutMs: 180_000 });
    expect(run, run.output).toMatchObject({ timedOut: false, exitCode: 0 });
    const screen = renderScreen(run.output, 400);
    // Several frames were drawn (each update's), but the screen holds the bar once.
    expect(run.output.match(/backup of vdr-cli {2}\[/g)!.length).toBeGreaterThan(1);
    expect(screen.rows[0]).toMatch(/^backup of vdr-cli: job [0-9a-f-]{36}$/);
    expect(screen.rows.filter((row) => row.startsWith('backup of vdr-cli '))).toEqual([expect.stringMatching(/ \[█+\] 100 % .* succeeded in /)]);
    // A full: the restore before it left the bitmap behind, as the reason says.
    expect(screen.rows).toContainEqual(expect.stringMatching(/^mode +(full|incremental)$/));
  }, 300_000);

  it('bash completion: installed as install.sh does, `complete -p virt-dr` in a new login shell, and its candidates', async () => {
    const bin = `${ROOT}/bin/virt-dr.js`;
    await execFileP('bash', [`${ROOT}/deploy/install-completion.sh`, bin], { env: agent.cliEnv() });
    const shell = (script: string) => execFileP('bash', ['-lic', script], { env: { ...agent.cliEnv(), PS1: '$ ' } }).then(({ stdout }) => stdout.trim());
    expect(await shell('complete -p virt-dr')).toBe('complete -F _virt_dr virt-dr');
    const candidates = (words: string[]) =>
      shell(`COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _virt_dr; printf '%s\\n' "\${COMPREPLY[@]}"`).then((out) => out.split('\n').filter(Boolean));
    expect(await candidates(['virt-dr', 'res'])).toEqual(['restore']);
    expect(await candidates(['virt-dr', 'backup', '--m'])).toEqual(['--mode']);
    expect(await candidates(['virt-dr', 'backup', '--mode', ''])).toEqual(['auto', 'full', 'incremental']);
    expect(await candidates(['virt-dr', 'ls', 'vdr-cl'])).toContain(GUEST);
  });
});
