/**
 * RpcServer's reply path on a fake AMQP connection: which publish errors are retried, how
 * often heartbeats go out, what a malformed message leads to. The real broker is in the
 * integration tests; these pin the decisions.
 */
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { busOptions } from '../../src/bus/options.js';
import { encodeEnvelope, unwrapEnvelope } from '../../src/bus/envelope.js';
import type { BusConnection } from '../../src/bus/connection.js';
import { RpcServer, type Dispatcher } from '../../src/bus/rpc-server.js';
import type { VirtDrError } from '../../src/errors.js';
import { createRootLogger } from '../../src/log.js';

const REPLY_Q = `reply_${'0f'.repeat(16)}`;

interface Published {
  routingKey: string;
  body: Record<string, unknown>;
}

/** A broker stand-in: one consumer callback, and a publish that `failPublish` can make throw. */
class FakeBroker {
  consumer: ((msg: ConsumeMessage | null) => void) | null = null;
  published: Published[] = [];
  publishAttempts = 0;
  acks = 0;
  failPublish: (() => Error) | null = null;
  /** How long the broker takes to confirm a publish. */
  confirmDelayMs = 0;

  readonly model = {
    createChannel: async () => ({
      on: () => {},
      assertExchange: async () => ({}),
      assertQueue: async () => ({}),
      bindQueue: async () => ({}),
      prefetch: async () => {},
      consume: async (_q: string, cb: (msg: ConsumeMessage | null) => void) => {
        this.consumer = cb;
        return { consumerTag: `tag-${_q}` };
      },
      ack: () => void this.acks++,
      cancel: async () => {},
      close: async () => {},
    }),
    createConfirmChannel: async () => ({
      on: () => {},
      close: async () => {},
      publish: (_ex: string, routingKey: string, content: Buffer, _props: unknown, cb?: (err: unknown) => void) => {
        this.publishAttempts++;
        const failure = this.failPublish?.();
        if (failure) throw failure;
        this.published.push({ routingKey, body: unwrapEnvelope(content) });
        if (this.confirmDelayMs > 0) setTimeout(() => cb?.(null), this.confirmDelayMs);
        else cb?.(null);
        return true;
      },
    }),
  } as unknown as ChannelModel;

  readonly connection = {
    register: async (_name: string, setup: (m: ChannelModel) => Promise<void>) => {
      await setup(this.model);
      return () => {};
    },
    forceReconnect: () => {},
    waitConnected: async () => {},
  } as unknown as BusConnection;

  deliver(inner: Record<string, unknown> | Buffer): void {
    const content = Buffer.isBuffer(inner) ? inner : encodeEnvelope(inner);
    this.consumer!({ content, fields: { routingKey: 'virt_dr', redelivered: false }, properties: {} } as unknown as ConsumeMessage);
  }
}

async function startServer(broker: FakeBroker, dispatcher: Dispatcher, rejected: VirtDrError[] = []) {
  const lines: string[] = [];
  const logger = createRootLogger('debug', { write: (line: string) => void lines.push(line) });
  const server = new RpcServer({
    bus: busOptions({ url: 'amqp://u:p@h/', exchange: 'openstack', topic: 'virt_dr', server: 'host1' }),
    connection: broker.connection,
    dispatcher,
    logger,
    onRejected: (_request, error) => void rejected.push(error),
    replyRetryMs: 30_000,
  });
  await server.start();
  return { server, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const pingCall = (extra: Record<string, unknown> = {}) => ({ method: 'ping', args: {}, _msg_id: 'm1', _reply_q: REPLY_Q, _unique_id: `u-${Math.random()}`, ...extra });
const answer: Dispatcher = async () => ({ result: Promise.resolve({ pong: true }) });

/** How many heartbeats a call with `_timeout` gets while its result takes `workMs`. */
async function heartbeatsWhileWorking(timeoutSeconds: number, workMs: number): Promise<number> {
  const broker = new FakeBroker();
  const { server } = await startServer(broker, async () => ({ result: sleep(workMs).then(() => ({ done: true })) }));
  broker.deliver(pingCall({ _timeout: timeoutSeconds }));
  await until(() => broker.published.some((p) => p.body['ending'] === true), 'the reply');
  await server.stop();
  return broker.published.filter((p) => p.body['ending'] === false).length;
}

describe('RpcServer replies', () => {
  it('does not retry a reply amqplib cannot encode', async () => {
    const broker = new FakeBroker();
    broker.failPublish = () => new TypeError("Field 'routingKey' is the wrong type; must be a string (up to 255 chars)");
    const { server, lines } = await startServer(broker, answer);
    const started = Date.now();
    broker.deliver(pingCall());
    await until(() => lines.some((l) => l.includes('reply lost')), 'reply lost');
    await sleep(300);
    expect(broker.publishAttempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
    await server.stop();
  });

  it('retries a reply while the channel is closed, then sends it', async () => {
    const broker = new FakeBroker();
    let closedFor = 2;
    broker.failPublish = () => {
      if (closedFor-- <= 0) return null as unknown as Error;
      return Object.assign(new Error('Channel closed'), { name: 'IllegalOperationError' });
    };
    const { server } = await startServer(broker, answer);
    broker.deliver(pingCall());
    await until(() => broker.published.length === 1, 'the reply');
    expect(broker.publishAttempts).toBe(3);
    expect(broker.published[0]!.body).toMatchObject({ result: { pong: true }, ending: true, _msg_id: 'm1' });
    await server.stop();
  });

  it('answers a result that cannot be serialized with a failure at once', async () => {
    const broker = new FakeBroker();
    const { server } = await startServer(broker, async () => ({ result: Promise.resolve({ big: 10n }) }));
    broker.deliver(pingCall());
    await until(() => broker.published.length === 1, 'the reply');
    expect(broker.publishAttempts).toBe(1);
    const failure = JSON.parse(broker.published[0]!.body['failure'] as string) as { class: string; tb: string[] };
    expect(failure.class).toBe('InternalError');
    expect(failure.tb).toHaveLength(1);
    await server.stop();
  });

  it('heartbeats a _timeout of 1e10 at most once a minute, not every millisecond', async () => {
    expect(await heartbeatsWhileWorking(1e10, 300)).toBe(0);
  });

  it('sends no heartbeat after the ending reply, even while the broker is slow to confirm it', async () => {
    const broker = new FakeBroker();
    broker.confirmDelayMs = 900; // a heartbeat tick (every 500 ms) falls inside the confirm
    const { server } = await startServer(broker, async () => ({ result: sleep(100).then(() => ({ done: true })) }));
    broker.deliver(pingCall({ _timeout: 1 }));
    await until(() => broker.published.some((p) => p.body['ending'] === true), 'the reply');
    await sleep(1200);
    await server.stop();
    expect(broker.published.at(-1)!.body).toMatchObject({ ending: true, result: { done: true } });
  });

  it('heartbeats a _timeout of 1 s every 500 ms', async () => {
    const heartbeats = await heartbeatsWhileWorking(1, 1300);
    expect(heartbeats).toBeGreaterThanOrEqual(1);
    expect(heartbeats).toBeLessThanOrEqual(3);
  });

  it('publishes nothing for a call whose reply queue is not of oslo shape, and reports it', async () => {
    const broker = new FakeBroker();
    const rejected: VirtDrError[] = [];
    const { server, lines } = await startServer(broker, answer, rejected);
    broker.deliver(pingCall({ _reply_q: 'virt_dr.other-host' }));
    await until(() => rejected.length === 1, 'the refusal');
    expect(rejected[0]!.name).toBe('MalformedMessage');
    expect(broker.publishAttempts).toBe(0);
    expect(broker.acks).toBe(1);
    expect(lines.some((l) => l.includes('malformed RPC message dropped') && l.includes('_reply_q'))).toBe(true);
    await server.stop();
  });

  it('logs a 10 MB _unique_id message in one short line', async () => {
    const broker = new FakeBroker();
    const rejected: VirtDrError[] = [];
    const { server, lines } = await startServer(broker, answer, rejected);
    broker.deliver(pingCall({ _unique_id: 'u'.repeat(10 * 1024 * 1024) }));
    await until(() => rejected.length === 1, 'the refusal');
    expect(rejected[0]!.message).toMatch(/the limit is 1048576 bytes/);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(1024);
    await server.stop();
  });
});
