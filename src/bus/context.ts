/**
 * A request's context: oslo flattens it into top-level `_context_<key>` entries. Read and
 * bounded here when a request is parsed; narrowed by sanitizeContext before it is written
 * to the journal or sent in a notification (pure).
 */
import { MalformedMessage } from '../errors.js';
import { REQUEST_LIMITS, checkLength } from './limits.js';

export const CONTEXT_PREFIX = '_context_';

/** What of a context the journal keeps and every notification of its job repeats. */
export const KEPT_CONTEXT = {
  /** Keys kept, in the order the request listed them. */
  keys: 64,
  keyChars: 64,
  /** A longer string value is dropped, not cut: a cut request_id would name another request. */
  valueChars: 512,
} as const;

const SECRET_KEY = /token|password|secret/i;

/** Keys `_context_x` -> `x`. */
export function extractContext(inner: Record<string, unknown>): Record<string, unknown> {
  const ctx: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inner)) {
    if (k.startsWith(CONTEXT_PREFIX) && k.length > CONTEXT_PREFIX.length) ctx[k.slice(CONTEXT_PREFIX.length)] = v;
  }
  return ctx;
}

/**
 * The context of a request being parsed; each key and each value (as JSON) within
 * REQUEST_LIMITS, else MalformedMessage. Call after the message's nesting was checked.
 */
export function boundedContext(inner: Record<string, unknown>): Record<string, unknown> {
  const context = extractContext(inner);
  for (const [key, value] of Object.entries(context)) {
    checkLength(`a ${CONTEXT_PREFIX} key`, key, REQUEST_LIMITS.nameChars);
    const chars = (JSON.stringify(value) ?? '').length;
    if (chars > REQUEST_LIMITS.contextValueChars) {
      throw new MalformedMessage(`${CONTEXT_PREFIX}${key} is ${chars} characters as JSON; the limit is ${REQUEST_LIMITS.contextValueChars}`);
    }
  }
  return context;
}

/** The context's request_id when it is a string short enough to log; else null. */
export function requestIdOf(context: Record<string, unknown>): string | null {
  const rid = context['request_id'];
  return typeof rid === 'string' && rid.length <= REQUEST_LIMITS.idChars ? rid : null;
}

function isKeptValue(v: unknown): boolean {
  if (typeof v === 'string') return v.length <= KEPT_CONTEXT.valueChars;
  return v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * The context safe and small enough for the journal and the notification bus: no key
 * naming a token, password or secret; scalar values only (a string of at most
 * KEPT_CONTEXT.valueChars, a number, a boolean, null), so lists such as `roles` and
 * objects such as a service catalog are dropped; at most KEPT_CONTEXT.keys keys.
 * Accepts keys with or without the `_context_` prefix.
 */
export function sanitizeContext(context: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let kept = 0;
  for (const [k0, v] of Object.entries(context)) {
    const k = k0.startsWith(CONTEXT_PREFIX) ? k0.slice(CONTEXT_PREFIX.length) : k0;
    if (SECRET_KEY.test(k) || k.length > KEPT_CONTEXT.keyChars || !isKeptValue(v)) continue;
    out[k] = v;
    if (++kept === KEPT_CONTEXT.keys) break;
  }
  return out;
}
