import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileTokenStore } from '../../src/stores/file.js';
import { MemcachedTokenStore } from '../../src/stores/memcached.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { MysqlTokenStore } from '../../src/stores/mysql.js';
import { PostgresTokenStore } from '../../src/stores/postgres.js';
import { RedisTokenStore } from '../../src/stores/redis.js';
import { SqliteTokenStore } from '../../src/stores/sqlite.js';
import type { TokenStore } from '../../src/stores/types.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import type { StoreHarness } from './contract.js';
import { runId, SERVICE_URLS, type ServiceName } from './services.js';

/** A harness plus a way to read every stored value back exactly as the backend holds it. */
export interface BackendHarness extends StoreHarness {
  /** Every value the backend holds for this run, raw (for `keys`, when the backend cannot list). */
  readRaw(keys: readonly string[]): Promise<string[]>;
}

/** A backend the suites run against. */
export interface Backend {
  readonly name: string;
  /** The service it needs, if any. */
  readonly service?: ServiceName;
  /** True when values survive the process. */
  readonly persistent: boolean;
  create(): Promise<BackendHarness>;
}

const realAdvance = (ms: number) => sleep(ms);

export const memoryBackend: Backend = {
  name: 'memory',
  persistent: false,
  async create() {
    const clock = new FakeClock();
    const store = new MemoryTokenStore({ clock });
    return {
      store,
      other: store, // one process: the same instance is the only view
      realTime: false,
      advance: (ms) => clock.advance(ms),
      readRaw: async () => [],
      cleanup: () => store.close(),
    };
  },
};

export const fileBackend: Backend = {
  name: 'file',
  persistent: true,
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'reqforge-file-'));
    const clock = new FakeClock();
    const path = join(dir, 'tokens');
    const store = await FileTokenStore.open({ path, clock, keyPrefix: 'a:' });
    const other = await FileTokenStore.open({ path, clock, keyPrefix: 'a:' });
    return {
      store,
      other,
      realTime: false,
      advance: (ms) => clock.advance(ms),
      readRaw: async () => {
        const names = (await readdir(path)).filter((f) => f.startsWith('v-'));
        return Promise.all(names.map((f) => readFile(join(path, f), 'utf8')));
      },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

export const sqliteBackend: Backend = {
  name: 'sqlite',
  persistent: true,
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'reqforge-sqlite-'));
    const clock = new FakeClock();
    const path = join(dir, 'tokens.db');
    const store = await SqliteTokenStore.open({ path, clock });
    const other = await SqliteTokenStore.open({ path, clock });
    return {
      store,
      other,
      realTime: false,
      advance: (ms) => clock.advance(ms),
      readRaw: async () => {
        const { default: Database } = await import('better-sqlite3');
        const db = new Database(path, { readonly: true });
        try {
          return (db.prepare('SELECT value FROM reqforge_tokens').all() as { value: string }[]).map(
            (r) => r.value,
          );
        } finally {
          db.close();
        }
      },
      cleanup: async () => {
        await store.close();
        await other.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

export const redisBackend: Backend = {
  name: 'redis',
  service: 'redis',
  persistent: true,
  async create() {
    const keyPrefix = `${runId('redis')}:`;
    const store = await RedisTokenStore.connect({ url: SERVICE_URLS.redis, keyPrefix });
    const other = await RedisTokenStore.connect({ url: SERVICE_URLS.redis, keyPrefix });
    const client = store.client;
    const keys = async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        found.push(...batch);
      } while (cursor !== '0');
      return found;
    };
    return {
      store,
      other,
      realTime: true,
      advance: realAdvance,
      readRaw: async () => {
        const values = (await keys()).filter((k) => k.startsWith(`${keyPrefix}v:`));
        return (await Promise.all(values.map((k) => client.get(k)))).filter((v): v is string => v !== null);
      },
      cleanup: async () => {
        const all = await keys();
        if (all.length > 0) await client.del(...all);
        await store.close();
        await other.close();
      },
    };
  },
};

export const postgresBackend: Backend = {
  name: 'postgres',
  service: 'postgres',
  persistent: true,
  async create() {
    const table = runId('pg');
    const store = await PostgresTokenStore.connect({ url: SERVICE_URLS.postgres, table });
    const other = await PostgresTokenStore.connect({ url: SERVICE_URLS.postgres, table });
    const pg = await import('pg');
    const admin = new pg.default.Pool({ connectionString: SERVICE_URLS.postgres, max: 1 });
    return {
      store,
      other,
      realTime: true,
      advance: realAdvance,
      readRaw: async () =>
        (await admin.query<{ value: string }>(`SELECT value FROM ${table}`)).rows.map((r) => r.value),
      cleanup: async () => {
        await store.close();
        await other.close();
        await admin.query(`DROP TABLE IF EXISTS ${table}; DROP TABLE IF EXISTS ${table}_leases`);
        await admin.end();
      },
    };
  },
};

export const mysqlBackend: Backend = {
  name: 'mysql',
  service: 'mysql',
  persistent: true,
  async create() {
    const table = runId('my');
    const store = await MysqlTokenStore.connect({ url: SERVICE_URLS.mysql, table });
    const other = await MysqlTokenStore.connect({ url: SERVICE_URLS.mysql, table });
    const mysql = await import('mysql2/promise');
    const admin = mysql.createPool({ uri: SERVICE_URLS.mysql, connectionLimit: 1 });
    return {
      store,
      other,
      realTime: true,
      advance: realAdvance,
      readRaw: async () => {
        const [rows] = await admin.query(`SELECT value FROM ${table}`);
        return (rows as { value: string }[]).map((r) => r.value);
      },
      cleanup: async () => {
        await store.close();
        await other.close();
        await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
        await admin.end();
      },
    };
  },
};

export const memcachedBackend: Backend = {
  name: 'memcached',
  service: 'memcached',
  persistent: true,
  async create() {
    const keyPrefix = `${runId('mc')}:`;
    const clock = new FakeClock(Date.now());
    const store = await MemcachedTokenStore.connect({ url: SERVICE_URLS.memcached, keyPrefix, clock });
    const other = await MemcachedTokenStore.connect({ url: SERVICE_URLS.memcached, keyPrefix, clock });
    const memjs = await import('memjs');
    const raw = memjs.default.Client.create(SERVICE_URLS.memcached, { logger: { log: () => undefined } });
    return {
      store,
      other,
      realTime: false,
      advance: (ms) => clock.advance(ms),
      // Memcached cannot list keys: read the documented key of each value written.
      readRaw: async (keys) => {
        const values = await Promise.all(keys.map((k) => raw.get(store.storageKey(k))));
        return values.flatMap((v) => (v.value ? [v.value.toString('utf8')] : []));
      },
      cleanup: async () => {
        await store.close();
        await other.close();
        raw.close();
      },
    };
  },
};

/** Every backend, in-process ones first. */
export const BACKENDS: readonly Backend[] = [
  memoryBackend,
  fileBackend,
  sqliteBackend,
  redisBackend,
  postgresBackend,
  mysqlBackend,
  memcachedBackend,
];

/** Closes a store, ignoring errors (for teardown). */
export async function closeQuietly(store: TokenStore | undefined): Promise<void> {
  await store?.close().catch(() => undefined);
}
