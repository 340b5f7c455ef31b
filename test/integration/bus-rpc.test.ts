/**
 * The bus layer against a REAL RabbitMQ and the REAL oslo.messaging 14 client/listener
 * (Debian's python3-oslo.messaging, run with /usr/bin/python3).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusConnection } from '../../src/bus/connection.js';
import { encodeEnvelope, newUniqueId, type RpcRequest } from '../../src/bus/envelope.js';
import { Notifier } from '../../src/bus/notifier.js';
import { busOptions } from '../../src/bus/options.js';
import { RpcServer, type Dispatcher } from '../../src/bus/rpc-server.js';
import { DomainNotFound, InvalidArgument, NoSuchMethod, type VirtDrError } from '../../src/errors.js';
import { RABBIT_URL, SYSTEM_PYTHON, cleanupTopology, ensureRabbit, rabbitmqctl } from '../support/rabbit.js';

const RUN = `${process.pid}_${Date.now().toString(36)}`;
const TOPIC = `virt_dr_test_${RUN}`;
const EXCHANGE = `virt_dr_test_ex_${RUN}`;
const SERVER = 'test-host-1';
const CONN_NAME = `virt-dr-test-${RUN}`;
const CLIENT_PY = fileURLToPath(new URL('../support/oslo/client.py', import.meta.url));
const LISTENER_PY = fileURLToPath(new URL('../support/oslo/listener.py', import.meta.url));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const logger = pino({ level: process.env.BUS_TEST_LOG ?? 'silent' });

// A run-private notification topic too, so parallel runs never share notifications.* queues.
const NOTIFY_TOPIC = `${TOPIC}_notifications`;
const opts = busOptions({ url: RABBIT_URL, exchange: EXCHANGE, topic: TOPIC, server: SERVER, notificationTopics: [NOTIFY_TOPIC] });
const casts: RpcRequest[] = [];
const rejected: Array<{ request: RpcRequest | null; error: VirtDrError }> = [];

let openGate: () => void = () => {};
const gate = new Promise<void>((r) => (openGate = r));

const dispatcher: Dispatcher = async (req) => {
  switch (req.method) {
    case 'ping':
      return { result: Promise.resolve({ host: SERVER, version: '0.1.0', request_id: req.requestId, context: req.context }) };
    case 'slow':
      return { result: sleep(3000).then(() => ({ slept_ms: 3000 })) };
    case 'boom':
      throw new InvalidArgument(`domain ${String(req.args['domain'])} is not acceptable`);
    case 'fail_later':
      return { result: Promise.reject(new DomainNotFound('no such domain: ghost')) };
    case 'hold':
      // Accept only when the test opens the gate: models "job persisted to disk".
      await gate;
      return { result: Promise.resolve({ held: true }) };
    case 'record':
      casts.push(req);
      return { result: Promise.resolve(null) };
    default:
      throw new NoSuchMethod(`Endpoint does not support RPC method ${req.method}`);
  }
};

let connection: BusConnection;
let server: RpcServer;
let notifier: Notifier;
let raw: ChannelModel;

interface Step {
  step: string;
  ok: boolean;
  result?: any;
  error?: { type: string; module: string; str: string; exc_type?: string; value?: string; is_no_such_method: boolean; method?: string };
}

function runClient(steps: string[], timeoutMs = 60_000): Promise<Map<string, Step>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      SYSTEM_PYTHON,
      [CLIENT_PY, '--url', RABBIT_URL, '--exchange', EXCHANGE, '--topic', TOPIC, '--server', SERVER, ...steps],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const results = new Map<string, Step>();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const s = JSON.parse(line) as Step;
        results.set(s.step, s);
      } catch {
        stderr += `(non-JSON stdout) ${line}\n`;
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`client.py timed out; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`client.py exited ${code}; stderr:\n${stderr}`));
      else resolve(results);
    });
  });
}

/** A hand-rolled oslo call over amqplib: for raw-wire checks. */
async function rawCall(inner: Record<string, unknown>, timeoutMs = 10_000): Promise<Record<string, unknown>[]> {
  const ch = await raw.createChannel();
  const replyQ = `reply_${randomUUID().replace(/-/g, '')}`;
  await ch.assertQueue(replyQ, { exclusive: true, autoDelete: true });
  const msgId = randomUUID().replace(/-/g, '');
  const replies: Record<string, unknown>[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('rawCall timed out')), timeoutMs);
    void ch.consume(
      replyQ,
      (m) => {
        if (!m) return;
        const outer = JSON.parse(m.content.toString());
        const body = JSON.parse(outer['oslo.message']);
        replies.push({ ...body, __props: m.properties });
        if (body.ending) {
          clearTimeout(t);
          resolve();
        }
      },
      { noAck: true },
    );
  });
  ch.publish(
    EXCHANGE,
    TOPIC,
    encodeEnvelope({ ...inner, _msg_id: msgId, _reply_q: replyQ, _unique_id: newUniqueId() }),
    { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 },
  );
  try {
    await done;
  } finally {
    await ch.close().catch(() => {});
  }
  return replies;
}

async function rawPublish(body: Buffer | string): Promise<void> {
  const ch = await raw.createConfirmChannel();
  await new Promise<void>((res, rej) =>
    ch.publish(EXCHANGE, TOPIC, Buffer.isBuffer(body) ? body : Buffer.from(body), {}, (err: unknown) => (err ? rej(err) : res())),
  );
  await ch.close();
}

async function waitFor(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  await ensureRabbit();
  raw = await amqp.connect(RABBIT_URL);
  connection = new BusConnection({
    url: RABBIT_URL,
    logger,
    connectionName: CONN_NAME,
    recovery: { initialDelay: 100, maxDelay: 2000 },
  });
  await connection.start();
  server = new RpcServer({
    bus: opts,
    connection,
    dispatcher,
    logger,
    onRejected: (request, error) => {
      rejected.push({ request, error });
    },
  });
  await server.start();
  notifier = new Notifier({ bus: opts, connection, logger });
  await notifier.start();
});

afterAll(async () => {
  const queues = server ? server.queueNames : [];
  await notifier?.stop();
  await server?.stop();
  await connection?.close();
  await raw?.close().catch(() => {});
  const notifyQueues = ['info', 'warn', 'error', 'debug'].map((p) => `${NOTIFY_TOPIC}.${p}`);
  await cleanupTopology([...queues, ...notifyQueues], [
    EXCHANGE,
    `${TOPIC}_fanout`,
  ]);
});

describe('RPC server with the real oslo.messaging 14 client', () => {
  it('answers calls, casts, heartbeats and failures like an oslo server', async () => {
    const r = await runClient(['ping', 'ping_server', 'cast', 'slow', 'boom', 'unknown', 'v1_5', 'v2_0', 'v1_0']);

    const ping = r.get('ping')!;
    expect(ping.ok).toBe(true);
    expect(ping.result.host).toBe(SERVER);
    expect(ping.result.request_id).toBe('req-00000000-0000-0000-0000-000000000001');
    expect(ping.result.context).toMatchObject({ project_id: 'p-1', user: 'u-1' });

    expect(r.get('ping_server')).toMatchObject({ ok: true, result: { host: SERVER } });
    expect(r.get('cast')!.ok).toBe(true);
    await waitFor(() => casts.some((c) => c.args['marker'] === 'cast-1'), 5000, 'the cast');
    const cast = casts.find((c) => c.args['marker'] === 'cast-1')!;
    expect(cast.isCall).toBe(false);
    expect(cast.msgId).toBeNull();

    // slow takes 3 s, call_monitor_timeout is 2 s: only heartbeats keep the call alive.
    expect(r.get('slow')).toMatchObject({ ok: true, result: { slept_ms: 3000 } });

    const boom = r.get('boom')!;
    expect(boom.ok).toBe(false);
    expect(boom.error).toMatchObject({ type: 'RemoteError', exc_type: 'InvalidArgument', value: 'domain x is not acceptable' });

    // NoSuchMethod comes back in oslo's module, so an allowed client rebuilds the real class.
    const unknown = r.get('unknown')!;
    expect(unknown.ok).toBe(false);
    expect(unknown.error!.is_no_such_method).toBe(true);
    expect(unknown.error!.method).toBe('no_such_method_here');

    expect(r.get('v1_5')!.error).toMatchObject({ type: 'RemoteError', exc_type: 'UnsupportedVersion' });
    expect(r.get('v2_0')!.error).toMatchObject({ type: 'RemoteError', exc_type: 'UnsupportedVersion' });
    expect(r.get('v1_0')).toMatchObject({ ok: true, result: { host: SERVER } });
    expect(r.get('_reply_q')!.result).toMatch(/^reply_[0-9a-f]{32}$/);

    const hookMethods = rejected.filter((x) => x.request).map((x) => [x.request!.method, x.error.name]);
    expect(hookMethods).toEqual(
      expect.arrayContaining([
        ['boom', 'InvalidArgument'],
        ['no_such_method_here', 'NoSuchMethod'],
        ['ping', 'UnsupportedVersion'],
      ]),
    );
  });

  it('sends one reply with all five keys and the right properties; heartbeats only with a numeric _timeout', async () => {
    const plain = await rawCall({ method: 'ping', args: {}, _context_request_id: 'req-raw' });
    expect(plain).toHaveLength(1);
    const rep = plain[0]!;
    expect(Object.keys(rep).filter((k) => k !== '__props').sort()).toEqual(['_msg_id', '_unique_id', 'ending', 'failure', 'result']);
    expect(rep).toMatchObject({ failure: null, ending: true, result: { request_id: 'req-raw' } });
    expect(rep['__props']).toMatchObject({ contentType: 'application/json', contentEncoding: 'utf-8' });

    const noTimeout = await rawCall({ method: 'slow', args: {}, _timeout: null });
    expect(noTimeout.map((x) => x['ending'])).toEqual([true]);

    const withTimeout = await rawCall({ method: 'slow', args: {}, _timeout: 1 });
    const beats = withTimeout.filter((x) => x['ending'] === false);
    expect(beats.length).toBeGreaterThanOrEqual(4); // every 0.5 s over 3 s
    for (const b of beats) expect(b).toMatchObject({ result: null, failure: null });
    expect(new Set(withTimeout.map((x) => x['_unique_id'])).size).toBe(withTimeout.length);
    expect(withTimeout.at(-1)).toMatchObject({ ending: true, result: { slept_ms: 3000 } });

    const late = await rawCall({ method: 'fail_later', args: {} });
    const failure = JSON.parse(late[0]!['failure'] as string);
    expect(failure).toMatchObject({ class: 'DomainNotFound', module: 'virt_dr.errors', message: 'no such domain: ghost', kwargs: {} });
    expect(Array.isArray(failure.tb)).toBe(true);
    expect(failure.args).toEqual(['no such domain: ghost']);
  });

  it('acks malformed input, reports it with a null request, and keeps serving', async () => {
    const before = rejected.length;
    await rawPublish('this is not json {');
    await rawPublish('[1, 2, 3]');
    await rawPublish(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{not json' }));
    await rawPublish(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{"args": {}}' }));
    await waitFor(() => rejected.length >= before + 4, 5000, 'four malformed reports');
    const bad = rejected.slice(before);
    for (const b of bad) {
      expect(b.request).toBeNull();
      expect(b.error.name).toBe('MalformedMessage');
    }
    // Nothing left unacked in the queue, and the server still answers.
    const ch = await raw.createChannel();
    const q = await ch.checkQueue(TOPIC);
    await ch.close();
    expect(q.messageCount).toBe(0);
    const r = await runClient(['ping']);
    expect(r.get('ping')!.ok).toBe(true);
  });

  it('answers a malformed call that names a reply queue with a MalformedMessage failure', async () => {
    const reply = await rawCall({ args: {} });
    expect(JSON.parse(reply[0]!['failure'] as string)).toMatchObject({ class: 'MalformedMessage', module: 'virt_dr.errors' });
  });

  it('drops a repeated _unique_id', async () => {
    const uid = newUniqueId();
    const body = encodeEnvelope({ method: 'record', args: { marker: `dup-${uid}` }, _unique_id: uid });
    await rawPublish(body);
    await rawPublish(body);
    await rawPublish(encodeEnvelope({ method: 'record', args: { marker: `dup-${uid}` }, _unique_id: newUniqueId() }));
    await waitFor(() => casts.filter((c) => c.args['marker'] === `dup-${uid}`).length >= 2, 5000, 'casts');
    await sleep(500);
    expect(casts.filter((c) => c.args['marker'] === `dup-${uid}`)).toHaveLength(2);
  });
});

describe('accept-then-ack', () => {
  async function unacked(): Promise<number> {
    const out = await rabbitmqctl('list_queues', 'name', 'messages_unacknowledged', '--quiet');
    const line = out.split('\n').find((l) => l.split('\t')[0] === TOPIC);
    return Number(line?.split('\t')[1] ?? NaN);
  }

  it('acks only once the dispatcher accepted, while other requests keep flowing', async () => {
    const pending = rawCall({ method: 'hold', args: {} }, 20_000);
    let n = NaN;
    for (let i = 0; i < 50 && n !== 1; i++) {
      await sleep(100);
      n = await unacked();
    }
    expect(n).toBe(1);
    // The consumer is not blocked by the held request.
    const pong = await rawCall({ method: 'ping', args: {} });
    expect(pong[0]).toMatchObject({ ending: true, result: { host: SERVER } });
    openGate();
    const replies = await pending;
    expect(replies.at(-1)).toMatchObject({ result: { held: true } });
    expect(await unacked()).toBe(0);
  });
});

describe('Notifier with the real oslo.messaging 14 listener', () => {
  it('publishes notifications an oslo listener receives', async () => {
    const child = spawn(SYSTEM_PYTHON, [LISTENER_PY, '--url', RABBIT_URL, '--exchange', EXCHANGE, '--topic', NOTIFY_TOPIC, '--count', '3', '--timeout', '30'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines: any[] = [];
    let ready = false;
    createInterface({ input: child.stdout }).on('line', (l) => {
      const j = JSON.parse(l);
      if (j.ready) ready = true;
      else lines.push(j);
    });
    const exited = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    try {
      await waitFor(() => ready, 30_000, `listener ready (stderr: ${stderr})`);
      const ctx = { request_id: 'req-n1', project_id: 'p-1', auth_token: 'tok-SECRET', _context_user_password: 'pw' };
      await notifier.notify('virt_dr.backup.start', 'INFO', { job_id: 'j1', domain: 'vm1' }, ctx);
      await notifier.notify('virt_dr.backup.error', 'ERROR', { job_id: 'j1', error: { class: 'X', message: 'y' } }, ctx);
      await notifier.notify('virt_dr.backup.progress', 'WARN', { job_id: 'j1', bytes_done: 5 }, {});
      expect(await exited).toBe(0);
    } finally {
      child.kill();
    }
    expect(lines.map((l) => [l.event_type, l.priority])).toEqual([
      ['virt_dr.backup.start', 'INFO'],
      ['virt_dr.backup.error', 'ERROR'],
      ['virt_dr.backup.progress', 'WARN'],
    ]);
    expect(lines[0].payload).toEqual({ job_id: 'j1', domain: 'vm1' });
    expect(lines[0].publisher_id).toBe(`virt-dr.${SERVER}`);
    // oslo's listener adds client_timeout (unpack_context) itself; no token/password may travel.
    expect(lines[0].ctxt).toMatchObject({ request_id: 'req-n1', project_id: 'p-1' });
    expect(Object.keys(lines[0].ctxt).filter((k) => /token|password|secret/.test(k))).toEqual([]);
    expect(lines[0].metadata.message_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(lines[0].metadata.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  });

  it('declares <topic>.<priority> bound to the exchange so nothing is lost without a listener', async () => {
    await notifier.notify('virt_dr.prune.end', 'DEBUG', { n: 1 }, {});
    const ch = await raw.createChannel();
    const q = await ch.checkQueue(`${NOTIFY_TOPIC}.debug`);
    const m = await ch.get(`${NOTIFY_TOPIC}.debug`, { noAck: true });
    await ch.close();
    expect(q.messageCount).toBeGreaterThanOrEqual(1);
    expect(m).not.toBe(false);
  });
});

describe('resilience', () => {
  it('reconnects and serves again after the broker drops the connection', async () => {
    const out = await rabbitmqctl('list_connections', 'pid', 'client_properties', '--quiet');
    const names = out
      .split('\n')
      .filter((l) => l.includes(CONN_NAME))
      .map((l) => l.split('\t')[0]!.trim())
      .filter(Boolean);
    expect(names.length).toBeGreaterThan(0);
    const disconnected = new Promise<void>((res) => connection.once('disconnect', () => res()));
    for (const n of names) await rabbitmqctl('close_connection', n, 'virt-dr bus reconnect test');
    await disconnected;
    const t0 = Date.now();
    await connection.waitConnected(20_000);
    const r = await runClient(['ping']);
    expect(r.get('ping')).toMatchObject({ ok: true, result: { host: SERVER } });
    expect(Date.now() - t0).toBeLessThan(30_000);
    // The notifier came back too.
    await notifier.notify('virt_dr.verify.end', 'INFO', { ok: true }, {});
  });
});
