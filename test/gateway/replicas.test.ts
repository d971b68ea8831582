import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';
import { ChildWorker, type WorkerMessage } from '../helpers/child-worker.js';
import { compileSrc } from '../helpers/compile.js';
import { describeWithService, runId, SERVICE_URLS, serviceUp } from '../stores/services.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPLICAS = 3;
const CALLS = 2_000;

type Message = WorkerMessage & { url?: string; pid?: number };

/** One gateway replica in its own process, with a "wait for the next message of this type" helper. */
class Replica extends ChildWorker<Message> {
  url = '';

  constructor(gatewayModuleUrl: string) {
    super(join(here, 'replica-worker.mjs'), [gatewayModuleUrl], { stdout: 'ignore' });
  }

  async start(config: object): Promise<string> {
    const listening = this.next('listening');
    this.send({ type: 'start', config });
    this.url = String((await listening).url ?? '');
    return this.url;
  }
}

const redisUp = await serviceUp('redis');

/** Runs `fn` with a fresh Redis connection, then disconnects. */
async function withRedis<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(SERVICE_URLS.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Every key under `prefix` (a full SCAN). */
async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 100);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

describeWithService('redis', redisUp, `${REPLICAS} gateway replicas sharing one Redis token store`, () => {
  const keyPrefix = `${runId('gw_replicas')}:`;
  const clientId = runId('gw_client');
  const clientSecret = randomBytes(24).toString('hex');
  let idp: OAuthServer;
  let sandbox: SandboxUpstream;
  let replicas: Replica[] = [];
  let agent: Agent;

  beforeAll(async () => {
    // Enough connections that the 2 000 calls really are in flight together: 3 origins × 256 sockets.
    agent = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 10_000 });
    const indexUrl = await compileSrc();
    const gatewayModule = new URL('./gateway/index.js', indexUrl).href;
    idp = await startOAuthServer({ clients: { [clientId]: clientSecret } });
    sandbox = await startSandboxUpstream({ seed: 66 });
    replicas = Array.from({ length: REPLICAS }, () => new Replica(gatewayModule));
    await Promise.all(replicas.map((r) => r.next('loaded')));
    const config = {
      metrics: { defaultMetrics: false },
      store: { type: 'redis', url: SERVICE_URLS.redis, keyPrefix },
      upstreams: {
        // The IdP's protected resource: /secure/me → ${idp}/api/me, which refuses unknown tokens with 401.
        secure: {
          baseUrl: `${idp.url}/api`,
          retry: false,
          timeout: { total: '20s', attempt: '10s' },
          http: { connections: 64 },
          auth: { type: 'oauth2', tokenUrl: idp.tokenUrl, clientId, clientSecret },
        },
        pets: { baseUrl: `${sandbox.url}/api`, retry: false },
      },
    };
    await Promise.all(replicas.map((r) => r.start(config)));
    // Every replica answers and has reached Redis before the burst (a cold token cache everywhere).
    for (const r of replicas) {
      const ready = await request(`${r.url}/ready`, { dispatcher: agent });
      expect(ready.statusCode, await ready.body.text()).toBe(200);
    }
  }, 30_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await agent?.close();
    await Promise.all([idp?.close(), sandbox?.close()]);
    await withRedis(async (redis) => {
      const keys = await keysUnder(redis, keyPrefix);
      if (keys.length > 0) await redis.del(...keys);
    });
  }, 20_000);

  it(`${CALLS} concurrent calls round-robin over ${REPLICAS} replicas: all succeed, 1 token issued`, async () => {
    const pids = new Set(replicas.map((r) => r.child.pid));
    expect(pids.size).toBe(REPLICAS);
    expect(new Set(replicas.map((r) => r.url)).size).toBe(REPLICAS);
    expect(idp.stats().tokensIssued[clientId] ?? 0).toBe(0);
    const before = idp.stats();

    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: CALLS }, async (_, i) => {
        const replica = i % REPLICAS;
        try {
          const res = await request(`${replicas[replica]!.url}/secure/me`, { dispatcher: agent });
          const text = await res.body.text();
          const me = res.statusCode === 200 ? (JSON.parse(text) as { client_id?: string }) : undefined;
          return { replica, status: res.statusCode, ok: me?.client_id === clientId, text };
        } catch (error) {
          return { replica, status: 0, ok: false, text: String(error) };
        }
      }),
    );
    const wallMs = Math.round(performance.now() - started);
    const after = idp.stats();
    const failed = results.filter((r) => !r.ok);
    const issued = after.tokensIssued[clientId] ?? 0;
    const perReplica = replicas.map((_, i) => results.filter((r) => r.replica === i && r.ok).length);
    console.info(
      `[replicas] ${REPLICAS} replicas × round-robin ${CALLS} calls: ok=${CALLS - failed.length} ` +
        `failed=${failed.length} per-replica=${perReplica.join('/')} tokensIssued=${issued} wall=${wallMs}ms`,
    );

    expect(failed.slice(0, 5)).toEqual([]);
    expect(perReplica).toEqual([667, 667, 666]);
    expect(issued).toBe(1);
    expect(after.grants.client_credentials ?? 0).toBe(1);
    // The IdP's resource saw every call, each with a token it had issued and not revoked.
    expect(after.api.calls - before.api.calls).toBe(CALLS);
    expect(after.api.unauthorized - before.api.unauthorized).toBe(0);

    // Every replica holds the same token (same fingerprint), and the store has it under our prefix.
    const fingerprints = await Promise.all(
      replicas.map(async (r) => {
        const res = await request(`${r.url}/status.json`, { dispatcher: agent });
        const doc = (await res.body.json()) as {
          upstreams: { name: string; auth?: { cached?: { fingerprint?: string; state?: string }[] } }[];
        };
        const cached = doc.upstreams.find((u) => u.name === 'secure')?.auth?.cached ?? [];
        expect(cached).toHaveLength(1);
        expect(cached[0]?.state).toBe('valid');
        return cached[0]?.fingerprint;
      }),
    );
    expect(fingerprints[0]).toMatch(/^[0-9a-f]{8,}$/);
    expect(new Set(fingerprints).size).toBe(1);
    const stored = await withRedis((redis) => keysUnder(redis, keyPrefix));
    expect(stored.length).toBeGreaterThanOrEqual(1);

    // The replicas are ordinary gateways: the unauthenticated upstream works through each of them.
    for (const r of replicas) {
      const res = await request(`${r.url}/pets/pets/1`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ id: 1, name: 'Rex', tag: 'dog' });
    }
  }, 30_000);
});
