/**
 * Oversized and hostile messages against the REAL agent (built dist/, child process) on a
 * real RabbitMQ: 10 MB ids, huge unknown argument names and ids, a 10 MB context value,
 * `_timeout: 1e10`, reply queues that are not oslo's. The agent connects to libvirtd
 * read-only at start; no guest is involved.
 *
 * Afterwards the agent still answers, its log grew by less than 1 MiB with no long line,
 * nothing was published to a queue that is not a reply queue, and its peak RSS (VmHWM)
 * stayed bounded. The figures are printed for the record.
 */
import { readFile, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope, newUniqueId } from '../../src/bus/envelope.js';
import { RemoteError, RpcClient, type Notification } from '../../src/bus/rpc-client.js';
import { AgentProcess } from '../support/agent-process.js';
import { RawBus } from '../support/raw-bus.js';
import { RABBIT_URL, cleanupTopology, ensureRabbit } from '../support/rabbit.js';

const MB = 1024 * 1024;
const NOTIFY_TOPIC = 'virt_dr_test_bus_edge_notifications';
const NOTIFY_QUEUES = ['debug', 'info', 'warn', 'error'].map((p) => `${NOTIFY_TOPIC}.${p}`);
const agent = new AgentProcess('bus-edge', '/var/lib/virt-dr-test/bus-edge', { VIRT_DR_BUS_NOTIFICATION_TOPICS: NOTIFY_TOPIC });
const PUBLISHER = `virt-dr.${agent.host}`;
/** A queue of ours whose name is not of the reply shape: nothing may ever land in it. */
const NOT_A_REPLY_QUEUE = `bus_edge_not_a_reply_queue_${randomUUID().replace(/-/g, '')}`;

let bus: RawBus;
let client: RpcClient;
let watcher: RpcClient;
let events: Notification[];
let logBytesAtStart: number;
let peakKiBAtStart: number;

type Event = Notification & Record<string, unknown>;
const refusals = () =>
  (events as Event[]).filter((e) => e.publisher_id === PUBLISHER && e.event_type === 'virt_dr.request.error');
const errorOf = (e: Notification) => (e.payload as { error: { class: string; message: string } }).error;

async function procStatusKiB(field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${agent.child!.pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${agent.child!.pid}/status`);
  return Number(m[1]);
}

async function waitForRefusals(count: number, timeoutMs = 60_000): Promise<Event[]> {
  const deadline = Date.now() + timeoutMs;
  while (refusals().length < count) {
    if (Date.now() > deadline) throw new Error(`${refusals().length} of ${count} refusals reported in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return refusals();
}

/** Calls and expects a failure reply of class `cls`; returns its message. */
async function refusedMessage(method: string, args: Record<string, unknown>, cls: string): Promise<string> {
  try {
    await client.call(method, args, { timeoutMs: 30_000 });
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    expect(err.remoteClass, err.message.slice(0, 200)).toBe(cls);
    return err.message;
  }
  throw new Error(`${method} was accepted`);
}

describe('oversized messages against the real agent', () => {
  beforeAll(async () => {
    await ensureRabbit();
    await cleanupTopology([...NOTIFY_QUEUES, NOT_A_REPLY_QUEUE], []);
    await agent.reset();
    await agent.start();
    client = await agent.client();
    bus = await RawBus.connect(agent.exchange, agent.topic);
    watcher = await RpcClient.connect({ url: RABBIT_URL, exchange: agent.exchange, topic: agent.topic, notificationTopic: NOTIFY_TOPIC });
    const seen: Notification[] = [];
    await watcher.watchNotifications((n) => seen.push(n));
    events = seen;
    logBytesAtStart = (await stat(agent.logPath)).size;
    peakKiBAtStart = await procStatusKiB('VmHWM');
  });

  afterAll(async () => {
    await watcher?.close();
    await client?.close();
    await bus?.close();
    await agent.stop();
    await agent.discard();
    await cleanupTopology([...NOTIFY_QUEUES, NOT_A_REPLY_QUEUE], []);
  });

  it('drops 20 messages with a 10 MB _unique_id unparsed, and reports each', async () => {
    const before = refusals().length;
    for (let i = 0; i < 20; i++) {
      await bus.publish(encodeEnvelope({ method: 'ping', args: {}, _unique_id: `${i}`.padEnd(10 * MB, 'u') }));
    }
    const reported = (await waitForRefusals(before + 20)).slice(before);
    for (const ev of reported) {
      expect(errorOf(ev).class).toBe('MalformedMessage');
      expect(errorOf(ev).message).toMatch(/1048576/);
    }
  });

  it('refuses 30 huge unknown argument names and ids with short messages that name the limit', async () => {
    const refused: [string, RegExp][] = [];
    for (let i = 0; i < 10; i++) {
      const name = `unknown_${i}_`.padEnd(900_000, 'n');
      refused.push([await refusedMessage('backup', { domain: 'vdr-bus-edge-none', [name]: true }, 'InvalidArgument'), new RegExp(`unknown_${i}_`)]);
    }
    for (let i = 0; i < 10; i++) {
      refused.push([await refusedMessage('get_job', { job_id: `${i}`.padEnd(900_000, 'j') }, 'InvalidArgument'), /job_id.*1024/]);
    }
    for (let i = 0; i < 10; i++) {
      const args = { domain: 'vdr-bus-edge-none', backup_id: `${i}`.padEnd(900_000, 'b') };
      refused.push([await refusedMessage('get_backup', args, 'InvalidArgument'), /backup_id.*1024/]);
    }
    for (const [message, names] of refused) {
      expect(message.length).toBeLessThan(1024);
      expect(message).toMatch(names);
    }
  });

  it('keeps large and non-scalar _context_* values out of notifications', async () => {
    const before = refusals().length;
    await bus.publish(encodeEnvelope({ method: 'ping', args: {}, _unique_id: newUniqueId(), _context_x: 'x'.repeat(10 * MB) }));
    await bus.publish(
      encodeEnvelope({
        method: 'frobnicate',
        args: {},
        _unique_id: newUniqueId(),
        _context_request_id: 'req-bus-edge-context',
        _context_x: 'x'.repeat(60_000),
        _context_roles: ['admin', 'member'],
        _context_user: 'bus-edge',
      }),
    );
    const reported = (await waitForRefusals(before + 2)).slice(before);
    const oversized = reported.find((e) => errorOf(e).class === 'MalformedMessage');
    const unknownMethod = reported.find((e) => errorOf(e).class === 'NoSuchMethod');
    expect(oversized, 'the 10 MB context is refused').toBeDefined();
    expect(Object.keys(oversized!).filter((k) => k.startsWith('_context_'))).toEqual([]);
    expect(unknownMethod, 'the unknown method is reported').toBeDefined();
    expect(unknownMethod!['_context_request_id']).toBe('req-bus-edge-context');
    expect(unknownMethod!['_context_user']).toBe('bus-edge');
    expect(unknownMethod!['_context_x']).toBeUndefined();
    expect(unknownMethod!['_context_roles']).toBeUndefined();
  });

  it('clamps _timeout: 1e10 instead of heartbeating every millisecond', async () => {
    const { heartbeats, final } = await bus.call(
      (q, id) => encodeEnvelope({ method: 'ping', args: {}, _msg_id: id, _reply_q: q, _unique_id: newUniqueId(), _timeout: 1e10 }),
      { lingerMs: 2000 },
    );
    expect(final['failure']).toBeNull();
    expect(heartbeats).toBeLessThanOrEqual(1);
    expect(await readFile(agent.logPath, 'utf8')).not.toContain('TimeoutOverflowWarning');
  });

  it('publishes nothing to a reply queue that is not of the shape reply_<32 hex>', async () => {
    await bus.declareQueue(NOT_A_REPLY_QUEUE);
    const before = refusals().length;
    const call = (replyQ: string) => encodeEnvelope({ method: 'ping', args: {}, _msg_id: newUniqueId(), _reply_q: replyQ, _unique_id: newUniqueId() });
    await bus.publish(call(NOT_A_REPLY_QUEUE));
    await bus.publish(call(`reply_${'f'.repeat(300)}`));
    const reported = (await waitForRefusals(before + 2)).slice(before);
    for (const ev of reported) {
      expect(errorOf(ev)).toMatchObject({ class: 'MalformedMessage' });
      expect(errorOf(ev).message).toContain('_reply_q');
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(await bus.messageCount(NOT_A_REPLY_QUEUE)).toBe(0);
  });

  it('still answers, with a small log and a bounded peak RSS', async () => {
    const started = Date.now();
    const pong = await client.call<Record<string, unknown>>('ping', {}, { timeoutMs: 10_000 });
    expect(pong['host']).toBe(agent.host);
    expect(agent.running).toBe(true);
    const logGrowth = (await stat(agent.logPath)).size - logBytesAtStart;
    const peakKiB = await procStatusKiB('VmHWM');
    const rssKiB = await procStatusKiB('VmRSS');
    const longest = Math.max(...(await readFile(agent.logPath, 'utf8')).split('\n').map((l) => l.length));
    console.log(
      `bus-edge figures: ping ${Date.now() - started} ms; log grew ${logGrowth} bytes (longest line ${longest} chars); ` +
        `VmHWM ${peakKiBAtStart} -> ${peakKiB} KiB; VmRSS now ${rssKiB} KiB`,
    );
    expect(logGrowth).toBeLessThan(MB);
    expect(longest).toBeLessThan(8192);
    // Each 10 MB body still arrives whole before it can be refused; ~100 MiB of peak growth
    // was measured after the fix, over 600 MiB before it.
    expect(peakKiB).toBeLessThan(peakKiBAtStart + 200 * 1024);
  });
});
