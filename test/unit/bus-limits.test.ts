import { describe, expect, it } from 'vitest';
import { KEPT_CONTEXT, sanitizeContext } from '../../src/bus/context.js';
import { encodeEnvelope, failureOf, parseRequest, readRequest } from '../../src/bus/envelope.js';
import { HEARTBEAT_MS, REQUEST_LIMITS, checkJsonNesting, heartbeatIntervalMs } from '../../src/bus/limits.js';
import { InternalError, MalformedMessage } from '../../src/errors.js';
import { clip, quote } from '../../src/util/clip.js';

const REPLY_Q = `reply_${'a1'.repeat(16)}`;
const call = { method: 'ping', args: {}, _msg_id: 'm1', _reply_q: REPLY_Q, _unique_id: 'u1', _context_request_id: 'req-1' };

function refusal(body: Buffer | string): MalformedMessage {
  try {
    parseRequest(body);
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedMessage);
    return err as MalformedMessage;
  }
  throw new Error('parsed');
}

/** `[[[...]]]` nested `depth` levels (the outermost list is level 1), as text. */
const nestedText = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const nested = (depth: number): unknown => JSON.parse(nestedText(depth));

describe('the message size limit', () => {
  it('refuses a body over 1 MiB before parsing it, naming the limit', () => {
    // Not JSON at all: the size is what it is refused for, so it was never parsed.
    const e = refusal(Buffer.alloc(REQUEST_LIMITS.messageBytes + 1, 0x7b));
    expect(e.message).toBe(`message is ${REQUEST_LIMITS.messageBytes + 1} bytes; the limit is 1048576 bytes`);
  });

  it('accepts a request of exactly 1 MiB', () => {
    const body = encodeEnvelope({ ...call, args: { pad: '' } });
    const padded = encodeEnvelope({ ...call, args: { pad: 'p'.repeat(REQUEST_LIMITS.messageBytes - body.length) } });
    expect(padded.length).toBe(REQUEST_LIMITS.messageBytes);
    expect(parseRequest(padded).method).toBe('ping');
  });

  it('counts bytes, not characters', () => {
    const chars = Math.floor(REQUEST_LIMITS.messageBytes / 3);
    expect(refusal(JSON.stringify({ method: 'ping', args: { x: '€'.repeat(chars) } })).message).toMatch(/bytes; the limit is 1048576/);
  });
});

describe('the nesting limit', () => {
  it('accepts 32 levels and refuses 33', () => {
    expect(() => checkJsonNesting(nestedText(32))).not.toThrow();
    expect(() => checkJsonNesting(nestedText(33))).toThrow(/deeper than 32 levels/);
    expect(() => checkJsonNesting(`{"a":${nestedText(31)}}`)).not.toThrow();
    expect(() => checkJsonNesting(`{"a":${nestedText(32)}}`)).toThrow(MalformedMessage);
    // The request dict is level 1: args at level 2 may hold 30 more.
    expect(parseRequest(encodeEnvelope({ ...call, args: { x: nested(30) } })).method).toBe('ping');
    expect(refusal(encodeEnvelope({ ...call, args: { x: nested(31) } })).message).toMatch(/deeper than 32 levels/);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(() => checkJsonNesting(JSON.stringify({ a: nestedText(100), b: `\\"${'{'.repeat(100)}`, c: '\\' }))).not.toThrow();
    // The envelope's oslo.message is a string: its own nesting is checked when it is parsed.
    expect(refusal(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify({ method: 'ping', args: { x: nested(31) } }) })).message).toMatch(
      /deeper than 32 levels/,
    );
  });

  it('refuses half a million levels before parsing them', () => {
    const depth = 500_000;
    const body = `{"method":"ping","args":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    expect(refusal(body).message).toMatch(/deeper than 32 levels/);
  });
});

describe('field limits', () => {
  it.each([
    ['_unique_id', REQUEST_LIMITS.idChars],
    ['_msg_id', REQUEST_LIMITS.idChars],
    ['method', REQUEST_LIMITS.nameChars],
    ['namespace', REQUEST_LIMITS.nameChars],
    ['version', REQUEST_LIMITS.versionChars],
  ])('%s: %i characters pass, one more is refused with the field and the limit', (field, limit) => {
    const at = field === 'version' ? `1.${'0'.repeat(limit - 2)}` : 'x'.repeat(limit);
    expect(() => parseRequest(encodeEnvelope({ ...call, [field]: at }))).not.toThrow();
    expect(refusal(encodeEnvelope({ ...call, [field]: `${at}x` })).message).toBe(`${field} is ${limit + 1} characters long; the limit is ${limit}`);
  });

  it('a 10 MB _unique_id is refused by the size limit, its message short', () => {
    const e = refusal(encodeEnvelope({ ...call, _unique_id: 'u'.repeat(10 * 1024 * 1024) }));
    expect(e.message.length).toBeLessThan(100);
  });

  it('_context_request_id is an id; other context values are bounded as JSON', () => {
    expect(refusal(encodeEnvelope({ ...call, _context_request_id: 'r'.repeat(129) })).message).toBe(
      '_context_request_id is 129 characters long; the limit is 128',
    );
    const big = 'x'.repeat(REQUEST_LIMITS.contextValueChars - 2);
    expect(parseRequest(encodeEnvelope({ ...call, _context_x: big })).context['x']).toBe(big);
    expect(refusal(encodeEnvelope({ ...call, _context_x: `${big}x` })).message).toBe(
      `_context_x is ${REQUEST_LIMITS.contextValueChars + 1} characters as JSON; the limit is ${REQUEST_LIMITS.contextValueChars}`,
    );
    expect(refusal(encodeEnvelope({ ...call, _context_x: [big, 'y'] })).message).toMatch(/^_context_x is \d+ characters as JSON/);
    expect(refusal(encodeEnvelope({ ...call, [`_context_${'k'.repeat(129)}`]: 1 })).message).toBe(
      'a _context_ key is 129 characters long; the limit is 128',
    );
  });
});

describe('reply queues', () => {
  it.each([
    ['no prefix', 'a1'.repeat(16)],
    ['too short', 'reply_abc'],
    ['upper-case hex', `reply_${'A1'.repeat(16)}`],
    ['a server-named queue', 'amq.gen-JzTY20BRgKO-HjmUJj0wLg'],
    ['another agent queue', 'virt_dr.host1'],
    ['300 characters', `reply_${'f'.repeat(294)}`],
    ['a trailing newline', `${REPLY_Q}\n`],
  ])('refuses %s and salvages no reply target', (_what, q) => {
    const reading = readRequest(encodeEnvelope({ ...call, _reply_q: q }));
    expect(reading.ok).toBe(false);
    if (reading.ok) return;
    expect(reading.error.message).toMatch(/^_reply_q .* is not an oslo reply queue/);
    expect(reading.error.message.length).toBeLessThan(200);
    expect(reading.salvaged.replyTarget).toBeNull();
    expect(reading.salvaged.requestId).toBe('req-1');
  });

  it('accepts reply_ and 32 lower-case hex digits', () => {
    expect(parseRequest(encodeEnvelope(call)).replyQueue).toBe(REPLY_Q);
  });

  it('salvages no reply target from a call whose _msg_id is too long', () => {
    const reading = readRequest(encodeEnvelope({ ...call, _msg_id: 'm'.repeat(129) }));
    expect(reading.ok ? null : reading.salvaged.replyTarget).toBeNull();
  });

  it('salvages no request_id that is too long to log', () => {
    const reading = readRequest(encodeEnvelope({ ...call, method: 5, _context_request_id: 'r'.repeat(129) }));
    expect(reading.ok ? 'parsed' : reading.salvaged.requestId).toBeNull();
  });
});

describe('heartbeat interval', () => {
  it.each([
    [60, 30_000],
    [1e10, HEARTBEAT_MS.max],
    [Number.MAX_VALUE, HEARTBEAT_MS.max],
    [0.001, HEARTBEAT_MS.min],
    [2, 1000],
  ])('_timeout %d s -> every %i ms', (timeout, ms) => {
    expect(heartbeatIntervalMs(timeout)).toBe(ms);
  });

  it('never leaves what setInterval takes as given (1 ms .. 2^31-1 ms)', () => {
    expect(HEARTBEAT_MS.min).toBeGreaterThanOrEqual(100);
    expect(HEARTBEAT_MS.max).toBeLessThan(2 ** 31 - 1);
  });
});

describe('the context kept for the journal and notifications', () => {
  it('keeps short scalars, drops lists, objects, long strings, long keys and secrets', () => {
    const kept = sanitizeContext({
      request_id: 'req-1',
      is_admin: false,
      read_only: null,
      quota: 3,
      roles: ['admin'],
      service_catalog: [{ type: 'image' }],
      huge: 'x'.repeat(KEPT_CONTEXT.valueChars + 1),
      just_fits: 'y'.repeat(KEPT_CONTEXT.valueChars),
      ['k'.repeat(KEPT_CONTEXT.keyChars + 1)]: 1,
      auth_token: 't',
      not_a_number: Number.NaN,
    });
    expect(kept).toEqual({ request_id: 'req-1', is_admin: false, read_only: null, quota: 3, just_fits: 'y'.repeat(KEPT_CONTEXT.valueChars) });
  });

  it(`keeps at most ${KEPT_CONTEXT.keys} keys, in the request's order`, () => {
    const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i]));
    const kept = sanitizeContext(many);
    expect(Object.keys(kept)).toHaveLength(KEPT_CONTEXT.keys);
    expect(kept['k0']).toBe(0);
    expect(kept[`k${KEPT_CONTEXT.keys}`]).toBeUndefined();
  });
});

describe('quoting input into messages', () => {
  it('clips long text and says how long it was', () => {
    expect(clip('short')).toBe('short');
    expect(clip('x'.repeat(10), 4)).toBe('xxxx…(10 chars)');
    expect(quote('a"b')).toBe('"a\\"b"');
    expect(quote('z'.repeat(1_000_000))).toBe(`"${'z'.repeat(64)}"…(1000000 chars)`);
    expect([quote(5), quote(null), quote([1]), quote({ a: 1 }), quote(undefined)]).toEqual(['5', 'null', 'a list', 'an object', 'undefined']);
  });

  it('clips the message of a failure reply', () => {
    const f = failureOf(new InternalError('m'.repeat(100_000)));
    expect(f.message.length).toBeLessThan(2100);
    expect(f.tb).toHaveLength(1);
    expect(f.tb[0]!.length).toBeLessThan(2200);
  });
});
