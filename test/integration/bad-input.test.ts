/**
 * Hostile and broken requests against the REAL agent (built dist/, child process) on a
 * real RabbitMQ, with one real running TCG guest that has NO guest agent channel.
 *
 * Every refused call must come back as an oslo failure of the right class; every
 * refused cast (and every message nobody can be answered for) must be reported as an
 * ERROR notification. Afterwards the agent still serves, no job exists, and nothing was
 * left on disk: not in the repository, not next to the guest's disk, not in the journal.
 */
import { randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope, newUniqueId } from '../../src/bus/envelope.js';
import { RpcClient, type Notification } from '../../src/bus/rpc-client.js';
import { ERRORS_MODULE, expectRefused } from '../support/refused.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess, waitForEvent } from '../support/agent-process.js';
import { domainState, type TestGuest } from '../support/guest.js';
import { RawBus } from '../support/raw-bus.js';
import { RABBIT_URL, cleanupTopology } from '../support/rabbit.js';

const GUEST = 'vdr-badinput';
const MISSING = 'vdr-badinput-no-such-domain';
// A notification topic of its own, so its error reports pile up in no shared queue.
const NOTIFY_TOPIC = 'virt_dr_test_badinput_notifications';
const agent = new AgentProcess('badinput', '/var/lib/virt-dr-test/badinput', { VIRT_DR_BUS_NOTIFICATION_TOPICS: NOTIFY_TOPIC });
const NOTIFY_QUEUES = ['debug', 'info', 'warn', 'error'].map((p) => `${NOTIFY_TOPIC}.${p}`);
/** The agent's queues: T, T.S and every T_fanout_<uuid> an earlier start left behind. */
const PUBLISHER = `virt-dr.${agent.host}`;
const DISPATCHER_MODULE = 'oslo_messaging.rpc.dispatcher';

let guest: TestGuest;
let client: RpcClient;
let watcher: RpcClient;
/** Every notification on the (shared) test exchange since start; filter by publisher. */
let events: Notification[];
let raw: RawBus;

type Event = Notification & Record<string, unknown>;
const mine = () => (events as Event[]).filter((e) => e.publisher_id === PUBLISHER);
const errorPayload = (e: Notification) => e.payload as { method: string | null; domain: string | null; error: { class: string; message: string } };

/** Calls and expects a failure reply; returns it for further checks. */
const refused = (method: string, args: Record<string, unknown>, cls: string, module = ERRORS_MODULE) =>
  expectRefused(client, method, args, cls, { module });

/** Waits for the next `virt_dr.request.error` about a message that could not be parsed. */
async function nextMalformedReport(before: number): Promise<Event> {
  const pick = () => mine().filter((e) => e.event_type === 'virt_dr.request.error' && errorPayload(e).error.class === 'MalformedMessage');
  const deadline = Date.now() + 15_000;
  while (pick().length <= before) {
    if (Date.now() > deadline) throw new Error(`no MalformedMessage report; saw ${mine().map((e) => e.event_type).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(pick()).toHaveLength(before + 1);
  return pick()[before]!;
}
const malformedCount = () => mine().filter((e) => e.event_type === 'virt_dr.request.error' && errorPayload(e).error.class === 'MalformedMessage').length;

/** Casts from a client of its own, so its request_id names this one cast; returns its report. */
async function castReport(method: string, args: Record<string, unknown>, eventType: string): Promise<Event> {
  const caster = await agent.client();
  try {
    caster.cast(method, args);
    const ev = (await waitForEvent(events, (e) => e.publisher_id === PUBLISHER && (e as Event)['_context_request_id'] === caster.requestId, 20_000)) as Event;
    expect(ev.event_type).toBe(eventType);
    expect(ev.priority).toBe('ERROR');
    expect(errorPayload(ev).method).toBe(method);
    return ev;
  } finally {
    await caster.close();
  }
}

describe('bad input against the real agent', () => {
  beforeAll(async () => {
    await cleanupTopology(NOTIFY_QUEUES, []);
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, withAgent: false, dataDiskMiB: 32 }));
    raw = await RawBus.connect(agent.exchange, agent.topic);
    watcher = await RpcClient.connect({ url: RABBIT_URL, exchange: agent.exchange, topic: agent.topic, notificationTopic: NOTIFY_TOPIC });
    const seen: Notification[] = [];
    await watcher.watchNotifications((n) => seen.push(n));
    events = seen;
  });

  afterAll(async () => {
    await watcher?.close();
    await raw?.close();
    await stopGuestAndAgent(agent, GUEST, client);
    await cleanupTopology(NOTIFY_QUEUES, []);
  });

  it('runs the guest without a guest agent channel', async () => {
    expect(guest.withAgent).toBe(false);
    expect(guest.xml).not.toContain('org.qemu.guest_agent.0');
    expect(await domainState(GUEST)).toBe('running');
  });

  it('reports unparsable messages as virt_dr.request.error MalformedMessage', async () => {
    const bodies: [string, Buffer][] = [
      ['not JSON', Buffer.from('this is not json {')],
      ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x7b, 0x80])],
      ['empty body', Buffer.alloc(0)],
      ['a JSON array', Buffer.from('[1, 2, 3]')],
      ['a JSON string', Buffer.from('"ping"')],
      ['oslo.message not JSON', Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{not json' }))],
      ['oslo.message not a string', Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': { method: 'ping' } }))],
      ['oslo.message JSON null', Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': 'null' }))],
      ['envelope 3.0', Buffer.from(JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{"method":"ping"}' }))],
      ['no method', encodeEnvelope({ args: {}, _unique_id: newUniqueId() })],
      ['method not a string', encodeEnvelope({ method: 42, args: {} })],
      ['args not an object', encodeEnvelope({ method: 'ping', args: ['x'] })],
      // A call without a reply queue cannot be answered: reported only.
      ['_msg_id without _reply_q', encodeEnvelope({ method: 'ping', args: {}, _msg_id: 'abc' })],
    ];
    for (const [what, body] of bodies) {
      const before = malformedCount();
      await raw.publish(body);
      const ev = await nextMalformedReport(before);
      expect(ev.priority, what).toBe('ERROR');
      expect(errorPayload(ev), what).toMatchObject({ method: null, domain: null, error: { class: 'MalformedMessage' } });
      expect(errorPayload(ev).error.message.length, what).toBeGreaterThan(0);
    }
  });

  it('answers a malformed call that still names its reply queue, and reports it', async () => {
    const cases: [string, (q: string, id: string) => Buffer][] = [
      ['no method', (q, id) => encodeEnvelope({ args: {}, _msg_id: id, _reply_q: q, _context_request_id: 'req-salvage-1' })],
      ['args a string', (q, id) => encodeEnvelope({ method: 'backup', args: 'vdr-badinput', _msg_id: id, _reply_q: q, _context_request_id: 'req-salvage-2' })],
      ['bare dict, _unique_id a number', (q, id) => Buffer.from(JSON.stringify({ method: 'ping', args: {}, _unique_id: 7, _msg_id: id, _reply_q: q, _context_request_id: 'req-salvage-3' }))],
    ];
    for (const [what, build] of cases) {
      const before = malformedCount();
      const reply = (await raw.call(build)).final;
      expect(reply, what).toMatchObject({ result: null, ending: true });
      const failure = JSON.parse(reply['failure'] as string) as Record<string, unknown>;
      expect(failure, what).toMatchObject({ class: 'MalformedMessage', module: ERRORS_MODULE, kwargs: {} });
      expect(Array.isArray(failure['tb'])).toBe(true);
      const ev = await nextMalformedReport(before);
      expect(errorPayload(ev).method, what).toBeNull();
    }
    // The context salvaged with the reply target travels with the report.
    const salvaged = mine().filter((e) => typeof e['_context_request_id'] === 'string' && String(e['_context_request_id']).startsWith('req-salvage-'));
    expect(salvaged.map((e) => e['_context_request_id']).sort()).toEqual(['req-salvage-1', 'req-salvage-2', 'req-salvage-3']);
  });

  it('refuses missing, ill-typed and unexpected arguments with InvalidArgument', async () => {
    const missing = await refused('backup', {}, 'InvalidArgument');
    expect(missing.message).toMatch(/domain/);
    for (const args of [
      { domain: 5 },
      { domain: '' },
      { domain: null },
      { domain: GUEST, wait: 'yes' },
      { domain: GUEST, wait: 1 },
      { domain: GUEST, exclude_disks: 'vda' },
      { domain: GUEST, exclude_disks: [1] },
      { domain: GUEST, mode: 'weekly' },
      { domain: GUEST, quiesce: 'freeze' },
      { domain: GUEST, kind: 'hourly' },
      { domain: GUEST, mode: 'full', bogus: true },
      { domain: GUEST, Domain: GUEST },
      // An own "__proto__" key, as JSON.parse makes it from the wire.
      JSON.parse(`{"domain": "${GUEST}", "__proto__": {"wait": true}}`) as Record<string, unknown>,
    ] as Record<string, unknown>[]) {
      const e = await refused('backup', args, 'InvalidArgument');
      expect(e.message).toMatch(/backup\(\)/);
    }
    const unexpected = await refused('backup', { domain: GUEST, bogus: true }, 'InvalidArgument');
    expect(unexpected.message).toContain('bogus');
    await refused('ping', { verbose: true }, 'InvalidArgument');
    await refused('list_jobs', { state: 'exploded' }, 'InvalidArgument');
    await refused('get_job', {}, 'InvalidArgument');
    await refused('get_job', { job_id: '../../etc/passwd' }, 'InvalidArgument');
    await refused('get_job', { job_id: randomUUID() }, 'JobNotFound');
    await refused('get_backup', { domain: GUEST, backup_id: '../x' }, 'InvalidArgument');
    await refused('list_backups', { domain: ['x'] }, 'InvalidArgument');
  });

  it('answers an unknown method with oslo NoSuchMethod', async () => {
    for (const method of ['frobnicate', 'restore_everything', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const e = await refused(method, {}, 'NoSuchMethod', DISPATCHER_MODULE);
      expect(e.message).toContain(method);
    }
  });

  it('refuses an API version it does not implement', async () => {
    for (const version of ['2.0', '1.9', 'banana']) {
      const { final: reply } = await raw.call((q, id) => encodeEnvelope({ method: 'ping', args: {}, version, _msg_id: id, _reply_q: q, _unique_id: newUniqueId() }));
      expect(JSON.parse(reply['failure'] as string)).toMatchObject({ class: 'UnsupportedVersion', module: ERRORS_MODULE });
    }
  });

  it('answers an unknown domain with DomainNotFound', async () => {
    await refused('backup', { domain: MISSING }, 'DomainNotFound');
    await refused('backup', { domain: randomUUID() }, 'DomainNotFound');
    await refused('list_backups', { domain: MISSING }, 'DomainNotFound');
  });

  it('refuses path-like and hostile domain names with InvalidArgument', async () => {
    for (const domain of ['../etc/passwd', '../../x', '/etc/passwd', 'a/b', '..', `${GUEST}\u0000x`, 'x\ny', 'a'.repeat(300)]) {
      const e = await refused('backup', { domain }, 'InvalidArgument');
      expect(e.message.length).toBeLessThan(300);
      await refused('list_backups', { domain }, 'InvalidArgument');
      await refused('get_backup', { domain, backup_id: '20240101T000000Z-abcdef' }, 'InvalidArgument');
    }
  });

  it('refuses quiesce=agent on a domain without a guest agent with GuestAgentUnavailable', async () => {
    const e = await refused('backup', { domain: GUEST, quiesce: 'agent' }, 'GuestAgentUnavailable');
    expect(e.message).toContain(GUEST);
    await refused('backup', { domain: guest.uuid, quiesce: 'agent', wait: true }, 'GuestAgentUnavailable');
    // A refused backup call is also reported as virt_dr.backup.error, under its request_id.
    const ev = await waitForEvent(
      events,
      (n) => n.publisher_id === PUBLISHER && n.event_type === 'virt_dr.backup.error' && errorPayload(n).error.class === 'GuestAgentUnavailable',
      20_000,
    );
    expect((ev as Event)['_context_request_id']).toBe(client.requestId);
    expect(errorPayload(ev)).toMatchObject({ method: 'backup', domain: GUEST });
  });

  it('reports the same bad inputs sent as casts as error notifications', async () => {
    const badArgs = await castReport('backup', { domain: GUEST, wait: 'yes' }, 'virt_dr.backup.error');
    expect(errorPayload(badArgs)).toMatchObject({ domain: GUEST, error: { class: 'InvalidArgument' } });
    const missing = await castReport('backup', {}, 'virt_dr.backup.error');
    expect(errorPayload(missing)).toMatchObject({ domain: null, error: { class: 'InvalidArgument' } });
    const typed = await castReport('backup', { domain: 5 }, 'virt_dr.backup.error');
    expect(errorPayload(typed)).toMatchObject({ domain: null, error: { class: 'InvalidArgument' } });
    const unknownDomain = await castReport('backup', { domain: MISSING }, 'virt_dr.backup.error');
    expect(errorPayload(unknownDomain)).toMatchObject({ domain: MISSING, error: { class: 'DomainNotFound' } });
    const hostile = await castReport('backup', { domain: '../etc/passwd' }, 'virt_dr.backup.error');
    expect(errorPayload(hostile).error.class).toBe('InvalidArgument');
    const noAgent = await castReport('backup', { domain: GUEST, quiesce: 'agent' }, 'virt_dr.backup.error');
    expect(errorPayload(noAgent).error.class).toBe('GuestAgentUnavailable');
    const unknownMethod = await castReport('frobnicate', { domain: GUEST }, 'virt_dr.request.error');
    expect(errorPayload(unknownMethod)).toMatchObject({ domain: GUEST, error: { class: 'NoSuchMethod' } });
    const quick = await castReport('list_backups', { domain: MISSING }, 'virt_dr.request.error');
    expect(errorPayload(quick).error.class).toBe('DomainNotFound');
    const quickArgs = await castReport('ping', { verbose: true }, 'virt_dr.request.error');
    expect(errorPayload(quickArgs).error.class).toBe('InvalidArgument');
    // Notifications carry the caller's context, never a secret.
    for (const ev of [badArgs, unknownDomain, unknownMethod]) {
      expect(ev['_context_user']).toBe('virt-dr-cli');
      expect(Object.keys(ev).filter((k) => /token|password|secret/i.test(k))).toEqual([]);
    }
  });

  it('is still running and serving, created no job and left no files behind', async () => {
    expect(agent.running).toBe(true);
    const pong = await client.call<Record<string, unknown>>('ping', {});
    expect(pong['host']).toBe(agent.host);
    expect(await client.call('list_jobs', {})).toEqual({ jobs: [] });
    // No failed job ever reported: every refusal happened before a job existed.
    expect(mine().filter((e) => e.event_type !== 'virt_dr.request.error' && e.event_type !== 'virt_dr.backup.error')).toEqual([]);
    expect(mine().filter((e) => 'job_id' in e.payload)).toEqual([]);

    // Nothing queued or unacked on the agent's topic.
    expect(await raw.messageCount(agent.topic)).toBe(0);

    // Repository: at most empty per-domain folders.
    for (const entry of await readdir(agent.repoPath)) {
      const p = path.join(agent.repoPath, entry);
      expect((await stat(p)).isDirectory(), p).toBe(true);
      expect(await readdir(p), p).toEqual([]);
    }
    // No overlay next to the guest's disk; the disk chain is untouched.
    const images = await readdir(path.dirname(guest.dataDisk));
    expect(images.filter((f) => f.includes('.virtdr-'))).toEqual([]);
    // The journal holds neither a job nor a temporary file.
    expect(await readdir(path.join(agent.statePath, 'jobs'))).toEqual([]);
    expect(await domainState(GUEST)).toBe('running');
  });
});
