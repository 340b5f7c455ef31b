import { ARG_LIMITS } from '../api/args.js';
import { InvalidArgument } from '../errors.js';
import { clip, quote } from '../util/clip.js';

/**
 * Readers for the fields of untrusted JSON that collect problems instead of throwing at
 * the first: a policy is refused whole, with every problem named by its path
 * (`plan.secondaries[0].target`). A reader that finds a problem records it and returns
 * undefined; the caller keeps reading the other fields, then calls `refuseIfAny`.
 */
export class FieldReader {
  readonly problems: string[] = [];

  /** `path problem`; the path is left out at the top (`unknown key "x"`). */
  problem(path: string, problem: string): void {
    this.problems.push(path === '' ? problem : `${path} ${problem}`);
  }

  /** A plain object with only `keys`; an unknown key is a problem, the known ones are still read. */
  object(path: string, value: unknown, keys: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problem(path, `must be an object, not ${quote(value)}`);
      return undefined;
    }
    const fields = value as Record<string, unknown>;
    const unknown = Object.keys(fields).filter((k) => !keys.includes(k));
    if (unknown.length > 0) {
      const listed = unknown.slice(0, ARG_LIMITS.namesListed).map((k) => quote(k));
      const more = unknown.length > listed.length ? ` and ${unknown.length - listed.length} more` : '';
      const what = path === '' ? '' : 'has ';
      this.problem(path, `${what}unknown key${unknown.length > 1 ? 's' : ''} ${listed.join(', ')}${more} (known: ${keys.join(', ')})`);
    }
    return fields;
  }

  /** A whole number in [min, max]. */
  integer(path: string, value: unknown, min: number, max: number): number | undefined {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.problem(path, `must be a whole number, not ${quote(value)}`);
      return undefined;
    }
    if (value < min) this.problem(path, `must be at least ${min}`);
    else if (value > max) this.problem(path, `must be at most ${max}`);
    else return value;
    return undefined;
  }

  choice<T extends string>(path: string, value: unknown, allowed: readonly T[]): T | undefined {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.problem(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, not ${quote(value)}`);
    return undefined;
  }

  /** A non-empty string within the argument limit; `pattern`, when given, says what it must look like. */
  text(path: string, value: unknown, pattern?: { test: RegExp; what: string }): string | undefined {
    if (typeof value !== 'string' || value.length === 0) {
      this.problem(path, `must be a non-empty string, not ${quote(value)}`);
      return undefined;
    }
    if (value.length > ARG_LIMITS.stringChars) {
      this.problem(path, `is ${value.length} characters long; the limit is ${ARG_LIMITS.stringChars}`);
      return undefined;
    }
    if (pattern && !pattern.test.test(value)) {
      this.problem(path, `${quote(value)} is not ${pattern.what}`);
      return undefined;
    }
    return value;
  }

  /** A list of at most `maxItems`. */
  list(path: string, value: unknown, maxItems: number): unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.problem(path, `must be a list, not ${quote(value)}`);
      return undefined;
    }
    if (value.length > maxItems) {
      this.problem(path, `has ${value.length} items; the limit is ${maxItems}`);
      return undefined;
    }
    return value;
  }

  /** A required field: `read` when present, else a problem. */
  required<T>(path: string, value: unknown, read: (value: unknown) => T | undefined, hint = ''): T | undefined {
    if (value === undefined) {
      this.problem(path, `is required${hint}`);
      return undefined;
    }
    return read(value);
  }

  /** Each value that occurs more than once in `values`, as a problem of `path`. */
  unique(path: string, values: readonly string[], what: string): void {
    for (const repeated of new Set(values.filter((v, i) => values.indexOf(v) !== i))) {
      this.problem(path, `names ${what} ${quote(repeated)} more than once`);
    }
  }
}

/** How many problems a refusal lists, and how long it grows: a hostile policy could have thousands. */
export const REFUSAL_LIMITS = { problems: 20, chars: 1500 } as const;

/** Throws one InvalidArgument that names every problem (within REFUSAL_LIMITS): `<what> has 2 problems: a; b`. */
export function refuseIfAny(what: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  const listed: string[] = [];
  let chars = 0;
  for (const problem of problems) {
    if (listed.length === REFUSAL_LIMITS.problems || chars + problem.length > REFUSAL_LIMITS.chars) break;
    listed.push(problem);
    chars += problem.length + 2;
  }
  // A single problem longer than the limit is still named, by its start.
  if (listed.length === 0) listed.push(clip(problems[0]!, REFUSAL_LIMITS.chars));
  const more = problems.length > listed.length ? `; and ${problems.length - listed.length} more` : '';
  throw new InvalidArgument(`${what} has ${problems.length} problem${problems.length > 1 ? 's' : ''}: ${listed.join('; ')}${more}`);
}
