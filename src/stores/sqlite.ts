import { createHash, randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { type Duration, parseOptions } from '../core/options/index.js';
import { sqliteStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** Options of {@link SqliteTokenStore}. */
export interface SqliteTokenStoreOptions {
  /** The database file (created when missing), or `:memory:`. Ignored when `database` is given. */
  readonly path?: string;
  /** An open better-sqlite3 database of your own; the store does not close it. */
  readonly database?: BetterSqlite3.Database;
  /**
   * Table name; the lease table is `<table>_leases`. Letters, digits and `_` only.
   * @default 'reqforge_tokens'
   */
  readonly table?: string;
  /**
   * Namespace mixed into the stored key hash.
   * @default 'reqforge:'
   */
  readonly keyPrefix?: string;
  /**
   * How long a writer waits for another process's lock before failing, in milliseconds.
   * @default 5000
   */
  readonly busyTimeoutMs?: Duration;
  /** The clock whose wall time decides expiry; tests pass a FakeClock. */
  readonly clock?: Clock;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * A {@link TokenStore} in a SQLite database (better-sqlite3, loaded lazily): persistent, shared by
 * processes on one machine. WAL journal, a busy timeout, and leases taken inside `BEGIN IMMEDIATE`
 * (the database write lock) so check-and-take is atomic across processes. Expiry is wall-clock
 * milliseconds in an `expires_at` column; keys are stored as the SHA-256 of prefix + key.
 *
 * Schema (created when missing):
 * `CREATE TABLE <table> (key_hash TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL)`
 * and `CREATE TABLE <table>_leases (key_hash TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)`.
 *
 * @example
 * const store = await SqliteTokenStore.open({ path: './tokens.db' });
 */
export class SqliteTokenStore implements TokenStore {
  readonly name = 'sqlite';
  readonly #db: BetterSqlite3.Database;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #stmt: {
    get: BetterSqlite3.Statement<[string, number], { value: string }>;
    set: BetterSqlite3.Statement<[string, string, number]>;
    del: BetterSqlite3.Statement<[string]>;
    sweep: BetterSqlite3.Statement<[number]>;
    leaseGet: BetterSqlite3.Statement<[string], { owner: string; expires_at: number }>;
    leasePut: BetterSqlite3.Statement<[string, string, number]>;
    leaseDel: BetterSqlite3.Statement<[string, string]>;
  };
  readonly #take: BetterSqlite3.Transaction<
    (hash: string, owner: string, now: number, ttl: number) => boolean
  >;

  private constructor(
    db: BetterSqlite3.Database,
    owned: boolean,
    options: SqliteTokenStoreOptions,
    busyTimeoutMs: number,
  ) {
    const table = options.table ?? 'reqforge_tokens';
    if (!IDENT.test(table)) throw new InvalidOptionError('table', 'use letters, digits and _ only');
    this.#db = db;
    this.#owned = owned;
    this.#prefix = options.keyPrefix ?? 'reqforge:';
    this.#clock = options.clock ?? systemClock;
    if (owned) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma(`busy_timeout = ${Math.floor(busyTimeoutMs)}`);
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${table} (key_hash TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL);
       CREATE TABLE IF NOT EXISTS ${table}_leases (key_hash TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);`,
    );
    this.#stmt = {
      get: db.prepare(`SELECT value FROM ${table} WHERE key_hash = ? AND expires_at > ?`),
      set: db.prepare(
        `INSERT INTO ${table} (key_hash, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key_hash) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      ),
      del: db.prepare(`DELETE FROM ${table} WHERE key_hash = ?`),
      sweep: db.prepare(`DELETE FROM ${table} WHERE expires_at <= ?`),
      leaseGet: db.prepare(`SELECT owner, expires_at FROM ${table}_leases WHERE key_hash = ?`),
      leasePut: db.prepare(
        `INSERT INTO ${table}_leases (key_hash, owner, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key_hash) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
      ),
      leaseDel: db.prepare(`DELETE FROM ${table}_leases WHERE key_hash = ? AND owner = ?`),
    };
    this.#take = db.transaction((hash: string, owner: string, now: number, ttl: number) => {
      const held = this.#stmt.leaseGet.get(hash);
      if (held && held.expires_at > now) return false;
      this.#stmt.leasePut.run(hash, owner, Math.ceil(now + ttl));
      return true;
    });
  }

  /** Opens (or adopts) the database, switches it to WAL, and creates the tables when missing. */
  static async open(options: SqliteTokenStoreOptions): Promise<SqliteTokenStore> {
    const busy = parseOptions(sqliteStoreOptionsSchema, options).busyTimeoutMs ?? 5000;
    if (options.database) return new SqliteTokenStore(options.database, false, options, busy);
    if (!options.path) throw new InvalidOptionError('path', 'give a database file path or a `database`');
    const { default: Database } = await import('better-sqlite3');
    return new SqliteTokenStore(new Database(options.path), true, options, busy);
  }

  #hash(key: string): string {
    return createHash('sha256').update(this.#prefix).update('\0').update(key).digest('hex');
  }

  async get(key: string): Promise<string | undefined> {
    return this.#stmt.get.get(this.#hash(key), this.#clock.wallNow())?.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return this.delete(key);
    const now = this.#clock.wallNow();
    this.#stmt.set.run(this.#hash(key), value, Math.ceil(now + ttlMs));
    // Expired rows of keys never written again would pile up; sweep now and then.
    if (Math.random() < 0.01) this.#stmt.sweep.run(now);
  }

  async delete(key: string): Promise<void> {
    this.#stmt.del.run(this.#hash(key));
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const hash = this.#hash(key);
    const owner = randomUUID();
    if (!this.#take.immediate(hash, owner, this.#clock.wallNow(), ttlMs)) return undefined;
    return {
      key,
      owner,
      release: async () => {
        this.#stmt.leaseDel.run(hash, owner);
      },
    };
  }

  async close(): Promise<void> {
    if (this.#owned && this.#db.open) this.#db.close();
  }
}
