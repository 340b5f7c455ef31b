/**
 * /metrics of the REAL agent (built dist/, child process, real RabbitMQ, read-only libvirt)
 * over a real repository: a chain of real qcow2 points made with qemu-img, no guest. The
 * jobs it runs are verify and delete_backup, which need points but no domain.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRepository } from '../../src/repo/file-repository.js';
import type { Manifest } from '../../src/repo/point.js';
import { AgentProcess } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { parsePrometheusText, valueOf, type Family } from '../support/prometheus-text.js';
import { buildRepoChain } from '../support/repo-chain.js';

const execFileP = promisify(execFile);
const agent = new AgentProcess('metrics_scrape', '/var/lib/virt-dr-test/metrics-scrape');
const domainUuid = randomUUID();
let points: Manifest[];

function holdPort(): Promise<Server> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The TCP ports a process listens on, from `ss`. */
async function listeningPorts(pid: number): Promise<string[]> {
  const { stdout } = await execFileP('ss', ['-Hltnp']);
  return stdout.split('\n').filter((line) => line.includes(`pid=${pid},`)).map((line) => line.split(/\s+/)[3]!);
}

/** What the agent's log gained since `offset` bytes. */
async function logSince(offset: number): Promise<string> {
  return (await readFile(agent.logPath)).subarray(offset).toString('utf8');
}

const logSize = () => stat(agent.logPath).then((s) => s.size, () => 0);

beforeAll(async () => {
  await agent.reset();
  points = await buildRepoChain(new FileRepository(agent.repoPath, agent.host), { domainUuid, points: 3 });
});

afterAll(async () => {
  await agent.stop();
  await agent.discard();
});

describe('/metrics', () => {
  it('is off by default: the agent listens on no port', async () => {
    await agent.start();
    try {
      expect(await listeningPorts(agent.child!.pid!)).toEqual([]);
    } finally {
      await agent.stop();
    }
  });

  it('fails the start with a clear error when the port is taken', async () => {
    const holder = await holdPort();
    const { port } = holder.address() as { port: number };
    const offset = await logSize();
    try {
      await expect(agent.start({}, ['--metrics-port', String(port)])).rejects.toThrow(/agent exited during start-up/);
      expect(agent.child!.exitCode).toBe(1);
      expect(await logSince(offset)).toContain(`metrics.port ${port} is already in use on 127.0.0.1`);
    } finally {
      holder.close();
      await agent.stop();
    }
  });

  describe('scraped from a running agent', () => {
    let base: string;
    let port: number;
    let client: Awaited<ReturnType<AgentProcess['client']>>;
    const scrape = async (): Promise<Map<string, Family>> => {
      const response = await fetch(`${base}/metrics`);
      expect(response.status).toBe(200);
      return parsePrometheusText(await response.text());
    };

    beforeAll(async () => {
      port = await freePort();
      base = `http://127.0.0.1:${port}`;
      await agent.start({}, ['--metrics-port', String(port)]);
      client = await agent.client();
    });

    afterAll(async () => {
      await client.close();
      await agent.stop();
    });

    it('listens on loopback only, on the port given', async () => {
      expect(await listeningPorts(agent.child!.pid!)).toEqual([`127.0.0.1:${port}`]);
    });

    it('exposes every family with its type, the repository\'s space and the domain\'s newest point', async () => {
      const families = await scrape();
      const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
      expect(types).toMatchObject({
        virt_dr_jobs_total: 'counter',
        virt_dr_jobs: 'gauge',
        virt_dr_bytes_written_total: 'counter',
        virt_dr_freeze_seconds: 'histogram',
        virt_dr_last_success_timestamp_seconds: 'gauge',
        virt_dr_rpo_seconds: 'gauge',
        virt_dr_rpo_target_seconds: 'gauge',
        virt_dr_domain_backups_total: 'counter',
        virt_dr_target_free_bytes: 'gauge',
        virt_dr_target_total_bytes: 'gauge',
        virt_dr_target_errors_total: 'counter',
        virt_dr_replication_lag_seconds: 'gauge',
      });
      expect([...families.keys()].filter((name) => !name.startsWith('virt_dr_'))).toEqual([]);
      const free = valueOf(families, 'virt_dr_target_free_bytes', { target: 'local' })!;
      expect(free).toBeGreaterThan(0);
      expect(valueOf(families, 'virt_dr_target_total_bytes', { target: 'local' })).toBeGreaterThanOrEqual(free);
      const domain = { domain: points[0]!.domain, domain_uuid: domainUuid };
      const newest = points.at(-1)!;
      expect(valueOf(families, 'virt_dr_last_success_timestamp_seconds', { ...domain, action: 'backup' })).toBe(Date.parse(newest.created_at) / 1000);
      // No secondary: the RPO is the age of the newest point on the primary.
      const ageS = (Date.now() - Date.parse(newest.created_at)) / 1000;
      expect(valueOf(families, 'virt_dr_rpo_seconds', domain)).toBeGreaterThan(ageS - 60);
      expect(valueOf(families, 'virt_dr_rpo_seconds', domain)).toBeLessThanOrEqual(ageS + 1);
      expect(valueOf(families, 'virt_dr_jobs_total', { action: 'verify', state: 'succeeded' })).toBe(0);
      expect((await fetch(`${base}/`)).status).toBe(404);
    });

    it('counts a finished verify, and a delete with the bytes its merge wrote', async () => {
      const verify = await client.call<{ state: string }>('verify', { domain: domainUuid, wait: true }, { timeoutMs: 60_000, server: agent.host });
      expect(verify.state).toBe('succeeded');
      const deleted = await client.call<{ state: string; result: { places: { bytes_written: number }[] } }>(
        'delete_backup',
        { domain: domainUuid, backup_id: points[0]!.backup_id, wait: true },
        { timeoutMs: 60_000, server: agent.host },
      );
      expect(deleted.state).toBe('succeeded');
      const written = deleted.result.places.reduce((sum, p) => sum + p.bytes_written, 0);
      expect(written).toBeGreaterThan(0);

      const families = await scrape();
      expect(valueOf(families, 'virt_dr_jobs_total', { action: 'verify', state: 'succeeded' })).toBe(1);
      expect(valueOf(families, 'virt_dr_jobs_total', { action: 'delete', state: 'succeeded' })).toBe(1);
      expect(valueOf(families, 'virt_dr_bytes_written_total', { action: 'delete' })).toBe(written);
      expect(valueOf(families, 'virt_dr_jobs', { action: 'verify', state: 'running' })).toBe(0);
      const verified = valueOf(families, 'virt_dr_last_success_timestamp_seconds', { domain_uuid: domainUuid, action: 'verify' })!;
      expect(Math.abs(verified - Date.now() / 1000)).toBeLessThan(60);
    });
  });
});
