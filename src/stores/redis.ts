import { randomUUID } from 'node:crypto';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { parseOptions } from '../core/options/index.js';
import { createLease } from './lease.js';
import { redisStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /** A `redis://` or `rediss://` URL. Ignored when `client` is given. @default 'redis://127.0.0.1:6379' */
  readonly url?: string;
  /**
   * Your own ioredis connection (single node, Sentinel or Cluster). The store does not close it.
   * For resilience, create it with `enableOfflineQueue: false` so commands fail fast during an outage.
   */
  readonly client?: Redis | Cluster;
  /** Extra ioredis options when the store creates the connection. */
  readonly redisOptions?: RedisOptions;
  /**
   * Namespace of every key: values live at `<prefix>v:<key>`, leases at `<prefix>l:<key>`.
   * Use a hash tag such as `{reqforge}:` to keep them in one Cluster slot (not required).
   * @default 'reqforge:'
   */
  readonly keyPrefix?: string;
}

/**
 * An ioredis connection (ioredis loaded lazily) as the Redis token store and the shared rate limiter make one from
 * `url` and `redisOptions`: not yet connected (call `connect()`), failing commands fast while Redis is down (no
 * offline queue, one retry per command) and reconnecting in the background with a backoff capped at 1 s.
 */
export async function createRedisConnection(
  options: Pick<RedisTokenStoreOptions, 'url' | 'redisOptions'>,
): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(options.url ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
    ...options.redisOptions,
  });
  // Errors surface on commands; an unhandled 'error' event would only print noise.
  client.on('error', () => undefined);
  return client;
}

/** Compare-and-delete: frees the lease only when it still holds this owner's id. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * A {@link TokenStore} on Redis (ioredis, loaded lazily): shared by every replica. Expiry is Redis's own
 * (`SET … PX`); a lease is `SET <key> <owner> NX PX <ttl>` and is released by a Lua compare-and-delete.
 *
 * @example
 * const store = await RedisTokenStore.connect({ url: 'redis://127.0.0.1:6379', keyPrefix: 'myapp:' });
 */
export class RedisTokenStore implements TokenStore {
  readonly name = 'redis';
  readonly #client: Redis | Cluster;
  readonly #owned: boolean;
  readonly #prefix: string;

  /** Wraps an existing connection; prefer {@link RedisTokenStore.connect} to let the store own one. */
  constructor(client: Redis | Cluster, options: { keyPrefix?: string; owned?: boolean } = {}) {
    this.#client = client;
    this.#owned = options.owned ?? false;
    this.#prefix = options.keyPrefix ?? 'reqforge:';
  }

  /**
   * Connects (or adopts `options.client`) and resolves once Redis answers. A connection the store
   * creates fails commands fast while Redis is down (no offline queue, one retry per command) and
   * reconnects in the background with a backoff capped at 1 s.
   */
  static async connect(options: RedisTokenStoreOptions = {}): Promise<RedisTokenStore> {
    parseOptions(redisStoreOptionsSchema, options);
    if (options.client) {
      return new RedisTokenStore(options.client, { keyPrefix: options.keyPrefix ?? 'reqforge:' });
    }
    const client = await createRedisConnection(options);
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw error;
    }
    return new RedisTokenStore(client, { keyPrefix: options.keyPrefix ?? 'reqforge:', owned: true });
  }

  /** The underlying connection (for health checks). */
  get client(): Redis | Cluster {
    return this.#client;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#client.get(`${this.#prefix}v:${key}`)) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return this.delete(key);
    await this.#client.set(`${this.#prefix}v:${key}`, value, 'PX', Math.ceil(ttlMs));
  }

  async delete(key: string): Promise<void> {
    await this.#client.del(`${this.#prefix}v:${key}`);
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const name = `${this.#prefix}l:${key}`;
    const owner = randomUUID();
    const ok = await this.#client.set(name, owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    if (ok !== 'OK') return undefined;
    return createLease(key, owner, async () => {
      await this.#client.eval(RELEASE, 1, name, owner);
    });
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    await this.#client.quit().catch(() => this.#client.disconnect());
  }
}
