/** The /metrics endpoint on a real loopback socket: what it answers, and a port already taken. */
import { createServer } from 'node:net';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsListenFailed, MetricsServer } from '../../src/metrics/metrics-server.js';

const log = pino({ level: 'silent' });
const servers: MetricsServer[] = [];

async function serving(): Promise<string> {
  const registry = new Registry();
  new Counter({ name: 'virt_dr_example_total', help: 'An example.', registers: [registry] }).inc(3);
  const server = new MetricsServer(registry, log);
  servers.push(server);
  await server.listen('127.0.0.1', 0);
  return `http://127.0.0.1:${server.port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('MetricsServer', () => {
  it('answers GET /metrics in the text format, 404 elsewhere and 405 to other methods', async () => {
    const base = await serving();
    const scrape = await fetch(`${base}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await scrape.text()).toContain('virt_dr_example_total 3');
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics/extra`)).status).toBe(404);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });

  it('refuses a port already in use with an error that names the port and the way out', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const server = new MetricsServer(new Registry(), log);
      const attempt = server.listen('127.0.0.1', port);
      await expect(attempt).rejects.toThrow(MetricsListenFailed);
      await expect(attempt).rejects.toThrow(`metrics.port ${port} is already in use on 127.0.0.1`);
      expect(server.port).toBeNull();
    } finally {
      holder.close();
    }
  });

  it('closes with a scraper\'s keep-alive connection still open', async () => {
    const base = await serving();
    await (await fetch(`${base}/metrics`, { headers: { connection: 'keep-alive' } })).text();
    const started = Date.now();
    await servers.pop()!.close();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
