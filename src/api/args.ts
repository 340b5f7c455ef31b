import { InvalidArgument } from '../errors.js';
import { quote } from '../util/clip.js';

/**
 * Bounds on argument values (the bus bounds the message as a whole). Domain names are at
 * most 255 characters and ids far shorter; a domain has at most a few dozen disks.
 */
export const ARG_LIMITS = {
  stringChars: 1024,
  listItems: 256,
  /** How many unexpected argument names a refusal lists (each quoted, clipped). */
  namesListed: 5,
} as const;

/**
 * Readers for RPC keyword arguments. Each request's args are parsed once, at the edge,
 * into a typed object; an unexpected key, a wrong type or a value outside its set is an
 * InvalidArgument naming the argument.
 */
export class ArgReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly method: string,
    private readonly args: Record<string, unknown>,
  ) {}

  string(name: string): string {
    const value = this.optionalString(name);
    if (value === null) throw this.error(name, 'is required');
    return value;
  }

  optionalString(name: string): string | null {
    const value = this.take(name);
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string' || value.length === 0) throw this.error(name, 'must be a non-empty string');
    return this.bounded(name, value);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    return this.optionalOneOf(name, allowed) ?? fallback;
  }

  optionalOneOf<T extends string>(name: string, allowed: readonly T[]): T | null {
    const value = this.take(name);
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw this.error(name, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    }
    return value as T;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.take(name);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw this.error(name, 'must be true or false');
    return value;
  }

  stringList(name: string): string[] {
    const value = this.take(name);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw this.error(name, 'must be a list of strings');
    }
    if (value.length > ARG_LIMITS.listItems) {
      throw this.error(name, `has ${value.length} items; the limit is ${ARG_LIMITS.listItems}`);
    }
    return value.map((item: string) => this.bounded(`${name} item`, item));
  }

  /** An argument of any shape, for one its method parses itself (set_policy's policy); undefined when absent. */
  raw(name: string): unknown {
    return this.take(name);
  }

  /** Call last: refuses arguments the method does not take, so typos do not pass silently. */
  done(): void {
    const unknown = Object.keys(this.args).filter((k) => !this.seen.has(k));
    if (unknown.length > 0) {
      const listed = unknown.slice(0, ARG_LIMITS.namesListed).map((k) => quote(k));
      const more = unknown.length > listed.length ? ` and ${unknown.length - listed.length} more` : '';
      throw new InvalidArgument(`${this.method}() got unexpected argument(s): ${listed.join(', ')}${more}`);
    }
  }

  private bounded(name: string, value: string): string {
    if (value.length > ARG_LIMITS.stringChars) {
      throw this.error(name, `is ${value.length} characters long; the limit is ${ARG_LIMITS.stringChars}`);
    }
    return value;
  }

  private take(name: string): unknown {
    this.seen.add(name);
    return this.args[name];
  }

  private error(name: string, problem: string): InvalidArgument {
    return new InvalidArgument(`${this.method}(): argument ${name} ${problem}`);
  }
}

const DOMAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,254}$/;

/**
 * A domain as named in a request: a libvirt name or a UUID. It only ever reaches libvirt
 * lookups, never a path, but hostile names (`../x`, slashes, control characters) are
 * refused here all the same, with a message that says so.
 */
export function checkDomainName(method: string, value: string, argument = 'domain'): string {
  if (!DOMAIN_NAME.test(value) || value.includes('..')) {
    throw new InvalidArgument(`${method}(): argument ${argument} ${quote(value)} is not a valid domain name or UUID`);
  }
  return value;
}
