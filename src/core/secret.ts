import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

/** What every redacted value prints as. */
export const REDACTED = '[REDACTED]';

const SECRET_BRAND = Symbol.for('reqforge.secret');

/**
 * A credential that never prints itself: `toString()`, `JSON.stringify()` and `util.inspect()` all
 * give `[REDACTED]`. Call {@link Secret.reveal} at the one place the raw value is needed.
 *
 * @example
 * const secret = new Secret(process.env.CLIENT_SECRET ?? '');
 * console.log(`${secret}`); // [REDACTED]
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    if (typeof value !== 'string') {
      throw new TypeError('Secret expects a string value');
    }
    this.#value = value;
  }

  /** Wraps a string in a {@link Secret}; returns an existing Secret unchanged. */
  static from(value: string | Secret): Secret {
    return isSecret(value) ? value : new Secret(value);
  }

  /** The raw value. Use it only where it is sent, never where it is logged. */
  reveal(): string {
    return this.#value;
  }

  /** True when the secret is the empty string. */
  get isEmpty(): boolean {
    return this.#value.length === 0;
  }

  /** A short, stable, one-way fingerprint (first 12 hex chars of SHA-256) safe to log or compare. */
  fingerprint(): string {
    return fingerprint(this.#value);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }

  get [SECRET_BRAND](): true {
    return true;
  }
}

/** True for a {@link Secret}, also one created by another copy of reqforge. */
export function isSecret(value: unknown): value is Secret {
  return typeof value === 'object' && value !== null && SECRET_BRAND in value;
}

/** Returns the raw string of a string or {@link Secret}. */
export function reveal(value: string | Secret): string {
  return typeof value === 'string' ? value : value.reveal();
}

/** One-way fingerprint of a credential, for logs and events: first 12 hex characters of its SHA-256. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}
