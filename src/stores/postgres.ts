import { createHash, randomUUID } from 'node:crypto';
import type { Pool, PoolConfig } from 'pg';
import { InvalidOptionError } from '../core/errors.js';
import { parseOptions } from '../core/options/index.js';
import { createLease } from './lease.js';
import { postgresStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** Options of {@link PostgresTokenStore}. */
export interface PostgresTokenStoreOptions {
  /** A `postgres://` connection string. Ignored when `pool` is given. */
  readonly url?: string;
  /** Your own pg `Pool`; the store does not end it. */
  readonly pool?: Pool;
  /** Extra pool options when the store creates the pool. */
  readonly poolOptions?: PoolConfig;
  /**
   * Table name (optionally `schema.table`); the lease table is `<table>_leases`.
   * @default 'reqforge_tokens'
   */
  readonly table?: string;
  /**
   * Namespace mixed into the stored key hash.
   * @default 'reqforge:'
   */
  readonly keyPrefix?: string;
  /**
   * Create the tables when missing. Turn off when the application role may not run DDL.
   * @default true
   */
  readonly createTables?: boolean;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,50}(\.[A-Za-z_][A-Za-z0-9_]{0,50})?$/;

/**
 * The schema {@link PostgresTokenStore} creates (with `reqforge_tokens` replaced by the table name).
 * Times are the database server's clock, so replicas with skewed clocks still agree.
 */
export const postgresSchema = (table = 'reqforge_tokens'): string => `
CREATE TABLE IF NOT EXISTS ${table} (
  key_hash   text PRIMARY KEY,
  value      text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ${table}_leases (
  key_hash   text PRIMARY KEY,
  owner      text NOT NULL,
  expires_at timestamptz NOT NULL
);`;

/**
 * A {@link TokenStore} on PostgreSQL (pg, loaded lazily): shared by every replica.
 *
 * Leases are rows taken with one compare-and-set statement,
 * `INSERT … ON CONFLICT (key_hash) DO UPDATE … WHERE <table>_leases.expires_at <= clock_timestamp()`,
 * and released with `DELETE … WHERE owner = $owner`. Session advisory locks were not used: they belong
 * to one pooled connection (another caller that gets the connection back from the pool "holds" them too,
 * and holding the connection out of the pool for the lease's life starves it), and they never expire by
 * themselves while the connection lives. The lease row expires on the server clock like every other store.
 *
 * @example
 * const store = await PostgresTokenStore.connect({ url: 'postgres://postgres@127.0.0.1:5432/app' });
 */
export class PostgresTokenStore implements TokenStore {
  readonly name = 'postgres';
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
  static async connect(options: PostgresTokenStoreOptions): Promise<PostgresTokenStore> {
    parseOptions(postgresStoreOptionsSchema, options);
    const table = options.table ?? 'reqforge_tokens';
    if (!IDENT.test(table))
      throw new InvalidOptionError('table', 'use letters, digits and _ (schema.table allowed)');
    let pool = options.pool;
    const owned = pool === undefined;
    if (!pool) {
      if (!options.url && !options.poolOptions) {
        throw new InvalidOptionError('url', 'give a postgres:// connection string or a `pool`');
      }
      const pg = await import('pg');
      const PgPool = pg.default?.Pool ?? (pg as unknown as { Pool: typeof Pool }).Pool;
      pool = new PgPool({
        ...(options.url === undefined ? {} : { connectionString: options.url }),
        max: 10,
        connectionTimeoutMillis: 5_000,
        ...options.poolOptions,
      });
      // An idle client that loses its connection emits 'error' on the pool; the next query reconnects.
      pool.on('error', () => undefined);
    }
    const store = new PostgresTokenStore(pool, owned, table, options.keyPrefix ?? 'reqforge:');
    try {
      if (options.createTables ?? true) {
        // Two processes creating the table at once race in the catalog; the loser's error is harmless.
        await pool.query(postgresSchema(table)).catch((error: unknown) => {
          const code = (error as { code?: string }).code;
          if (code !== '23505' && code !== '42P07') throw error;
        });
      } else await pool.query('SELECT 1');
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
    const result = await this.#pool.query<{ value: string }>(
      `SELECT value FROM ${this.#table} WHERE key_hash = $1 AND expires_at > clock_timestamp()`,
      [this.#hash(key)],
    );
    return result.rows[0]?.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return this.delete(key);
    await this.#pool.query(
      `INSERT INTO ${this.#table} (key_hash, value, expires_at)
       VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
       ON CONFLICT (key_hash) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [this.#hash(key), value, Math.ceil(ttlMs)],
    );
    if (Math.random() < 0.01) {
      await this.#pool.query(`DELETE FROM ${this.#table} WHERE expires_at <= clock_timestamp()`);
    }
  }

  async delete(key: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#table} WHERE key_hash = $1`, [this.#hash(key)]);
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const hash = this.#hash(key);
    const owner = randomUUID();
    const leases = `${this.#table}_leases`;
    const result = await this.#pool.query(
      `INSERT INTO ${leases} (key_hash, owner, expires_at)
       VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
       ON CONFLICT (key_hash) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
       WHERE ${leases}.expires_at <= clock_timestamp()
       RETURNING owner`,
      [hash, owner, Math.max(1, Math.ceil(ttlMs))],
    );
    if (result.rows.length === 0) return undefined;
    return createLease(key, owner, async () => {
      await this.#pool.query(`DELETE FROM ${leases} WHERE key_hash = $1 AND owner = $2`, [hash, owner]);
    });
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#pool.end();
  }
}
