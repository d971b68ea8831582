import { createHash, randomUUID } from 'node:crypto';
import type { Pool as CallbackPool } from 'mysql2';
import type { Pool, PoolOptions, RowDataPacket } from 'mysql2/promise';
import { InvalidOptionError } from '../core/errors.js';
import { parseOptions } from '../core/options/index.js';
import { createLease } from './lease.js';
import { mysqlStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** Options of {@link MysqlTokenStore}. */
export interface MysqlTokenStoreOptions {
  /** A `mysql://user:password@host:port/database` URL. Ignored when `pool` is given. */
  readonly url?: string;
  /** Your own mysql2 pool (promise or callback flavour); the store does not end it. */
  readonly pool?: Pool | CallbackPool;
  /** Extra pool options when the store creates the pool. */
  readonly poolOptions?: PoolOptions;
  /**
   * Table name; the lease table is `<table>_leases`.
   * @default 'reqforge_tokens'
   */
  readonly table?: string;
  /**
   * Namespace mixed into the stored key hash.
   * @default 'reqforge:'
   */
  readonly keyPrefix?: string;
  /**
   * Create the tables when missing.
   * @default true
   */
  readonly createTables?: boolean;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,50}$/;
/** Server time in epoch milliseconds, independent of the session time zone. */
const NOW_MS = 'CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)';

/** The schema {@link MysqlTokenStore} creates (with `reqforge_tokens` replaced by the table name). */
export const mysqlSchema = (table = 'reqforge_tokens'): string[] => [
  `CREATE TABLE IF NOT EXISTS ${table} (
     key_hash   CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
     value      LONGTEXT NOT NULL,
     expires_at BIGINT NOT NULL
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS ${table}_leases (
     key_hash   CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
     owner      CHAR(36) CHARACTER SET ascii NOT NULL,
     expires_at BIGINT NOT NULL
   ) ENGINE=InnoDB`,
];

/**
 * A {@link TokenStore} on MySQL or MariaDB (mysql2, loaded lazily): shared by every replica.
 *
 * Leases are rows taken by one compare-and-set upsert (`INSERT … ON DUPLICATE KEY UPDATE owner =
 * IF(expires_at <= now, new owner, owner) …`) and confirmed by reading the owner back; release deletes
 * the row only when the owner still matches. `GET_LOCK` was not used: it is bound to one connection, so
 * every held lease would pin a pooled connection for its whole life, and it has no expiry of its own.
 * Expiry uses the database server's clock (`UNIX_TIMESTAMP(NOW(3))`), independent of session time zones.
 *
 * @example
 * const store = await MysqlTokenStore.connect({ url: 'mysql://root@127.0.0.1:3306/app' });
 */
export class MysqlTokenStore implements TokenStore {
  readonly name = 'mysql';
  readonly #pool: Pool;
  readonly #owned: boolean;
  readonly #table: string;
  readonly #prefix: string;

  private constructor(pool: Pool, owned: boolean, table: string, prefix: string) {
    this.#pool = pool;
    this.#owned = owned;
    this.#table = table;
    this.#prefix = prefix;
  }

  /** Creates (or adopts `options.pool`) a pool, checks the connection and creates the tables when missing. */
  static async connect(options: MysqlTokenStoreOptions): Promise<MysqlTokenStore> {
    parseOptions(mysqlStoreOptionsSchema, options);
    const table = options.table ?? 'reqforge_tokens';
    if (!IDENT.test(table)) throw new InvalidOptionError('table', 'use letters, digits and _ only');
    let pool: Pool;
    const owned = options.pool === undefined;
    if (options.pool) {
      const given = options.pool as { promise?: () => Pool };
      // A callback pool has promise(); a promise pool exposes the callback one as `.pool`.
      pool = !('pool' in given) && typeof given.promise === 'function' ? given.promise() : (given as Pool);
    } else {
      if (!options.url && !options.poolOptions) {
        throw new InvalidOptionError('url', 'give a mysql:// URL or a `pool`');
      }
      const mysql = await import('mysql2/promise');
      const create = mysql.createPool ?? mysql.default.createPool;
      pool = create({
        ...(options.url === undefined ? {} : { uri: options.url }),
        connectionLimit: 10,
        connectTimeout: 5_000,
        ...options.poolOptions,
      });
    }
    const store = new MysqlTokenStore(pool, owned, table, options.keyPrefix ?? 'reqforge:');
    try {
      if (options.createTables ?? true) for (const ddl of mysqlSchema(table)) await pool.query(ddl);
      else await pool.query('SELECT 1');
    } catch (error) {
      if (owned) await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  #hash(key: string): string {
    return createHash('sha256').update(this.#prefix).update('\0').update(key).digest('hex');
  }

  async get(key: string): Promise<string | undefined> {
    const [rows] = await this.#pool.query<RowDataPacket[]>(
      `SELECT value FROM ${this.#table} WHERE key_hash = ? AND expires_at > ${NOW_MS}`,
      [this.#hash(key)],
    );
    return (rows[0] as { value: string } | undefined)?.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return this.delete(key);
    await this.#pool.query(
      `INSERT INTO ${this.#table} (key_hash, value, expires_at) VALUES (?, ?, ${NOW_MS} + ?)
       ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at)`,
      [this.#hash(key), value, Math.ceil(ttlMs)],
    );
    if (Math.random() < 0.01)
      await this.#pool.query(`DELETE FROM ${this.#table} WHERE expires_at <= ${NOW_MS}`);
  }

  async delete(key: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#table} WHERE key_hash = ?`, [this.#hash(key)]);
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const hash = this.#hash(key);
    const owner = randomUUID();
    const leases = `${this.#table}_leases`;
    for (let attempt = 0; ; attempt++) {
      try {
        // Assignments run left to right; `owner` first, so both IFs still see the old expires_at.
        await this.#pool.query(
          `INSERT INTO ${leases} (key_hash, owner, expires_at) VALUES (?, ?, ${NOW_MS} + ?)
           ON DUPLICATE KEY UPDATE
             owner = IF(expires_at <= ${NOW_MS}, VALUES(owner), owner),
             expires_at = IF(expires_at <= ${NOW_MS}, VALUES(expires_at), expires_at)`,
          [hash, owner, Math.max(1, Math.ceil(ttlMs))],
        );
        break;
      } catch (error) {
        // Concurrent upserts of one new key can deadlock; InnoDB lets one through, so try once more.
        if ((error as { code?: string }).code !== 'ER_LOCK_DEADLOCK' || attempt > 0) throw error;
      }
    }
    const [rows] = await this.#pool.query<RowDataPacket[]>(`SELECT owner FROM ${leases} WHERE key_hash = ?`, [
      hash,
    ]);
    if ((rows[0] as { owner: string } | undefined)?.owner !== owner) return undefined;
    return createLease(key, owner, async () => {
      await this.#pool.query(`DELETE FROM ${leases} WHERE key_hash = ? AND owner = ?`, [hash, owner]);
    });
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}
