/**
 * Bounds on what a caller's input may cost in a message, a reply or a log line. A value
 * from the bus can be a megabyte long; it is quoted by its start and its length only.
 */

/** How much of a caller's value a message quotes. */
export const QUOTED_CHARS = 64;
/** The longest free text (an error message) put into a log line, a reply or a notification. */
export const TEXT_CHARS = 2048;

/** `text` itself when it is short enough; else its first `max` characters and its length. */
export function clip(text: string, max = TEXT_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

/**
 * A caller's value for an error message: a string JSON-quoted and clipped; other values
 * by their kind, since printing them whole could be as costly as the value itself.
 */
export function quote(value: unknown, max = QUOTED_CHARS): string {
  if (typeof value === 'string') {
    return value.length <= max ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, max))}…(${value.length} chars)`;
  }
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
