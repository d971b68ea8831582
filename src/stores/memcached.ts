import { createHash, randomUUID } from 'node:crypto';
import type { Client, ClientOptions, ServerOptions } from 'memjs';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { parseOptions } from '../core/options/index.js';
import { createLease } from './lease.js';
import { memcachedStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** Options of {@link MemcachedTokenStore}. */
export interface MemcachedTokenStoreOptions {
  /**
   * Comma-separated `host:port` list (optionally `user:pass@host:port`, `memcached://` prefix allowed).
   * Ignored when `client` is given. @default '127.0.0.1:11211'
   */
  readonly url?: string;
  /** Your own memjs client; the store does not close it. */
  readonly client?: Client;
  /** Extra memjs options when the store creates the client. */
  readonly clientOptions?: ClientOptions & ServerOptions;
  /**
   * Namespace of every key (no spaces or control characters, at most 100 bytes).
   * @default 'reqforge:'
   */
  readonly keyPrefix?: string;
  /** The clock whose wall time decides logical expiry; tests pass a FakeClock. */
  readonly clock?: Clock;
}

/** Memcached reads an expiry above 30 days as an absolute Unix time. */
const RELATIVE_LIMIT_S = 30 * 24 * 3600;
/** Extra server-side lifetime of a lease item, so memcached never drops a lease a stealer is reading. */
const LEASE_MARGIN_S = 60;
const GUARD_TTL_S = 10;
const MAGIC = 'rf1';

/**
 * Converts milliseconds to a memcached expiry: whole seconds rounded up plus one (memcached's clock
 * ticks once a second, so `1` may expire almost at once), absolute when above 30 days.
 */
export function memcachedExpiry(ttlMs: number, nowMs = Date.now()): number {
  const seconds = Math.ceil(Math.max(0, ttlMs) / 1000) + 1;
  return seconds > RELATIVE_LIMIT_S ? Math.ceil(nowMs / 1000) + seconds : seconds;
}

/**
 * A {@link TokenStore} on Memcached (memjs, loaded lazily). Keys are `<prefix>v:<sha256(key)>` (memcached
 * keys are at most 250 bytes without spaces). Each value carries its absolute expiry, checked on read,
 * so expiry is exact to the millisecond; memcached's own TTL (seconds, rounded up) only frees memory.
 *
 * A lease is taken with `add` (atomic create). memjs has no `cas`, so an expired lease is stolen, and a
 * lease is released, only by whoever `add`s the guard key named after the current owner: steal and release
 * are compare-and-set through that guard. The remaining race: memcached may evict a lease item (memory
 * pressure) between a guard holder's read and write, letting a fresh `add` slip in; lease items live
 * 60 s past their logical expiry so plain expiry never causes it. Memcached is a cache: values may be
 * evicted at any time, which the TokenManager treats as a miss.
 *
 * @example
 * const store = await MemcachedTokenStore.connect({ url: '127.0.0.1:11211' });
 */
export class MemcachedTokenStore implements TokenStore {
  readonly name = 'memcached';
  readonly #client: Client;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #clock: Clock;

  private constructor(client: Client, owned: boolean, options: MemcachedTokenStoreOptions) {
    const prefix = options.keyPrefix ?? 'reqforge:';
    // biome-ignore lint/suspicious/noControlCharactersInRegex: memcached keys forbid control characters
    if (/[\s\u0000-\u001f\u007f]/.test(prefix) || Buffer.byteLength(prefix) > 100) {
      throw new InvalidOptionError('keyPrefix', 'no spaces or control characters, at most 100 bytes');
    }
    this.#client = client;
    this.#owned = owned;
    this.#prefix = prefix;
    this.#clock = options.clock ?? systemClock;
  }

  /** Creates (or adopts `options.client`) a client and checks that the server answers. */
  static async connect(options: MemcachedTokenStoreOptions = {}): Promise<MemcachedTokenStore> {
    parseOptions(memcachedStoreOptionsSchema, options);
    if (options.client) return new MemcachedTokenStore(options.client, false, options);
    const memjs = await import('memjs');
    const ClientClass = memjs.Client ?? memjs.default.Client;
    const servers = (options.url ?? '127.0.0.1:11211').replace(/^memcached:\/\//, '');
    const client = ClientClass.create(servers, {
      retries: 1,
      timeout: 1,
      conntimeout: 2,
      keepAlive: true,
      logger: { log: () => undefined },
      ...options.clientOptions,
    });
    const store = new MemcachedTokenStore(client, true, options);
    try {
      await client.get(`${store.#prefix}ping`);
    } catch (error) {
      client.close();
      throw error;
    }
    return store;
  }

  /** The memcached key that holds `key`'s value (`kind` `v`) or lease (`l`). */
  storageKey(key: string, kind: 'v' | 'l' = 'v'): string {
    return `${this.#prefix}${kind}:${createHash('sha256').update(key).digest('hex')}`;
  }

  async get(key: string): Promise<string | undefined> {
    const { value } = await this.#client.get(this.storageKey(key));
    if (!value) return undefined;
    const text = value.toString('utf8');
    const first = text.indexOf('\n');
    const second = text.indexOf('\n', first + 1);
    if (first < 0 || second < 0 || text.slice(0, first) !== MAGIC) return undefined;
    if (!(Number(text.slice(first + 1, second)) > this.#clock.wallNow())) return undefined;
    return text.slice(second + 1);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return this.delete(key);
    const expiresAt = Math.ceil(this.#clock.wallNow() + ttlMs);
    const ok = await this.#client.set(this.storageKey(key), `${MAGIC}\n${expiresAt}\n${value}`, {
      expires: memcachedExpiry(ttlMs),
    });
    if (!ok) throw new Error('memcached refused the value (too large?)');
  }

  async delete(key: string): Promise<void> {
    await this.#client.delete(this.storageKey(key));
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const name = this.storageKey(key, 'l');
    const owner = randomUUID();
    const content = `${owner}\n${Math.ceil(this.#clock.wallNow() + ttlMs)}`;
    const expires = memcachedExpiry(ttlMs + LEASE_MARGIN_S * 1000);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.#client.add(name, content, { expires })) return this.#lease(key, name, owner);
      const current = await this.#read(name);
      if (current === undefined) continue; // released or dropped in between: try again
      if (current.expiresAt > this.#clock.wallNow()) return undefined;
      const stolen = await this.#guarded(name, current.owner, async () => {
        const again = await this.#read(name);
        if (again?.owner !== current.owner) return false;
        return this.#client.set(name, content, { expires });
      });
      return stolen ? this.#lease(key, name, owner) : undefined;
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.#owned) this.#client.close();
  }

  #lease(key: string, name: string, owner: string): Lease {
    return createLease(key, owner, async () => {
      await this.#guarded(name, owner, async () => {
        if ((await this.#read(name))?.owner === owner) await this.#client.delete(name);
        return true;
      });
    });
  }

  async #read(name: string): Promise<{ owner: string; expiresAt: number } | undefined> {
    const { value } = await this.#client.get(name);
    if (!value) return undefined;
    const [owner = '', expires = ''] = value.toString('utf8').split('\n');
    return { owner, expiresAt: Number(expires) || 0 };
  }

  /** Runs `fn` holding the guard for the lease state "held by `owner`"; false when someone else has it. */
  async #guarded(name: string, owner: string, fn: () => Promise<boolean>): Promise<boolean> {
    const guard = `${name}:${owner.replace(/[^A-Za-z0-9-]/g, '_').slice(0, 40)}`;
    if (!(await this.#client.add(guard, '1', { expires: GUARD_TTL_S }))) return false;
    try {
      return await fn();
    } finally {
      await this.#client.delete(guard).catch(() => undefined);
    }
  }
}
