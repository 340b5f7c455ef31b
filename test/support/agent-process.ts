import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { projectRoot } from './project-root.js';
import { RpcClient, type Notification } from '../../src/bus/rpc-client.js';
import { RABBIT_URL, cleanupTopology, rabbitmqctl } from './rabbit.js';

const ROOT = projectRoot(import.meta.url);
export const AGENT_BIN = path.join(ROOT, 'bin/virt-dr-agent.cjs');
export const CLI_BIN = path.join(ROOT, 'bin/virt-dr.js');
const execFileP = promisify(execFile);

/**
 * The environment that pins an agent to the snapshot engine: the files whose assertions
 * are about its overlays and merges (auto would pick the checkpoint engine for qcow2).
 */
export const SNAPSHOT_ENGINE: Readonly<Record<string, string>> = { VIRT_DR_BACKUP_ENGINE: 'snapshot' };

/**
 * Runs the real, built agent (bin/virt-dr-agent.cjs) as a child process with its own
 * topic, host name, repository and state, so test files never see each other's traffic.
 * Its log goes to `<workDir>/agent.log` for post-mortems.
 */
export class AgentProcess {
  child: ChildProcess | null = null;
  readonly topic: string;
  readonly host: string;
  readonly repoPath: string;
  readonly statePath: string;
  readonly logPath: string;
  readonly exchange = 'virt_dr_test';

  constructor(
    readonly name: string,
    readonly workDir: string,
    private readonly extraEnv: Record<string, string> = {},
    /** A command the agent runs under (its argv ends with node and the agent's entry). */
    private readonly launcher: readonly string[] = [],
    /**
     * `topic`: another agent's, for agents that talk to each other (a compute host and
     * its DR node); `config`: what only a config file can set (repo.targets, maps),
     * written to `<workDir>/agent.json` and passed with --config; `repoPath`: a
     * repository other than `<workDir>/repo` (a DR node's: the folder its sshd serves).
     */
    private readonly options: { topic?: string; config?: object; repoPath?: string } = {},
  ) {
    this.topic = options.topic ?? `virt_dr_test_${name}`;
    this.host = `test-${name}`;
    this.repoPath = options.repoPath ?? path.join(workDir, 'repo');
    this.statePath = path.join(workDir, 'state');
    this.logPath = path.join(workDir, 'agent.log');
  }

  /** Removes what an earlier run left: its folders and its queues. */
  async reset(): Promise<void> {
    await rm(this.workDir, { recursive: true, force: true });
    await mkdir(this.workDir, { recursive: true });
    await cleanupTopology(await this.queues(), []);
  }

  /** After a run: its queues and fanout exchange, its repository and state; the log stays. */
  async discard(): Promise<void> {
    await cleanupTopology(await this.queues(), [`${this.topic}_fanout`]);
    await rm(this.repoPath, { recursive: true, force: true });
    await rm(this.statePath, { recursive: true, force: true });
  }

  /** The agent's RPC queues: T, T.<host>, and every fanout queue a run of it declared. */
  private async queues(): Promise<string[]> {
    const listed = (await rabbitmqctl('list_queues', 'name', '--quiet')).split('\n').map((l) => l.trim());
    return [this.topic, `${this.topic}.${this.host}`, ...listed.filter((n) => n.startsWith(`${this.topic}_fanout_`))];
  }

  /** Starts the agent with `env` added to its environment and `flags` after its entry. */
  async start(env: Record<string, string> = {}, flags: readonly string[] = []): Promise<void> {
    // A second child would orphan the first, which then answers on the same queues.
    if (this.running) throw new Error(`agent ${this.name} is already running`);
    const log = createWriteStream(this.logPath, { flags: 'a' });
    const configArgs: string[] = [];
    if (this.options.config) {
      const configFile = path.join(this.workDir, 'agent.json');
      await writeFile(configFile, JSON.stringify(this.options.config));
      configArgs.push('--config', configFile);
    }
    const [file, ...args] = [...this.launcher, process.execPath, AGENT_BIN, ...configArgs, ...flags];
    const child = spawn(file!, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        VIRT_DR_HOST: this.host,
        VIRT_DR_BUS_URL: RABBIT_URL,
        VIRT_DR_BUS_EXCHANGE: this.exchange,
        VIRT_DR_BUS_TOPIC: this.topic,
        VIRT_DR_REPO_PATH: this.repoPath,
        VIRT_DR_STATE_PATH: this.statePath,
        VIRT_DR_LOG_LEVEL: 'debug',
        VIRT_DR_BACKUP_PROGRESS_INTERVAL_MS: '500',
        ...this.extraEnv,
        ...env,
      },
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    await this.waitUntilAnswering(60_000);
  }

  client(): Promise<RpcClient> {
    return RpcClient.connect({ url: RABBIT_URL, exchange: this.exchange, topic: this.topic });
  }

  /** Runs the virt-dr CLI against this agent's exchange and topic; rejects on a non-zero exit. */
  cli(args: readonly string[], timeoutMs = 600_000, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
    return execFileP(process.execPath, [CLI_BIN, ...args], { env: this.cliEnv(env), timeout: timeoutMs });
  }

  /** Runs the virt-dr CLI and gives its exit code and output, whatever the code. */
  cliRun(args: readonly string[], timeoutMs = 600_000, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.cli(args, timeoutMs, env).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  }

  /** The environment that points the CLI at this agent's exchange and topic. */
  cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { ...process.env, VIRT_DR_BUS_URL: RABBIT_URL, VIRT_DR_BUS_EXCHANGE: this.exchange, VIRT_DR_BUS_TOPIC: this.topic, ...env };
  }

  /** A client that also records every notification from now on. */
  async watchingClient(): Promise<{ client: RpcClient; events: Notification[] }> {
    const client = await this.client();
    const events: Notification[] = [];
    await client.watchNotifications((n) => events.push(n));
    return { client, events };
  }

  /** The phase the job's journal record is in (its engine's checkpoint), or null before it has one. */
  async journalPhase(jobId: string): Promise<string | null> {
    try {
      const record = JSON.parse(await readFile(path.join(this.statePath, 'jobs', `${jobId}.json`), 'utf8'));
      return record?.checkpoint?.phase ?? null;
    } catch {
      return null; // not written yet, or read mid-rename
    }
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    this.child = null;
  }

  private async waitUntilAnswering(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const client = await this.client();
    try {
      for (;;) {
        if (!this.running) throw new Error(`agent exited during start-up; see ${this.logPath}`);
        try {
          await client.call('ping', {}, { timeoutMs: 2000, server: this.host });
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`agent did not answer ping: ${(err as Error).message}; see ${this.logPath}`);
        }
      }
    } finally {
      await client.close();
    }
  }
}

/** Waits until `events` holds one matching `predicate`. */
export async function waitForEvent(
  events: Notification[],
  predicate: (n: Notification) => boolean,
  timeoutMs = 120_000,
): Promise<Notification> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = events.find(predicate);
    if (found) return found;
    if (Date.now() > deadline) {
      throw new Error(`no matching notification in ${timeoutMs} ms; saw ${events.map((e) => e.event_type).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
