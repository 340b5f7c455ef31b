/**
 * A REAL Prometheus (Debian's package, installed by deploy/prepare-host.sh
 * --with-test-tools) on a loopback port, with a data folder of its own, scraping the
 * given targets every second: the engine that a Grafana panel's PromQL runs on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './free-port.js';

export interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

export class PrometheusServer {
  private child: ChildProcess | null = null;
  private output = '';
  private base = '';

  constructor(private readonly workDir: string) {}

  /** Starts Prometheus scraping `targets` (`host:port`) as job `job`; resolves once it answers. */
  async start(job: string, targets: string[]): Promise<void> {
    await rm(this.workDir, { recursive: true, force: true });
    await mkdir(this.workDir, { recursive: true });
    const config = path.join(this.workDir, 'prometheus.yml');
    // JSON is YAML: no YAML writer needed.
    await writeFile(config, JSON.stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s' }, scrape_configs: [{ job_name: job, static_configs: [{ targets }] }] }));
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    const args = [`--config.file=${config}`, `--storage.tsdb.path=${path.join(this.workDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`];
    const child = spawn('prometheus', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk: Buffer) => void (this.output = (this.output + chunk.toString()).slice(-8000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const spawned = new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    await spawned.catch((err: Error) => {
      throw new Error(`prometheus did not start (deploy/prepare-host.sh --with-test-tools installs it): ${err.message}`);
    });
    await this.until(async () => (await fetch(`${this.base}/-/ready`).catch(() => null))?.ok === true, 30_000, 'Prometheus to be ready');
  }

  /** An instant query; throws with Prometheus' error when it refuses the expression. */
  async query(expr: string): Promise<PromResult[]> {
    const response = await fetch(`${this.base}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: PromResult[] | [number, string] } };
    if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
    // A scalar (`vector(0)` alone is a vector; a bare number is a scalar) is one unlabelled result.
    return body.data!.resultType === 'scalar' ? [{ metric: {}, value: body.data!.result as [number, string] }] : (body.data!.result as PromResult[]);
  }

  /** The values of `label` on the series `match` selects: what Grafana's label_values(match, label) asks. */
  async labelValues(match: string, label: string): Promise<string[]> {
    const response = await fetch(`${this.base}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': match })}`);
    return ((await response.json()) as { data: string[] }).data;
  }

  /** Waits until `check` holds, asking again every 500 ms. */
  async until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (this.child && (this.child.exitCode !== null || this.child.signalCode !== null)) throw new Error(`prometheus exited: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}; prometheus said: ${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async discard(): Promise<void> {
    await rm(this.workDir, { recursive: true, force: true });
  }
}
