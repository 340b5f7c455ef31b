/**
 * What the bus edge accepts, and the checks that enforce it (pure). Every request field is
 * bounded before anything keeps, logs or remembers it: the dedupe set alone holds 1024
 * ids, and each id used to be as long as its sender liked.
 */
import { MalformedMessage } from '../errors.js';

export const REQUEST_LIMITS = {
  /** The AMQP body, checked before it is decoded or parsed. */
  messageBytes: 1024 * 1024,
  /** Objects and lists inside objects and lists; the request dict itself is level 1. */
  depth: 32,
  /** `_unique_id`, `_msg_id`, `_context_request_id` (oslo sends 32 hex and `req-<uuid>`). */
  idChars: 128,
  /** `method`, `namespace`, and each `_context_*` key. */
  nameChars: 128,
  /** `version`: "X.Y" or "X.Y.Z". */
  versionChars: 16,
  /** Each `_context_*` value, as JSON: a service catalog fits, a 10 MB blob does not. */
  contextValueChars: 64 * 1024,
} as const;

/** oslo's reply queues are `reply_` + uuid4 hex; a reply is published nowhere else. */
export const REPLY_QUEUE_PATTERN = /^reply_[0-9a-f]{32}$/;

/**
 * Heartbeats go out every `_timeout/2` s, clamped: more often than asked is harmless to the
 * caller, while setInterval turns any delay above 2^31-1 ms into 1 ms (`_timeout: 1e10`
 * meant a heartbeat every millisecond).
 */
export const HEARTBEAT_MS = { min: 500, max: 60_000 } as const;

export function heartbeatIntervalMs(timeoutSeconds: number): number {
  const half = timeoutSeconds * 500;
  if (!Number.isFinite(half)) return HEARTBEAT_MS.max;
  return Math.min(HEARTBEAT_MS.max, Math.max(HEARTBEAT_MS.min, half));
}

export function checkMessageSize(bytes: number): void {
  if (bytes > REQUEST_LIMITS.messageBytes) {
    throw new MalformedMessage(`message is ${bytes} bytes; the limit is ${REQUEST_LIMITS.messageBytes} bytes`);
  }
}

/** `value` when it has at most `limit` characters; else a MalformedMessage naming `field`. */
export function checkLength(field: string, value: string, limit: number): string {
  if (value.length > limit) throw new MalformedMessage(`${field} is ${value.length} characters long; the limit is ${limit}`);
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x5b, 0x7b]);
const CLOSERS = new Set([0x5d, 0x7d]);

/**
 * Refuses JSON text whose objects and lists nest deeper than the limit, before it is
 * parsed: a megabyte of `[` would otherwise become half a million arrays, and any later
 * JSON.stringify of them would overflow the stack. A linear scan that skips strings; text
 * that is not JSON at all is left to JSON.parse.
 */
export function checkJsonNesting(text: string, limit: number = REQUEST_LIMITS.depth): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (OPENERS.has(c)) {
      if (++depth > limit) throw new MalformedMessage(`message nests objects and lists deeper than ${limit} levels`);
    } else if (CLOSERS.has(c)) {
      depth--;
    }
  }
}
