import { describe, expect, it } from 'vitest';
import {
  encodeEnvelope,
  failureOf,
  notificationMessage,
  osloTimestamp,
  parseRequest,
  replyMessage,
  readRequest,
  safeVersionIsCompatible,
  unwrapEnvelope,
} from '../../src/bus/envelope.js';
import { sanitizeContext } from '../../src/bus/context.js';
import { RecentIds } from '../../src/bus/rpc-server.js';
import { DomainNotFound, MalformedMessage, NoSuchMethod, UnsupportedVersion } from '../../src/errors.js';

const REPLY_Q = `reply_${'0123456789abcdef'.repeat(2)}`;
const inner = {
  method: 'backup',
  args: { domain: 'vm1', mode: 'full' },
  version: '1.0',
  namespace: null,
  _unique_id: 'u1',
  _msg_id: 'm1',
  _reply_q: REPLY_Q,
  _timeout: 60,
  _context_request_id: 'req-1',
  _context_project_id: 'p1',
  _context_user: 'alice',
};
const wire = (o: object) => Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(o) }));

describe('parseRequest', () => {
  it('parses a 2.0 envelope call', () => {
    const r = parseRequest(wire(inner));
    expect(r).toEqual({
      method: 'backup',
      args: { domain: 'vm1', mode: 'full' },
      version: '1.0',
      namespace: null,
      context: { request_id: 'req-1', project_id: 'p1', user: 'alice' },
      requestId: 'req-1',
      uniqueId: 'u1',
      msgId: 'm1',
      replyQueue: REPLY_Q,
      timeoutSeconds: 60,
      isCall: true,
    });
  });

  it('accepts a bare inner dict, defaults version 1.0 and args {}', () => {
    const r = parseRequest(JSON.stringify({ method: 'ping', _unique_id: 'x' }));
    expect(r).toMatchObject({ method: 'ping', args: {}, version: '1.0', isCall: false, msgId: null, timeoutSeconds: null, requestId: null });
  });

  it('cast = no _msg_id; _timeout null/non-number means no heartbeat', () => {
    expect(parseRequest(wire({ method: 'ping' })).isCall).toBe(false);
    expect(parseRequest(wire({ ...inner, _timeout: null })).timeoutSeconds).toBeNull();
    expect(parseRequest(wire({ ...inner, _timeout: '30' })).timeoutSeconds).toBeNull();
    expect(parseRequest(wire({ ...inner, _timeout: 0.5 })).timeoutSeconds).toBe(0.5);
  });

  it.each([
    ['not JSON', Buffer.from('nope{')],
    ['JSON array', Buffer.from('[1]')],
    ['JSON null', Buffer.from('null')],
    ['oslo.message not JSON', Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{x' }))],
    ['oslo.message not a string', Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': { method: 'x' } }))],
    ['envelope 3.0', Buffer.from(JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{"method":"ping"}' }))],
    ['no method', wire({ args: {} })],
    ['method not a string', wire({ method: 5 })],
    ['args an array', wire({ method: 'ping', args: [] })],
    ['call without _reply_q', wire({ method: 'ping', _msg_id: 'm' })],
  ])('throws MalformedMessage for %s', (_name, body) => {
    expect(() => parseRequest(body)).toThrow(MalformedMessage);
  });

  it('salvages the reply target, context and request_id of a malformed call', () => {
    expect(readRequest(wire({ args: [], _msg_id: 'm', _reply_q: REPLY_Q, _context_request_id: 'q' }))).toEqual({
      ok: false,
      error: expect.any(MalformedMessage),
      salvaged: { replyTarget: { msgId: 'm', replyQueue: REPLY_Q }, context: { request_id: 'q' }, requestId: 'q' },
    });
    expect(readRequest('garbage')).toEqual({
      ok: false,
      error: expect.any(MalformedMessage),
      salvaged: { replyTarget: null, context: {}, requestId: null },
    });
    expect(readRequest(wire(inner))).toEqual({ ok: true, request: parseRequest(wire(inner)) });
  });

  it('round-trips the envelope; oslo.message is a JSON string', () => {
    const body = JSON.parse(encodeEnvelope({ a: 1 }).toString());
    expect(body['oslo.version']).toBe('2.0');
    expect(typeof body['oslo.message']).toBe('string');
    expect(unwrapEnvelope(encodeEnvelope({ a: 1 }))).toEqual({ a: 1 });
  });
});

describe('version check (oslo version_is_compatible)', () => {
  it.each([
    ['1.0', '1.0', true],
    ['1.0', '1.5', false],
    ['1.0', '2.0', false],
    ['1.0', '0.9', false],
    ['1.3', '1.2', true],
    ['1.3', '1.3.1', false],
    ['1.3.2', '1.3.1', true],
    ['1.0', 'abc', false],
    ['1.0', '1', false],
  ])('ours %s, requested %s -> %s', (ours, req, ok) => {
    expect(safeVersionIsCompatible(ours, req)).toBe(ok);
  });
});

describe('replies and failures', () => {
  it('a reply has all five keys, result or failure', () => {
    const r = replyMessage({ msgId: 'm1', result: { job_id: 'j' }, ending: true });
    expect(Object.keys(r).sort()).toEqual(['_msg_id', '_unique_id', 'ending', 'failure', 'result']);
    expect(r).toMatchObject({ result: { job_id: 'j' }, failure: null, ending: true, _msg_id: 'm1' });
    expect(r['_unique_id']).toMatch(/^[0-9a-f]{32}$/);
    expect(replyMessage({ msgId: 'm1', ending: true })['result']).toBeNull();
    const hb = replyMessage({ msgId: 'm1', ending: false });
    expect(hb).toMatchObject({ result: null, failure: null, ending: false });
    expect(hb['_unique_id']).not.toBe(replyMessage({ msgId: 'm1', ending: false })['_unique_id']);
  });

  it('encodes our errors in virt_dr.errors with a one-line tb and no stack', () => {
    const f = failureOf(new DomainNotFound('no such domain: vm9'));
    expect(f).toMatchObject({ class: 'DomainNotFound', module: 'virt_dr.errors', message: 'no such domain: vm9', args: ['no such domain: vm9'], kwargs: {} });
    expect(f.tb).toEqual(['virt_dr.errors.DomainNotFound: no such domain: vm9\n']);
    expect(JSON.stringify(f)).not.toMatch(/\/src\/|\.ts:|\.js:|node_modules|    at /);
    expect(failureOf(new UnsupportedVersion('v')).class).toBe('UnsupportedVersion');
    const r = replyMessage({ msgId: 'm', failure: f, ending: true, result: 'ignored' });
    expect(r['result']).toBeNull();
    expect(JSON.parse(r['failure'] as string)).toEqual(f);
  });

  it('encodes NoSuchMethod in oslo_messaging.rpc.dispatcher with args [method]', () => {
    const f = failureOf(new NoSuchMethod('Endpoint does not support RPC method frob'), 'frob');
    expect(f).toMatchObject({ class: 'NoSuchMethod', module: 'oslo_messaging.rpc.dispatcher', args: ['frob'] });
  });
});

describe('notifications', () => {
  it('formats timestamps like str(timeutils.utcnow())', () => {
    expect(osloTimestamp(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 67)))).toBe('2024-01-02 03:04:05.067000');
    expect(osloTimestamp()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  });

  it('drops token/password/secret context keys', () => {
    expect(
      sanitizeContext({ request_id: 'r', auth_token: 't', _context_user_password: 'p', Secret_Key: 's', _context_project_id: 'p1' }),
    ).toEqual({ request_id: 'r', project_id: 'p1' });
  });

  it('builds the oslo notification dict', () => {
    const now = new Date(Date.UTC(2024, 5, 1, 12, 0, 0, 1));
    const m = notificationMessage({
      publisherId: 'virt-dr.host1',
      eventType: 'virt_dr.backup.end',
      priority: 'INFO',
      payload: { job_id: 'j' },
      context: { request_id: 'req-1', auth_token: 'x' },
      now,
    });
    expect(m).toMatchObject({
      publisher_id: 'virt-dr.host1',
      event_type: 'virt_dr.backup.end',
      priority: 'INFO',
      payload: { job_id: 'j' },
      timestamp: '2024-06-01 12:00:00.001000',
      _context_request_id: 'req-1',
    });
    expect(m['message_id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(m['_unique_id']).toMatch(/^[0-9a-f]{32}$/);
    expect(m).not.toHaveProperty('_context_auth_token');
  });
});

describe('RecentIds (the _unique_id dedupe)', () => {
  it('remembers the last N ids', () => {
    const r = new RecentIds(3);
    expect(r.seen('a')).toBe(false);
    expect(r.seen('a')).toBe(true);
    r.seen('b');
    r.seen('c');
    r.seen('d'); // evicts a
    expect(r.size).toBe(3);
    expect(r.seen('a')).toBe(false);
    expect(r.seen('d')).toBe(true);
  });
});
