import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import type { StoreEvents } from './resilient.js';
import type { Lease, TokenStore } from './types.js';

/** The environment variable read when no key is given: one key, or several separated by commas. */
export const TOKEN_KEY_ENV = 'REQFORGE_TOKEN_KEY';

/** A 32-byte key: raw bytes, or a string of 64 hex characters or base64 / base64url. */
export type EncryptionKey = string | Uint8Array;

/** Options of {@link EncryptedTokenStore}. */
export interface EncryptedTokenStoreOptions {
  /**
   * AES-256 keys. The first encrypts; every key decrypts, so rotate by putting the new key first and
   * dropping the old one once values written with it have expired.
   * @default the comma-separated keys in `REQFORGE_TOKEN_KEY`
   */
  readonly keys?: readonly EncryptionKey[];
  /** Where a value that fails to decrypt is reported (`store:error`, operation `decrypt`). */
  readonly events?: EventHub<StoreEvents>;
}

interface ParsedKey {
  readonly id: string;
  readonly key: Buffer;
}

const FORMAT = 'rfe1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Decodes and checks one key; `option` names it in the error. */
export function parseEncryptionKey(input: EncryptionKey, option = 'encryptionKeys'): Buffer {
  let bytes: Buffer;
  if (typeof input !== 'string') {
    bytes = Buffer.from(input);
  } else {
    const text = input.trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) bytes = Buffer.from(text, 'base64');
    else throw new InvalidOptionError(option, 'expected 32 bytes as 64 hex characters or base64');
  }
  if (bytes.length !== 32) {
    throw new InvalidOptionError(
      option,
      `expected a 32-byte AES-256 key (64 hex characters or 44 base64 characters), got ${bytes.length} bytes`,
    );
  }
  return bytes;
}

/** The key id stored with each value: a short, one-way fingerprint that does not reveal the key. */
function keyId(key: Buffer): string {
  return createHash('sha256').update('reqforge-key-id\0').update(key).digest('base64url').slice(0, 8);
}

/**
 * Wraps a {@link TokenStore} so values at rest are encrypted with AES-256-GCM. Each value is stored as
 * `rfe1.<key id>.<base64url(iv | tag | ciphertext)>`, with the store key as additional authenticated
 * data, so a value copied under another key does not decrypt either. A value that fails to decrypt
 * (unknown key id, tampering, plaintext written by an older setup) is a miss, never returned as is.
 * Leases pass through unchanged: they hold random owner ids, not secrets.
 *
 * @example
 * const store = new EncryptedTokenStore(await FileTokenStore.open({ path: './tokens' }), {
 *   keys: [process.env.TOKEN_KEY!],
 * });
 */
export class EncryptedTokenStore implements TokenStore {
  readonly name: string;
  readonly #inner: TokenStore;
  readonly #keys: readonly ParsedKey[];
  readonly #events: EventHub<StoreEvents> | undefined;

  constructor(inner: TokenStore, options: EncryptedTokenStoreOptions = {}) {
    let raw: readonly EncryptionKey[] | undefined = options.keys;
    let option = 'encryptionKeys';
    if (raw === undefined) {
      const env = process.env[TOKEN_KEY_ENV];
      raw = env ? env.split(',').filter((k) => k.trim() !== '') : [];
      option = TOKEN_KEY_ENV;
    }
    if (raw.length === 0) {
      throw new InvalidOptionError('encryptionKeys', `give at least one key, or set ${TOKEN_KEY_ENV}`);
    }
    this.#keys = raw.map((k, i) => {
      const key = parseEncryptionKey(k, `${option}[${i}]`);
      return { id: keyId(key), key };
    });
    this.#inner = inner;
    this.name = inner.name;
    this.#events = options.events;
  }

  /** The wrapped store. */
  get inner(): TokenStore {
    return this.#inner;
  }

  async get(key: string): Promise<string | undefined> {
    const stored = await this.#inner.get(key);
    if (stored === undefined) return undefined;
    const value = this.decrypt(key, stored);
    if (value === undefined && this.#events?.has('store:error')) {
      this.#events.emit('store:error', {
        store: this.name,
        operation: 'decrypt',
        error: 'ERR_DECRYPT',
        timedOut: false,
      });
    }
    return value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#inner.set(key, this.encrypt(key, value), ttlMs);
  }

  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }

  acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    return this.#inner.acquireLease(key, ttlMs);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** Encrypts `value` for storage under `key` with the first key. */
  encrypt(key: string, value: string): string {
    const { id, key: secret } = this.#keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', secret, iv);
    cipher.setAAD(Buffer.from(key, 'utf8'));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return `${FORMAT}.${id}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** Decrypts a stored value, or `undefined` when it is not one this store's keys can open. */
  decrypt(key: string, stored: string): string | undefined {
    const [format, id, payload, extra] = stored.split('.');
    if (format !== FORMAT || payload === undefined || extra !== undefined) return undefined;
    const entry = this.#keys.find((k) => k.id === id);
    if (!entry) return undefined;
    const bytes = Buffer.from(payload, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(key, 'utf8'));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
