import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { createTokenStore } from '../../src/stores/connect.js';
import { EncryptedTokenStore, TOKEN_KEY_ENV } from '../../src/stores/encrypted.js';
import { MemcachedTokenStore, memcachedExpiry } from '../../src/stores/memcached.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { MysqlTokenStore } from '../../src/stores/mysql.js';
import { PostgresTokenStore } from '../../src/stores/postgres.js';
import { RedisTokenStore } from '../../src/stores/redis.js';
import { ResilientTokenStore } from '../../src/stores/resilient.js';
import { SqliteTokenStore } from '../../src/stores/sqlite.js';
import { describeWithService, runId, SERVICE_URLS, serviceUp } from './services.js';

const [redisUp, pgUp, mysqlUp, mcUp] = await Promise.all([
  serviceUp('redis'),
  serviceUp('postgres'),
  serviceUp('mysql'),
  serviceUp('memcached'),
]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reqforge-backends-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function invalidOption(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (error) {
    if (isInvalidOptionError(error)) return error.option;
    throw error;
  }
  return undefined;
}

describe('createTokenStore', () => {
  it('builds memory, file and sqlite stores, resilient by default except memory', async () => {
    const memory = await createTokenStore({ type: 'memory' });
    expect(memory).toBeInstanceOf(MemoryTokenStore);
    const file = await createTokenStore({ type: 'file', path: join(dir, 'cfg-file') });
    expect(file).toBeInstanceOf(ResilientTokenStore);
    expect(file.name).toBe('file');
    await file.set('k', 'v', 60_000);
    expect(await file.get('k')).toBe('v');
    const sqlite = await createTokenStore({ type: 'sqlite', path: join(dir, 'cfg.db'), resilient: false });
    expect(sqlite).toBeInstanceOf(SqliteTokenStore);
    await Promise.all([memory.close(), file.close(), sqlite.close()]);
  });

  it('encrypts with configured keys or REQFORGE_TOKEN_KEY', async () => {
    const key = randomBytes(32).toString('base64');
    const store = await createTokenStore({ type: 'memory', encryptionKeys: [key] });
    expect(store).toBeInstanceOf(EncryptedTokenStore);
    process.env[TOKEN_KEY_ENV] = randomBytes(32).toString('hex');
    try {
      const fromEnv = await createTokenStore({ type: 'memory', resilient: true });
      expect((fromEnv as ResilientTokenStore).inner).toBeInstanceOf(EncryptedTokenStore);
    } finally {
      delete process.env[TOKEN_KEY_ENV];
    }
  });

  it('explains bad configs with the option name', async () => {
    expect(await invalidOption(() => createTokenStore({ type: 'file' }))).toBe('path');
    expect(await invalidOption(() => createTokenStore({ type: 'postgres' }))).toBe('url');
    expect(await invalidOption(() => createTokenStore({ type: 'nope' as 'memory' }))).toBe('type');
    expect(
      await invalidOption(() => createTokenStore({ type: 'memory', encryptionKeys: ['c2hvcnQ='] })),
    ).toBe('encryptionKeys[0]');
    expect(
      await invalidOption(() =>
        createTokenStore({ type: 'sqlite', path: join(dir, 'x.db'), table: 'x; DROP' }),
      ),
    ).toBe('table');
  });
});

describe('SqliteTokenStore', () => {
  it('uses WAL and adopts a database it then leaves open', async () => {
    const path = join(dir, 'wal.db');
    const store = await SqliteTokenStore.open({ path });
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const adopted = await SqliteTokenStore.open({ database: db, table: 'mine' });
    await adopted.set('k', 'v', 60_000);
    await adopted.close();
    expect(db.open).toBe(true);
    db.close();
    await store.close();
  });
});

describe('memcachedExpiry', () => {
  it('rounds up to whole seconds plus one, absolute past 30 days', () => {
    expect(memcachedExpiry(1)).toBe(2);
    expect(memcachedExpiry(1_000)).toBe(2);
    expect(memcachedExpiry(1_001)).toBe(3);
    const now = Date.UTC(2026, 0, 1);
    expect(memcachedExpiry(31 * 24 * 3600 * 1000, now)).toBe(now / 1000 + 31 * 24 * 3600 + 1);
  });

  it('rejects a key prefix memcached cannot store', async () => {
    expect(
      await invalidOption(() => MemcachedTokenStore.connect({ client: {} as never, keyPrefix: 'has space' })),
    ).toBe('keyPrefix');
  });
});

describeWithService('redis', redisUp, 'RedisTokenStore with your own client', () => {
  it('uses the prefix, sets a PX TTL, and leaves the client open', async () => {
    const { Redis } = await import('ioredis');
    const client = new Redis(SERVICE_URLS.redis);
    const prefix = `${runId('own')}:`;
    const store = await RedisTokenStore.connect({ client, keyPrefix: prefix });
    await store.set('k', 'v', 5_000);
    const ttl = await client.pttl(`${prefix}v:k`);
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
    await store.close();
    expect(await client.get(`${prefix}v:k`)).toBe('v');
    await client.del(`${prefix}v:k`);
    await client.quit();
  });
});

describeWithService('postgres', pgUp, 'PostgresTokenStore with your own pool', () => {
  it('creates its tables and leaves the pool open', async () => {
    const pg = await import('pg');
    const pool = new pg.default.Pool({ connectionString: SERVICE_URLS.postgres, max: 2 });
    const table = runId('pgown');
    const store = await PostgresTokenStore.connect({ pool, table });
    await store.set('k', 'v', 60_000);
    await store.close();
    const { rows } = await pool.query(`SELECT key_hash, expires_at > now() AS live FROM ${table}`);
    expect(rows).toHaveLength(1);
    expect(rows[0].live).toBe(true);
    await pool.query(`DROP TABLE ${table}; DROP TABLE ${table}_leases`);
    await pool.end();
  });
});

describeWithService('mysql', mysqlUp, 'MysqlTokenStore with your own pool', () => {
  it('accepts a callback or promise pool and leaves it open', async () => {
    const mysql = await import('mysql2');
    const pool = mysql.default.createPool({ uri: SERVICE_URLS.mysql, connectionLimit: 2 });
    const table = runId('myown');
    const store = await MysqlTokenStore.connect({ pool, table });
    await store.set('k', 'v', 60_000);
    await store.close();
    const promisePool = pool.promise();
    const again = await MysqlTokenStore.connect({ pool: promisePool, table });
    expect(await again.get('k')).toBe('v');
    await promisePool.query(`DROP TABLE ${table}, ${table}_leases`);
    await promisePool.end();
  });
});

describeWithService('memcached', mcUp, 'MemcachedTokenStore with your own client', () => {
  it('stores under a hashed key and leaves the client open', async () => {
    const memjs = await import('memjs');
    const client = memjs.default.Client.create(SERVICE_URLS.memcached, { logger: { log: () => undefined } });
    const store = await MemcachedTokenStore.connect({ client, keyPrefix: `${runId('mcown')}:` });
    const key = `${'x'.repeat(400)} with spaces`;
    await store.set(key, 'v', 60_000);
    await store.close();
    const raw = await client.get(store.storageKey(key));
    expect(raw.value?.toString()).toMatch(/^rf1\n\d+\nv$/);
    await client.delete(store.storageKey(key));
    client.close();
  });
});
