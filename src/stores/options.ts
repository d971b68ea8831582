/**
 * The option sets of the token stores, defined once in the options layer: unknown keys are refused with a
 * did-you-mean, wrong types name the option without printing its value, durations take `'1s'` as well as ms.
 * Driver options (`redisOptions`, `poolOptions`, `clientOptions`) are the driver's and pass through unchecked.
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { duration, objectWith } from '../core/options/index.js';

const clock = () =>
  objectWith<Clock>('a clock with now(), setTimeout() and clearTimeout()', [
    'now',
    'setTimeout',
    'clearTimeout',
  ]);
/** Anything object-shaped: a connection or pool the caller owns, or driver options. */
const object = (what: string) => objectWith<object>(what);
const keyPrefix = z.string().optional();
const table = z.string().min(1).optional();

/** `new MemoryTokenStore(options)`. */
export const memoryStoreOptionsSchema = z.strictObject({ clock: clock().optional() });

/** `FileTokenStore.open(options)`. */
export const fileStoreOptionsSchema = z.strictObject({
  path: z.string().min(1),
  keyPrefix,
  clock: clock().optional(),
});

/** `SqliteTokenStore.open(options)`. */
export const sqliteStoreOptionsSchema = z.strictObject({
  path: z.string().min(1).optional(),
  database: object('a better-sqlite3 Database').optional(),
  table,
  keyPrefix,
  busyTimeoutMs: duration().optional(),
  clock: clock().optional(),
});

/** `RedisTokenStore.connect(options)`. */
export const redisStoreOptionsSchema = z.strictObject({
  url: z.string().min(1).optional(),
  client: object('an ioredis connection').optional(),
  redisOptions: object('ioredis options').optional(),
  keyPrefix,
});

/** The options of the SQL server stores: a URL or a pool of the driver, the table, the key prefix. */
const sqlServerStore = (driver: string) =>
  z.strictObject({
    url: z.string().min(1).optional(),
    pool: object(`a ${driver} Pool`).optional(),
    poolOptions: object(`${driver} pool options`).optional(),
    table,
    keyPrefix,
    createTables: z.boolean().optional(),
  });

/** `PostgresTokenStore.connect(options)`. */
export const postgresStoreOptionsSchema = sqlServerStore('pg');

/** `MysqlTokenStore.connect(options)`. */
export const mysqlStoreOptionsSchema = sqlServerStore('mysql2');

/** `MemcachedTokenStore.connect(options)`. */
export const memcachedStoreOptionsSchema = z.strictObject({
  url: z.string().min(1).optional(),
  client: object('a memjs Client').optional(),
  clientOptions: object('memjs client options').optional(),
  keyPrefix,
  clock: clock().optional(),
});

/** The fields of `ResilientTokenStore` options that can be written as data. */
export const resilientStoreFields = {
  timeoutMs: duration({ positive: true }).optional(),
  retryAfterMs: duration().optional(),
};

/** `new ResilientTokenStore(inner, options)`. */
export const resilientStoreOptionsSchema = z.strictObject({
  ...resilientStoreFields,
  events: objectWith<object>('an EventHub', ['emit', 'on']).optional(),
  clock: clock().optional(),
});

/** `createTokenStore(config)`: the backend as data (the gateway's `store:` section maps onto it). */
export const tokenStoreConfigSchema = z.strictObject({
  type: z.enum(['memory', 'file', 'sqlite', 'redis', 'postgres', 'mysql', 'memcached']),
  url: z.string().min(1).optional(),
  path: z.string().min(1).optional(),
  keyPrefix,
  table,
  // Checked by EncryptedTokenStore, which names the bad entry without printing it.
  encryptionKeys: z.array(z.unknown()).optional(),
  resilient: z.union([z.boolean(), z.strictObject(resilientStoreFields)]).optional(),
  events: objectWith<object>('an EventHub', ['emit', 'on']).optional(),
  clock: clock().optional(),
});
