/**
 * deploy/grafana/virt-dr.json against a REAL agent (built dist/, child process, real
 * RabbitMQ, read-only libvirt) and a REAL Prometheus scraping it: every metric a panel or a
 * variable names is in the agent's /metrics, and every query runs on Prometheus with the
 * dashboard's variables set as Grafana sets them, the per-host joins giving the agent's
 * host. The agent has two file targets and a domain (only the repository knows it, so no
 * guest and no lock) whose policy has a schedule and a secondary, so the RPO target,
 * replication and space series all exist. (No Grafana server: none can be installed from
 * the registries this project uses; test/unit/grafana-dashboard.test.ts checks the model.)
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRepository } from '../../src/repo/file-repository.js';
import type { Manifest } from '../../src/repo/point.js';
import { AgentProcess } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { familyOf, metricNamesIn, queriesOf, readDashboard } from '../support/grafana-dashboard.js';
import { setDomainPolicy } from '../support/policy-run.js';
import { PrometheusServer } from '../support/prometheus-server.js';
import { parsePrometheusText, valueOf, type Family } from '../support/prometheus-text.js';
import { buildRepoChain } from '../support/repo-chain.js';

const WORK = '/var/lib/virt-dr-test/grafana-dashboard';
const domainUuid = randomUUID();
const INTERVAL_S = 3600;
const DELAY_S = 300;
const agent = new AgentProcess('grafana_dashboard', WORK, {}, [], {
  config: { repo: { targets: [{ name: 'local', url: `file://${WORK}/repo` }, { name: 'nas2', url: `file://${WORK}/nas2` }] } },
});
const prometheus = new PrometheusServer(path.join(WORK, 'prometheus'));
let metricsPort: number;
let families: Map<string, Family>;
let points: Manifest[];

/** Grafana's values for the dashboard's variables: this agent's host, every domain, short windows. */
function withVariables(expr: string): string {
  const values: Record<string, string> = { host: agent.host.replace(/[.+*?^$()[\]{}|\\-]/g, '\\\\$&'), domain: '.*', window: '5m', __rate_interval: '1m', __range: '5m' };
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => values[name] ?? whole);
}

beforeAll(async () => {
  await agent.reset();
  points = await buildRepoChain(new FileRepository(agent.repoPath, agent.host), { domainUuid, points: 2 });
  metricsPort = await freePort();
  await agent.start({}, ['--metrics-port', String(metricsPort)]);
  const client = await agent.client();
  try {
    await setDomainPolicy(client, agent.host, domainUuid, { schedule: { interval_s: INTERVAL_S }, plan: { secondaries: [{ target: 'nas2', delay_s: DELAY_S }] } });
  } finally {
    await client.close();
  }
  families = parsePrometheusText(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
  await prometheus.start('virt-dr', [`127.0.0.1:${metricsPort}`]);
}, 120_000);

afterAll(async () => {
  await prometheus.stop();
  await prometheus.discard();
  await agent.stop();
  await agent.discard();
});

describe('the Grafana dashboard against a real agent', () => {
  it('names in every query only metrics the agent exports', async () => {
    const types = new Map([...families.values()].map((f) => [f.name, f.type]));
    const queries = queriesOf(await readDashboard());
    const named = queries.flatMap(({ panel, expr }) => metricNamesIn(expr).map((name) => ({ panel, name, family: familyOf(name, types) })));
    expect(named.filter((n) => n.family === null)).toEqual([]);
    // Each thing the issue asks for has its panel.
    const used = new Set(named.map((n) => n.family));
    for (const family of [
      'virt_dr_domain_backups_total',
      'virt_dr_bytes_written_total',
      'virt_dr_freeze_seconds',
      'virt_dr_rpo_seconds',
      'virt_dr_rpo_target_seconds',
      'virt_dr_replication_lag_seconds',
      'virt_dr_target_free_bytes',
      'virt_dr_agent_info',
    ]) expect(used).toContain(family);
  });

  it('exports the RPO target of a scheduled domain: its interval plus its secondary\'s delay', () => {
    const domain = { domain: points[0]!.domain, domain_uuid: domainUuid };
    expect(valueOf(families, 'virt_dr_rpo_target_seconds', domain)).toBe(INTERVAL_S + DELAY_S);
    expect(valueOf(families, 'virt_dr_rpo_seconds', domain)).toBeGreaterThan(0);
    expect(families.get('virt_dr_domain_backups_total')?.type).toBe('counter');
  });

  it('runs every query on Prometheus, and the per-host joins give the agent\'s host', async () => {
    await prometheus.until(async () => (await prometheus.query('virt_dr_rpo_target_seconds')).length > 0, 30_000, 'a scrape of the agent');
    expect(await prometheus.labelValues('virt_dr_agent_info', 'host')).toContain(agent.host);
    expect(await prometheus.labelValues('virt_dr_rpo_seconds', 'domain')).toContain(points[0]!.domain);
    const answers = new Map<string, Awaited<ReturnType<PrometheusServer['query']>>>();
    for (const { panel, refId, expr } of queriesOf(await readDashboard())) {
      if (refId !== 'var') answers.set(`${panel} ${refId}`, await prometheus.query(withVariables(expr)));
    }
    const hostsOf = (key: string) => answers.get(key)?.map((r) => r.metric.host);
    for (const key of ['RPO against the policy\'s target A', 'RPO against the policy\'s target B', 'RPO share of its target A', 'Replication lag per secondary target A', 'Free space per target A', 'Free share per target A']) {
      expect(hostsOf(key), key).toEqual(expect.arrayContaining([agent.host]));
    }
    const share = answers.get('RPO share of its target A')!.find((r) => r.metric.domain_uuid === domainUuid)!;
    expect(Number(share.value[1])).toBeGreaterThan(0);
    expect(answers.get('Free space per target A')!.map((r) => r.metric.target).sort()).toEqual(['local', 'nas2']);
    // No backup ran: the counts are 0, not "no data".
    expect(answers.get('Backups failed A')!.map((r) => r.value[1])).toEqual(['0']);
  }, 90_000);
});
