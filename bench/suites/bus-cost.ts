import { randomUUID } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import amqp from 'amqplib';
import type { Notification } from '../../src/bus/rpc-client.js';
import { writeJsonAtomic } from '../../src/util/atomic-file.js';
import { isUuid } from '../../src/util/ids.js';
import { RABBIT_URL } from '../../test/support/rabbit.js';
import type { BenchContext } from '../context.js';
import { createIdleDomains, destroyIdleDomains } from '../idle-domains.js';
import type { Figure, SuiteResult } from '../model.js';
import { median, percentile } from '../stats.js';

const SECTION = '5. Bus cost';
const WARM_UP_CALLS = 20;
const ACCOUNTING_TIMEOUT_MS = 60_000;

/**
 * What the bus adds: ping round trips against a bare amqplib echo through the same broker,
 * and a burst of backup casts against a bare consumer that journals each message with the
 * same atomic write the agent uses. Both baselines are the floor any RPC layer on this
 * broker and disk can reach.
 */
export async function runBusCost(ctx: BenchContext): Promise<SuiteResult> {
  const calls = ctx.plan.pingCalls;
  ctx.progress(`bus: ${calls} pings to the agent, ${calls} bare AMQP round trips`);
  const ping = await agentPings(ctx, calls);
  const bare = await bareRoundTrips(calls);
  const rtt = (name: string, of: (ms: number[]) => number): Figure => ({
    section: SECTION,
    name: `ping round trip, ${name} of ${calls}`,
    value: of(ping),
    unit: 'ms',
    baseline: { name: 'bare amqplib request and reply through the same broker', value: of(bare) },
    better: 'lower',
  });

  const domains = await createIdleDomains(ctx.workDir, ctx.plan.castDomains);
  try {
    ctx.progress(`bus: ${ctx.plan.casts} backup casts at once for ${domains.length} domains`);
    const burst = await castBurst(ctx, domains);
    const bareBurst = await bareJournaledBurst(ctx.plan.casts, path.join(ctx.workDir, 'bare-journal'));
    await waitForIdleJobs(ctx);
    return {
      figures: [
        rtt('median', median),
        rtt('p99', (ms) => percentile(ms, 99)),
        {
          section: SECTION,
          name: `${ctx.plan.casts} backup casts for ${domains.length} domains, until each is journaled or refused`,
          value: burst.ms,
          unit: 'ms',
          baseline: { name: 'bare amqplib consumer writing each message atomically, then acking', value: bareBurst },
          better: 'lower',
          note: `${burst.journaled} journaled, ${burst.refused} refused with DomainBusy (one job per domain), 0 lost`,
        },
      ],
    };
  } finally {
    await destroyIdleDomains(domains, ctx.workDir);
  }
}

async function agentPings(ctx: BenchContext, calls: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < WARM_UP_CALLS + calls; i++) {
    const start = performance.now();
    await ctx.client.call('ping', {}, { server: ctx.agent.host, timeoutMs: 10_000 });
    if (i >= WARM_UP_CALLS) samples.push(performance.now() - start);
  }
  return samples;
}

/** Request and reply on private queues of the same broker, with nothing else in the way. */
async function bareRoundTrips(calls: number): Promise<number[]> {
  const connection = await amqp.connect(RABBIT_URL);
  try {
    const channel = await connection.createChannel();
    const { queue: requests } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    const { queue: replies } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.consume(requests, (msg) => {
      if (msg) channel.sendToQueue(msg.properties.replyTo as string, msg.content, { correlationId: msg.properties.correlationId });
    }, { noAck: true });
    let answer: (() => void) | null = null;
    await channel.consume(replies, () => answer?.(), { noAck: true });
    const samples: number[] = [];
    const body = Buffer.from(JSON.stringify({ method: 'ping', args: {} }));
    for (let i = 0; i < WARM_UP_CALLS + calls; i++) {
      const start = performance.now();
      await new Promise<void>((resolve) => {
        answer = resolve;
        channel.sendToQueue(requests, body, { replyTo: replies, correlationId: String(i) });
      });
      if (i >= WARM_UP_CALLS) samples.push(performance.now() - start);
    }
    return samples;
  } finally {
    await connection.close();
  }
}

/** How one burst of casts was accounted for. */
interface Burst {
  ms: number;
  journaled: number;
  refused: number;
}

/**
 * Every cast must end as a job file in the journal or as a DomainBusy refusal on the bus;
 * anything else after the timeout is a lost request, and fails the run.
 */
async function castBurst(ctx: BenchContext, domains: string[]): Promise<Burst> {
  const jobsDir = path.join(ctx.agent.statePath, 'jobs');
  const before = new Set(await jobFiles(jobsDir));
  const { client: watcher, events } = await ctx.agent.watchingClient();
  try {
    const start = performance.now();
    for (let i = 0; i < ctx.plan.casts; i++) {
      ctx.client.cast('backup', { domain: domains[i % domains.length], quiesce: 'none' }, { server: ctx.agent.host });
    }
    for (;;) {
      const journaled = (await jobFiles(jobsDir)).filter((f) => !before.has(f)).length;
      const refused = events.filter(isBusyRefusal).length;
      if (journaled + refused >= ctx.plan.casts) return { ms: performance.now() - start, journaled, refused };
      if (performance.now() - start > ACCOUNTING_TIMEOUT_MS) {
        throw new Error(`${ctx.plan.casts} casts: only ${journaled} journaled and ${refused} refused after ${ACCOUNTING_TIMEOUT_MS} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } finally {
    await watcher.close();
  }
}

async function jobFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.json') && isUuid(name.slice(0, -5)));
}

/** A refused cast carries the method; a failed job's error carries its job_id instead. */
export function isBusyRefusal(event: Notification): boolean {
  const error = event.payload.error as { class?: unknown } | undefined;
  return event.event_type === 'virt_dr.backup.error' && event.payload.method === 'backup' && error?.class === 'DomainBusy';
}

/** The same burst to a consumer that only does what accepting needs: an atomic file, then the ack. */
async function bareJournaledBurst(count: number, dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const connection = await amqp.connect(RABBIT_URL);
  try {
    const channel = await connection.createChannel();
    await channel.prefetch(50);
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    let written = 0;
    let done!: () => void;
    const allWritten = new Promise<void>((resolve) => (done = resolve));
    await channel.consume(queue, (msg) => {
      if (!msg) return;
      void writeJsonAtomic(path.join(dir, `${randomUUID()}.json`), JSON.parse(msg.content.toString())).then(() => {
        channel.ack(msg);
        if (++written === count) done();
      });
    });
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ method: 'backup', args: { domain: `d${i}` } })));
    }
    await allWritten;
    return performance.now() - start;
  } finally {
    await connection.close();
  }
}

/** The burst's jobs must end before their domains go away, or they would fail on it. */
async function waitForIdleJobs(ctx: BenchContext): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const busy = await Promise.all(
      (['queued', 'running'] as const).map((state) =>
        ctx.client.call<{ jobs: unknown[] }>('list_jobs', { state }, { server: ctx.agent.host }).then((r) => r.jobs.length),
      ),
    );
    if (busy.every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error('the burst\'s backup jobs did not finish within 5 minutes');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
