/**
 * The oslo.messaging wire format (envelope 2.0) for requests, replies, failures and
 * notifications. Pure functions; see shared/PROTOCOL.md and oslo_messaging/_drivers/common.py.
 */
import { randomUUID } from 'node:crypto';
import { MalformedMessage, NoSuchMethod, VirtDrError } from '../errors.js';
import { clip, quote } from '../util/clip.js';
import { CONTEXT_PREFIX, boundedContext, extractContext, requestIdOf, sanitizeContext } from './context.js';
import { REPLY_QUEUE_PATTERN, REQUEST_LIMITS, checkJsonNesting, checkLength, checkMessageSize } from './limits.js';

export const ENVELOPE_VERSION = '2.0';
const VERSION_KEY = 'oslo.version';
const MESSAGE_KEY = 'oslo.message';

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

/** `maxDepth`: refuse deeper nesting before parsing (requests); replies and notifications are ours. */
function parseJsonObject(text: string, what: string, maxDepth: number | null): JsonObject {
  if (maxDepth !== null) checkJsonNesting(text, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MalformedMessage(`${what} is not JSON: ${clip((err as Error).message)}`);
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
export function unwrapEnvelope(body: Buffer | string, maxDepth: number | null = null): JsonObject {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const outer = parseJsonObject(text, 'message body', maxDepth);
  if (!(VERSION_KEY in outer) || !(MESSAGE_KEY in outer)) return outer;
  const v = outer[VERSION_KEY];
  if (typeof v !== 'string' || !safeVersionIsCompatible(ENVELOPE_VERSION, v)) {
    throw new MalformedMessage(`unsupported envelope version ${quote(v)}`);
  }
  const inner = outer[MESSAGE_KEY];
  if (typeof inner !== 'string') throw new MalformedMessage('oslo.message is not a string');
  return parseJsonObject(inner, 'oslo.message', maxDepth);
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

function optBoundedString(inner: JsonObject, key: string, limit: number): string | null {
  const v = optString(inner, key);
  return v === null ? null : checkLength(key, v, limit);
}

/** `_reply_q` when it has oslo's shape: a reply is never published to any other queue. */
function optReplyQueue(inner: JsonObject): string | null {
  const q = optString(inner, '_reply_q');
  if (q !== null && !REPLY_QUEUE_PATTERN.test(q)) {
    throw new MalformedMessage(`_reply_q ${quote(q)} is not an oslo reply queue (reply_ and 32 hex digits); no reply is sent to it`);
  }
  return q;
}

/**
 * Body -> inner dict of a request: its size is checked before it is decoded, and its
 * nesting before each parse. Throws MalformedMessage.
 */
export function unwrapRequest(body: Buffer | string): JsonObject {
  checkMessageSize(typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length);
  return unwrapEnvelope(body, REQUEST_LIMITS.depth);
}

/** An unwrapped request dict -> RpcRequest, every field within REQUEST_LIMITS; throws MalformedMessage. */
function requestOf(inner: JsonObject): RpcRequest {
  const method = inner['method'];
  if (typeof method !== 'string' || method.length === 0) throw new MalformedMessage('method is missing or not a string');
  checkLength('method', method, REQUEST_LIMITS.nameChars);
  const rawArgs = inner['args'];
  let args: Record<string, unknown>;
  if (rawArgs === undefined || rawArgs === null) args = {};
  else if (isPlainObject(rawArgs)) args = rawArgs;
  else throw new MalformedMessage('args is not an object');
  const version = optBoundedString(inner, 'version', REQUEST_LIMITS.versionChars) ?? '1.0';
  const namespace = optBoundedString(inner, 'namespace', REQUEST_LIMITS.nameChars);
  const uniqueId = optBoundedString(inner, '_unique_id', REQUEST_LIMITS.idChars);
  const msgId = optBoundedString(inner, '_msg_id', REQUEST_LIMITS.idChars);
  const replyQueue = optReplyQueue(inner);
  if (msgId !== null && replyQueue === null) throw new MalformedMessage('call (_msg_id) without _reply_q');
  const t = inner['_timeout'];
  const timeoutSeconds = typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : null;
  const context = boundedContext(inner);
  const rid = context['request_id'];
  if (typeof rid === 'string') checkLength(`${CONTEXT_PREFIX}request_id`, rid, REQUEST_LIMITS.idChars);
  return {
    method,
    args,
    version,
    namespace,
    context,
    requestId: requestIdOf(context),
    uniqueId,
    msgId,
    replyQueue,
    timeoutSeconds,
    isCall: msgId !== null,
  };
}

/** Parses an AMQP body into an RpcRequest; throws MalformedMessage. */
export function parseRequest(body: Buffer | string): RpcRequest {
  return requestOf(unwrapRequest(body));
}

/** What can still be used of a message that is not a valid request. */
export interface Salvaged {
  /** Its `_context_*` keys, unchecked: sanitizeContext bounds them before they travel. */
  context: Record<string, unknown>;
  requestId: string | null;
  /** When it names a msg id and an oslo reply queue, its caller is answered with the failure. */
  replyTarget: { msgId: string; replyQueue: string } | null;
}

export type RequestReading = { ok: true; request: RpcRequest } | { ok: false; error: MalformedMessage; salvaged: Salvaged };

const NOTHING_SALVAGED: Salvaged = { context: {}, requestId: null, replyTarget: null };

function salvage(inner: JsonObject): Salvaged {
  const context = extractContext(inner);
  const msgId = inner['_msg_id'];
  const replyQueue = inner['_reply_q'];
  const answerable =
    typeof msgId === 'string' && msgId.length <= REQUEST_LIMITS.idChars && typeof replyQueue === 'string' && REPLY_QUEUE_PATTERN.test(replyQueue);
  return { context, requestId: requestIdOf(context), replyTarget: answerable ? { msgId, replyQueue } : null };
}

function asMalformed(err: unknown): MalformedMessage {
  return err instanceof MalformedMessage ? err : new MalformedMessage(clip(String((err as Error)?.message ?? err)));
}

/**
 * Parses an AMQP body once: a request, or the reason it is not one together with what
 * can be salvaged (context, request_id, reply target) to report and answer it.
 */
export function readRequest(body: Buffer | string): RequestReading {
  let inner: JsonObject;
  try {
    inner = unwrapRequest(body);
  } catch (err) {
    return { ok: false, error: asMalformed(err), salvaged: NOTHING_SALVAGED };
  }
  try {
    return { ok: true, request: requestOf(inner) };
  } catch (err) {
    return { ok: false, error: asMalformed(err), salvaged: salvage(inner) };
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
 * `tb` is one line, like the last line of a Python traceback: the agent's stack (and the
 * install paths in it) stays in its own log.
 */
export function failureOf(err: VirtDrError, method: string | null = null): OsloFailure {
  const isNoSuchMethod = err instanceof NoSuchMethod || err.name === 'NoSuchMethod';
  const module = isNoSuchMethod ? DISPATCHER_MODULE : ERRORS_MODULE;
  const message = clip(err.message);
  return {
    class: err.name,
    module,
    message,
    tb: [`${module}.${err.name}: ${message}\n`],
    args: isNoSuchMethod && method !== null ? [method] : [message],
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
