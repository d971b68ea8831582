import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import { type Duration, parseOptions } from '../core/options/index.js';
import { type EncryptionKey, TOKEN_KEY_ENV } from './encrypted.js';
import { tokenStoreConfigSchema } from './options.js';
import type { StoreEvents } from './resilient.js';
import type { TokenStore } from './types.js';

/** The backends {@link createTokenStore} knows. */
export type TokenStoreType = 'memory' | 'file' | 'sqlite' | 'redis' | 'postgres' | 'mysql' | 'memcached';

/** The names of {@link TokenStoreType}, for config validation. */
export const TOKEN_STORE_TYPES: readonly TokenStoreType[] = [
  'memory',
  'file',
  'sqlite',
  'redis',
  'postgres',
  'mysql',
  'memcached',
];

/** A token store described as data, as the gateway config does. */
export interface TokenStoreConfig {
  /** The backend. */
  readonly type: TokenStoreType;
  /** Connection URL for redis (`redis://`), postgres (`postgres://`), mysql (`mysql://`), memcached (`host:port,…`). */
  readonly url?: string;
  /** Directory (file) or database file (sqlite). */
  readonly path?: string;
  /** Namespace for keys (every backend). @default 'reqforge:' */
  readonly keyPrefix?: string;
  /** Table name for sqlite, postgres and mysql. @default 'reqforge_tokens' */
  readonly table?: string;
  /**
   * AES-256-GCM keys (32 bytes, hex or base64); the first encrypts, all decrypt. When omitted, the keys in
   * `REQFORGE_TOKEN_KEY` are used if that variable is set; otherwise values are stored as they are.
   */
  readonly encryptionKeys?: readonly EncryptionKey[];
  /**
   * Wrap in a {@link ResilientTokenStore} (timeouts, outage = miss). `false` to get the raw store.
   * @default true for every type but `memory`
   */
  readonly resilient?: boolean | { readonly timeoutMs?: Duration; readonly retryAfterMs?: Duration };
  /** Receives `store:error` / `store:down` / `store:up`. */
  readonly events?: EventHub<StoreEvents>;
  /** Clock for expiry (file, sqlite, memcached, memory) and timeouts. */
  readonly clock?: Clock;
}

function need(value: string | undefined, option: string, type: string): string {
  if (!value) throw new InvalidOptionError(option, `required for a "${type}" token store`);
  return value;
}

/**
 * Builds a {@link TokenStore} from a config object, loading only the driver it needs. Adds encryption when
 * keys are configured (or `REQFORGE_TOKEN_KEY` is set) and, unless `resilient: false`, the resilient wrapper.
 *
 * @example
 * const store = await createTokenStore({ type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'app:' });
 */
export async function createTokenStore(config: TokenStoreConfig): Promise<TokenStore> {
  parseOptions(tokenStoreConfigSchema, config);
  const clock = config.clock ?? systemClock;
  const keyPrefix = config.keyPrefix ?? 'reqforge:';
  const table = config.table ?? 'reqforge_tokens';
  let store: TokenStore;
  switch (config.type) {
    case 'memory': {
      const { MemoryTokenStore } = await import('./memory.js');
      store = new MemoryTokenStore({ clock });
      break;
    }
    case 'file': {
      const { FileTokenStore } = await import('./file.js');
      store = await FileTokenStore.open({ path: need(config.path, 'path', 'file'), keyPrefix, clock });
      break;
    }
    case 'sqlite': {
      const { SqliteTokenStore } = await import('./sqlite.js');
      store = await SqliteTokenStore.open({
        path: need(config.path, 'path', 'sqlite'),
        keyPrefix,
        table,
        clock,
      });
      break;
    }
    case 'redis': {
      const { RedisTokenStore } = await import('./redis.js');
      store = await RedisTokenStore.connect({ url: config.url ?? 'redis://127.0.0.1:6379', keyPrefix });
      break;
    }
    case 'postgres': {
      const { PostgresTokenStore } = await import('./postgres.js');
      store = await PostgresTokenStore.connect({
        url: need(config.url, 'url', 'postgres'),
        keyPrefix,
        table,
      });
      break;
    }
    case 'mysql': {
      const { MysqlTokenStore } = await import('./mysql.js');
      store = await MysqlTokenStore.connect({ url: need(config.url, 'url', 'mysql'), keyPrefix, table });
      break;
    }
    case 'memcached': {
      const { MemcachedTokenStore } = await import('./memcached.js');
      store = await MemcachedTokenStore.connect({ url: config.url ?? '127.0.0.1:11211', keyPrefix, clock });
      break;
    }
    default:
      throw new InvalidOptionError(
        'type',
        `unknown token store "${String((config as { type: unknown }).type)}"; expected one of ${TOKEN_STORE_TYPES.join(', ')}`,
      );
  }
  try {
    if (config.encryptionKeys !== undefined || process.env[TOKEN_KEY_ENV]) {
      const { EncryptedTokenStore } = await import('./encrypted.js');
      store = new EncryptedTokenStore(store, {
        ...(config.encryptionKeys === undefined ? {} : { keys: config.encryptionKeys }),
        ...(config.events === undefined ? {} : { events: config.events }),
      });
    }
    const resilient = config.resilient ?? config.type !== 'memory';
    if (resilient !== false) {
      const { ResilientTokenStore } = await import('./resilient.js');
      const tuning = typeof resilient === 'object' ? resilient : {};
      store = new ResilientTokenStore(store, {
        clock,
        ...(tuning.timeoutMs === undefined ? {} : { timeoutMs: tuning.timeoutMs }),
        ...(tuning.retryAfterMs === undefined ? {} : { retryAfterMs: tuning.retryAfterMs }),
        ...(config.events === undefined ? {} : { events: config.events }),
      });
    }
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}
