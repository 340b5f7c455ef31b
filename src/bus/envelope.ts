/**
 * The oslo.messaging wire format (envelope 2.0) for requests, replies, failures and
 * notifications. Pure functions; see shared/PROTOCOL.md and oslo_messaging/_drivers/common.py.
 */
import { randomUUID } from 'node:crypto';
import { MalformedMessage, NoSuchMethod, VirtDrError } from '../errors.js';

export const ENVELOPE_VERSION = '2.0';
const VERSION_KEY = 'oslo.version';
const MESSAGE_KEY = 'oslo.message';
const CONTEXT_PREFIX = '_context_';

/** A request after one parse of the AMQP body. */
export interface RpcRequest {
  method: string;
  args: Record<string, unknown>;
  /** Requested API version; "1.0" when the message has none. */
  version: string;
  namespace: string | null;
  /** The `_context_*` keys without their prefix. */
  context: Record<string, unknown>;
  /** context.request_id when it is a string. */
  requestId: string | null;
  uniqueId: string | null;
  msgId: string | null;
  replyQueue: string | null;
  /** `_timeout` (oslo's call_monitor_timeout) when it is a positive finite number. */
  timeoutSeconds: number | null;
  /** A call (has `_msg_id` and `_reply_q`) expects a reply; a cast does not. */
  isCall: boolean;
}

export type JsonObject = Record<string, unknown>;

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJsonObject(text: string, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MalformedMessage(`${what} is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(value)) {
    throw new MalformedMessage(`${what} is not a JSON object (got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`);
  }
  return value;
}

/**
 * Body -> inner dict: unwraps `{"oslo.version", "oslo.message"}` or accepts a bare dict
 * (oslo's deserialize_msg). Throws MalformedMessage.
 */
export function unwrapEnvelope(body: Buffer | string): JsonObject {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const outer = parseJsonObject(text, 'message body');
  if (!(VERSION_KEY in outer) || !(MESSAGE_KEY in outer)) return outer;
  const v = outer[VERSION_KEY];
  if (typeof v !== 'string' || !safeVersionIsCompatible(ENVELOPE_VERSION, v)) {
    throw new MalformedMessage(`unsupported envelope version ${JSON.stringify(v)}`);
  }
  const inner = outer[MESSAGE_KEY];
  if (typeof inner !== 'string') throw new MalformedMessage('oslo.message is not a string');
  return parseJsonObject(inner, 'oslo.message');
}

/** Wraps a dict into the 2.0 envelope (oslo's serialize_msg). */
export function wrapEnvelope(msg: JsonObject): { 'oslo.version': string; 'oslo.message': string } {
  return { [VERSION_KEY]: ENVELOPE_VERSION, [MESSAGE_KEY]: JSON.stringify(msg) } as {
    'oslo.version': string;
    'oslo.message': string;
  };
}

export function encodeEnvelope(msg: JsonObject): Buffer {
  return Buffer.from(JSON.stringify(wrapEnvelope(msg)), 'utf8');
}

function optString(inner: JsonObject, key: string): string | null {
  const v = inner[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new MalformedMessage(`${key} is not a string`);
  return v;
}

/** Keys `_context_x` -> `x`. */
export function extractContext(inner: JsonObject): Record<string, unknown> {
  const ctx: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inner)) {
    if (k.startsWith(CONTEXT_PREFIX) && k.length > CONTEXT_PREFIX.length) ctx[k.slice(CONTEXT_PREFIX.length)] = v;
  }
  return ctx;
}

/** Parses an AMQP body into an RpcRequest; throws MalformedMessage. */
export function parseRequest(body: Buffer | string): RpcRequest {
  const inner = unwrapEnvelope(body);
  const method = inner['method'];
  if (typeof method !== 'string' || method.length === 0) throw new MalformedMessage('method is missing or not a string');
  const rawArgs = inner['args'];
  let args: Record<string, unknown>;
  if (rawArgs === undefined || rawArgs === null) args = {};
  else if (isPlainObject(rawArgs)) args = rawArgs;
  else throw new MalformedMessage('args is not an object');
  const version = optString(inner, 'version') ?? '1.0';
  const namespace = optString(inner, 'namespace');
  const uniqueId = optString(inner, '_unique_id');
  const msgId = optString(inner, '_msg_id');
  const replyQueue = optString(inner, '_reply_q');
  if (msgId !== null && replyQueue === null) throw new MalformedMessage('call (_msg_id) without _reply_q');
  const t = inner['_timeout'];
  const timeoutSeconds = typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : null;
  const context = extractContext(inner);
  const rid = context['request_id'];
  return {
    method,
    args,
    version,
    namespace,
    context,
    requestId: typeof rid === 'string' ? rid : null,
    uniqueId,
    msgId,
    replyQueue,
    timeoutSeconds,
    isCall: msgId !== null,
  };
}

/**
 * Best effort for a message parseRequest rejected: if it still names a reply queue and a
 * msg id, the caller can be answered with a failure instead of timing out.
 */
export function salvageReplyTarget(body: Buffer | string): { msgId: string; replyQueue: string; context: Record<string, unknown> } | null {
  try {
    const inner = unwrapEnvelope(body);
    const msgId = inner['_msg_id'];
    const replyQueue = inner['_reply_q'];
    if (typeof msgId === 'string' && typeof replyQueue === 'string' && replyQueue.length > 0) {
      return { msgId, replyQueue, context: extractContext(inner) };
    }
  } catch {
    /* nothing to salvage */
  }
  return null;
}

/**
 * The `_context_*` keys of a message parseRequest rejected, when its body still unwraps to
 * a dict: a malformed request is then reported under the caller's request_id. Else `{}`.
 */
export function salvageContext(body: Buffer | string): Record<string, unknown> {
  try {
    return extractContext(unwrapEnvelope(body));
  } catch {
    return {};
  }
}

/** Parses "X.Y[.Z]"; null when not numeric. */
function parseVersion(v: string): [number, number, number] | null {
  const parts = v.split('.');
  if (parts.length < 2 || parts.length > 3) return null;
  const nums = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (nums.some((n) => Number.isNaN(n))) return null;
  return [nums[0]!, nums[1]!, nums[2] ?? 0];
}

/**
 * oslo _utils.version_is_compatible(implemented, requested): same major, and requested
 * minor(.rev) not newer. A version that does not parse is incompatible.
 */
export function safeVersionIsCompatible(implemented: string, requested: string): boolean {
  const imp = parseVersion(implemented);
  const req = parseVersion(requested);
  if (!imp || !req) return false;
  if (req[0] !== imp[0]) return false;
  if (req[1] > imp[1]) return false;
  if (req[1] === imp[1] && req[2] > imp[2]) return false;
  return true;
}

/** A fresh `_unique_id`: uuid4 hex, as oslo's _add_unique_id. */
export function newUniqueId(): string {
  return randomUUID().replace(/-/g, '');
}

export interface OsloFailure {
  class: string;
  module: string;
  message: string;
  tb: string[];
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export const ERRORS_MODULE = 'virt_dr.errors';
export const DISPATCHER_MODULE = 'oslo_messaging.rpc.dispatcher';

/**
 * Our error -> oslo's serialize_remote_exception dict. NoSuchMethod is reported with oslo's
 * module and args [method] so a client that allows that module rebuilds the real exception.
 */
export function failureOf(err: VirtDrError, method: string | null = null): OsloFailure {
  const isNoSuchMethod = err instanceof NoSuchMethod || err.name === 'NoSuchMethod';
  const tb = (err.stack ?? `${err.name}: ${err.message}`).split('\n').map((l) => `${l}\n`);
  return {
    class: err.name,
    module: isNoSuchMethod ? DISPATCHER_MODULE : ERRORS_MODULE,
    message: err.message,
    tb,
    args: isNoSuchMethod && method !== null ? [method] : [err.message],
    kwargs: {},
  };
}

/** The reply dict (before the envelope): all five keys, always. */
export function replyMessage(opts: {
  msgId: string;
  result?: unknown;
  failure?: OsloFailure | null;
  ending: boolean;
}): JsonObject {
  return {
    result: opts.failure ? null : opts.result === undefined ? null : opts.result,
    failure: opts.failure ? JSON.stringify(opts.failure) : null,
    ending: opts.ending,
    _msg_id: opts.msgId,
    _unique_id: newUniqueId(),
  };
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, as str(timeutils.utcnow()). */
export function osloTimestamp(d: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}000`
  );
}

const SECRET_KEY = /token|password|secret/i;

/** Context keys safe to put on the notification bus (no token, password, secret). */
export function sanitizeContext(context: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k0, v] of Object.entries(context)) {
    const k = k0.startsWith(CONTEXT_PREFIX) ? k0.slice(CONTEXT_PREFIX.length) : k0;
    if (SECRET_KEY.test(k)) continue;
    out[k] = v;
  }
  return out;
}

export type Priority = 'INFO' | 'WARN' | 'ERROR' | 'DEBUG';

/** The notification dict (before the envelope). */
export function notificationMessage(opts: {
  publisherId: string;
  eventType: string;
  priority: Priority;
  payload: object;
  context: Record<string, unknown>;
  now?: Date;
}): JsonObject {
  const msg: JsonObject = {
    message_id: randomUUID(),
    publisher_id: opts.publisherId,
    event_type: opts.eventType,
    priority: opts.priority,
    payload: opts.payload,
    timestamp: osloTimestamp(opts.now),
    _unique_id: newUniqueId(),
  };
  for (const [k, v] of Object.entries(sanitizeContext(opts.context))) msg[`${CONTEXT_PREFIX}${k}`] = v;
  return msg;
}
