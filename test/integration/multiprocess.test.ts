import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import type { TokenStoreConfig } from '../../src/stores/connect.js';
import { mysqlSchema } from '../../src/stores/mysql.js';
import { postgresSchema } from '../../src/stores/postgres.js';
import { ChildWorker, type WorkerMessage } from '../helpers/child-worker.js';
import { compileSrc } from '../helpers/compile.js';
import { describeWithService, runId, SERVICE_URLS, serviceUp } from '../stores/services.js';

const here = dirname(fileURLToPath(import.meta.url));
const WORKERS = 4;
const CALLS = 1_000;

/** What a worker reports after its burst (see token-worker.mjs). */
interface WorkerResult {
  pid: number;
  ok: number;
  failed: number;
  errors: string[];
  durationMs: number;
  /** When the worker's manager had its token, in ms after "go". */
  tokenMs: number;
  acquired: ('provider' | 'store')[];
  refreshed: ('provider' | 'store')[];
  storeError: string[];
  storeDown: number;
  storeUp: number;
  tokenStoreErrors: string[];
  tokenFailures: string[];
}

type Message = WorkerMessage & Partial<WorkerResult>;

/** A forked worker with a "wait for the next message of this type" helper. */
class Worker extends ChildWorker<Message> {
  constructor(indexUrl: string) {
    super(join(here, 'token-worker.mjs'), [indexUrl]);
  }

  override stop(): Promise<void> {
    return super.stop(2_000);
  }
}

const redisUp = await serviceUp('redis');
const postgresUp = await serviceUp('postgres');
const mysqlUp = await serviceUp('mysql');
const memcachedUp = await serviceUp('memcached');

let idp: OAuthServer;
let workers: Worker[] = [];
const clients = {
  redis: { id: runId('mp_redis'), secret: randomBytes(16).toString('hex') },
  postgres: { id: runId('mp_postgres'), secret: randomBytes(16).toString('hex') },
  file: { id: runId('mp_file'), secret: randomBytes(16).toString('hex') },
  rv_redis: { id: runId('rv_redis'), secret: randomBytes(16).toString('hex') },
  rv_postgres: { id: runId('rv_postgres'), secret: randomBytes(16).toString('hex') },
  rv_mysql: { id: runId('rv_mysql'), secret: randomBytes(16).toString('hex') },
  rv_memcached: { id: runId('rv_memcached'), secret: randomBytes(16).toString('hex') },
  rv_sqlite: { id: runId('rv_sqlite'), secret: randomBytes(16).toString('hex') },
  rv_file: { id: runId('rv_file'), secret: randomBytes(16).toString('hex') },
};

beforeAll(async () => {
  const indexUrl = await compileSrc();
  idp = await startOAuthServer({
    clients: Object.fromEntries(Object.values(clients).map((c) => [c.id, c.secret])),
  });
  workers = Array.from({ length: WORKERS }, () => new Worker(indexUrl));
  await Promise.all(workers.map((w) => w.next('loaded')));
}, 30_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await idp?.close();
});

/**
 * Sets up a replica in every worker over `store`, starts them together with one "go", and checks:
 * exactly one token issued for the client id, every call answered 200 with that client's token.
 */
async function burst(label: keyof typeof clients, store: TokenStoreConfig): Promise<void> {
  const client = clients[label];
  const run = {
    store,
    tokenUrl: idp.tokenUrl,
    apiUrl: idp.url,
    clientId: client.id,
    clientSecret: client.secret,
    calls: CALLS,
    connections: 16,
  };
  const before = idp.stats();
  const ready = workers.map((w) => w.next('ready'));
  for (const w of workers) w.send({ type: 'setup', run });
  await Promise.all(ready);
  // Every replica is connected to the store and has its client built: release them at once.
  const started = performance.now();
  const done = workers.map((w) => w.next('result', 30_000));
  for (const w of workers) w.send({ type: 'go' });
  const results = (await Promise.all(done)) as unknown as WorkerResult[];
  const wallMs = Math.round(performance.now() - started);
  const after = idp.stats();

  const issued = after.tokensIssued[client.id] ?? 0;
  const ok = results.reduce((n, r) => n + r.ok, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const sources = results.flatMap((r) => r.acquired);
  console.info(
    `[multiprocess:${label}] ${WORKERS} workers × ${CALLS} calls: ok=${ok} failed=${failed} ` +
      `tokensIssued=${issued} acquired=${sources.join(',')} wall=${wallMs}ms ` +
      `per-worker=${results.map((r) => r.durationMs).join('/')}ms token-at=${results.map((r) => r.tokenMs).join('/')}ms`,
  );

  expect(results.flatMap((r) => r.errors)).toEqual([]);
  expect(failed).toBe(0);
  expect(ok).toBe(WORKERS * CALLS);
  expect(issued).toBe(1);
  // One replica fetched from the IdP; every other one adopted that token from the store.
  expect(sources.filter((s) => s === 'provider')).toHaveLength(1);
  expect(sources.filter((s) => s === 'store')).toHaveLength(WORKERS - 1);
  // The store worked throughout: nothing was papered over by the resilient wrapper.
  expect(results.flatMap((r) => [...r.storeError, ...r.tokenStoreErrors, ...r.tokenFailures])).toEqual([]);
  expect(after.api.calls - before.api.calls).toBe(WORKERS * CALLS);
  expect(after.api.unauthorized - before.api.unauthorized).toBe(0);
}

/** Runs one `go` on every worker at once and returns their results. */
async function goAll(): Promise<WorkerResult[]> {
  const done = workers.map((w) => w.next('result', 30_000));
  for (const w of workers) w.send({ type: 'go' });
  return (await Promise.all(done)) as unknown as WorkerResult[];
}

/**
 * Issue 11 item 1 across processes: every worker holds the same token; the IdP revokes it; the next burst in
 * every worker succeeds, with exactly one new token issued between them, fetched by one worker and adopted
 * from the store by the others. Nothing serves the revoked token after its 401.
 */
async function revocation(label: keyof typeof clients, store: TokenStoreConfig): Promise<void> {
  const client = clients[label];
  const run = {
    store,
    tokenUrl: idp.tokenUrl,
    apiUrl: idp.url,
    clientId: client.id,
    clientSecret: client.secret,
    calls: 20,
    connections: 4,
    keep: true,
  };
  const ready = workers.map((w) => w.next('ready'));
  for (const w of workers) w.send({ type: 'setup', run });
  await Promise.all(ready);
  try {
    const before = await goAll();
    expect(before.flatMap((r) => r.errors)).toEqual([]);
    expect(idp.stats().tokensIssued[client.id]).toBe(1);
    const issued = idp.issuedSecrets().filter((t) => t.startsWith('sbx_access_'));
    // The sandbox keeps every token it issued: the last one is this client's.
    expect(idp.revoke(issued.at(-1)!)).toBe(true);
    const after = await goAll();
    const refreshed = after.flatMap((r) => r.refreshed);
    console.info(`[multiprocess:${label}] after revocation: refreshed=${refreshed.join(',')}`);
    expect(after.flatMap((r) => r.errors)).toEqual([]);
    expect(after.reduce((n, r) => n + r.ok, 0)).toBe(WORKERS * run.calls);
    expect(idp.stats().tokensIssued[client.id]).toBe(2);
    expect(refreshed.filter((s) => s === 'provider')).toHaveLength(1);
    expect(refreshed.filter((s) => s === 'store')).toHaveLength(WORKERS - 1);
    // A third burst: every worker serves the replacement, no 401 at all.
    const unauthorized = idp.stats().api.unauthorized;
    const third = await goAll();
    expect(third.flatMap((r) => r.errors)).toEqual([]);
    expect(idp.stats().api.unauthorized).toBe(unauthorized);
    expect(idp.stats().tokensIssued[client.id]).toBe(2);
  } finally {
    const closed = workers.map((w) => w.next('closed'));
    for (const w of workers) w.send({ type: 'teardown' });
    await Promise.all(closed);
  }
}

// Generous store timeouts: this test is about single flight, not about a store slowed by a busy CI box.
const resilient = { timeoutMs: 5_000, retryAfterMs: 1_000 };

/** Deletes every Redis key under `prefix`. */
async function dropRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(SERVICE_URLS.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 100);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

const title = `${WORKERS} × ${CALLS} concurrent calls on a cold cache: 1 token, 0 failures`;

describe(`TokenManager across ${WORKERS} processes sharing one store`, () => {
  describeWithService('redis', redisUp, 'Redis', () => {
    it(title, async () => {
      const keyPrefix = `${runId('mp')}:`;
      try {
        await burst('redis', { type: 'redis', url: SERVICE_URLS.redis, keyPrefix, resilient });
      } finally {
        await dropRedisKeys(keyPrefix);
      }
    }, 40_000);
  });

  describeWithService('postgres', postgresUp, 'PostgreSQL', () => {
    it(title, async () => {
      const table = runId('mp');
      const pool = new pg.Pool({ connectionString: SERVICE_URLS.postgres, max: 1 });
      try {
        // Created once here, so the workers' CREATE TABLE IF NOT EXISTS is a no-op.
        await pool.query(postgresSchema(table));
        await burst('postgres', { type: 'postgres', url: SERVICE_URLS.postgres, table, resilient });
      } finally {
        await pool.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
        await pool.end();
      }
    }, 40_000);
  });

  describe('file store', () => {
    it(title, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'reqforge-mp-'));
      try {
        await burst('file', { type: 'file', path: join(dir, 'tokens'), resilient });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 40_000);
  });
});

describe(`A token revoked at the IdP, ${WORKERS} processes sharing one store`, () => {
  const title = 'the next calls succeed everywhere with one new token, fetched once';
  describeWithService('redis', redisUp, 'Redis', () => {
    it(title, async () => {
      const keyPrefix = `${runId('rv')}:`;
      try {
        await revocation('rv_redis', { type: 'redis', url: SERVICE_URLS.redis, keyPrefix, resilient });
      } finally {
        await dropRedisKeys(keyPrefix);
      }
    }, 40_000);
  });

  describeWithService('postgres', postgresUp, 'PostgreSQL', () => {
    it(title, async () => {
      const table = runId('rv');
      const pool = new pg.Pool({ connectionString: SERVICE_URLS.postgres, max: 1 });
      try {
        await pool.query(postgresSchema(table));
        await revocation('rv_postgres', { type: 'postgres', url: SERVICE_URLS.postgres, table, resilient });
      } finally {
        await pool.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
        await pool.end();
      }
    }, 40_000);
  });

  describeWithService('mysql', mysqlUp, 'MySQL', () => {
    it(title, async () => {
      const table = runId('rv');
      const mysql = await import('mysql2/promise');
      const pool = mysql.createPool({ uri: SERVICE_URLS.mysql, connectionLimit: 1 });
      try {
        for (const ddl of mysqlSchema(table)) await pool.query(ddl);
        await revocation('rv_mysql', { type: 'mysql', url: SERVICE_URLS.mysql, table, resilient });
      } finally {
        await pool.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
        await pool.end();
      }
    }, 40_000);
  });

  describeWithService('memcached', memcachedUp, 'Memcached', () => {
    it(title, async () => {
      const keyPrefix = `${runId('rv')}:`;
      await revocation('rv_memcached', {
        type: 'memcached',
        url: SERVICE_URLS.memcached,
        keyPrefix,
        resilient,
      });
    }, 40_000);
  });

  for (const type of ['sqlite', 'file'] as const) {
    describe(`${type} store`, () => {
      it(title, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'reqforge-rv-'));
        try {
          await revocation(`rv_${type}`, { type, path: join(dir, 'tokens'), resilient });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }, 40_000);
    });
  }
});
