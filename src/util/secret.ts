import { inspect } from 'node:util';

/**
 * A value that must never be written out: JSON (so pino at any depth), string conversion
 * and util.inspect all show `[redacted]`; only `reveal()` gives the value, at the one place
 * that hands it to a client library.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return '[redacted]';
  }
}
