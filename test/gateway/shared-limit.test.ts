// Issue 17 in the gateway: `shared: true` on inbound.rateLimit (and on an upstream's rateLimit) shares the limit
// through the gateway's Redis store, here a PRIVATE redis-server on a spare port. Two replicas, each its own process,
// hold N per second per API key between them; `reqforge check` refuses `shared: true` without a Redis store.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { limitStore } from '../../src/gateway/shared-limits.js';
import { upstreamClientOptions } from '../../src/gateway/upstreams.js';
import { DEFAULT_WIRING } from '../../src/gateway/wiring.js';
import { RedisRateLimiter } from '../../src/limits/redis-limiter.js';
import { type RateLimitPolicy, TokenBucketLimiter } from '../../src/policies/rate-limit.js';
import { ChildWorker, type WorkerMessage } from '../helpers/child-worker.js';
import { compileSrc } from '../helpers/compile.js';
import { freePort, haveRedisServer, killed, startRedis } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';
// @ts-expect-error plain ESM helper shared with the bench
import { maxInSpan } from '../limits/shared-limit-analysis.mjs';
import { runCli } from '../process/run.js';
import { IN_CI, runId } from '../stores/services.js';

const here = dirname(fileURLToPath(import.meta.url));

describe('shared: true in the gateway configuration', () => {
  const base = {
    upstreams: { up: { baseUrl: 'http://127.0.0.1:1', rateLimit: { limit: 5, shared: true } } },
  };

  it('is refused without a Redis store, naming the path and the fix', () => {
    expect(() => parseGatewayConfig(base, { env: {} })).toThrow(
      /upstreams\.up\.rateLimit\.shared: a shared limit lives in Redis, and the gateway's store is "memory": add store: \{ type: redis/,
    );
    expect(() =>
      parseGatewayConfig(
        { inbound: { rateLimit: { limit: 5, window: '1s', shared: true } }, upstreams: {} },
        { env: {} },
      ),
    ).toThrow(/inbound\.rateLimit\.shared: a shared limit lives in Redis/);
  });

  it('refuses the shared-only settings on a limit per replica', () => {
    expect(() =>
      parseGatewayConfig(
        {
          upstreams: {
            up: { baseUrl: 'http://127.0.0.1:1', rateLimit: { limit: 5, onStoreDown: 'closed' } },
          },
        },
        { env: {} },
      ),
    ).toThrow(/upstreams\.up\.rateLimit\.onStoreDown: applies to a shared limit only: add shared: true/);
  });

  it('is accepted with a Redis store', () => {
    const config = parseGatewayConfig(
      { ...base, store: { type: 'redis', url: 'redis://127.0.0.1:6399' } },
      { env: {} },
    );
    expect(config.upstreams.up?.rateLimit?.shared).toBe(true);
  });

  it("builds a Redis limiter named after the upstream from the gateway's store, and a bucket without one", async () => {
    const config = parseGatewayConfig(
      { ...base, store: { type: 'redis', url: 'redis://127.0.0.1:1', keyPrefix: 'gw:' } },
      { env: {} },
    );
    const upstream = config.upstreams.up as NonNullable<typeof config.upstreams.up>;
    const limiterOf = (built: ReturnType<typeof upstreamClientOptions>) =>
      ((built.options.policies ?? []).find((p) => p.name === 'rateLimit') as RateLimitPolicy).limiter;
    const shared = limiterOf(
      upstreamClientOptions('up', upstream, DEFAULT_WIRING, { limitStore: limitStore(config) }),
    );
    expect(shared).toBeInstanceOf(RedisRateLimiter);
    expect((shared as RedisRateLimiter).name).toBe('up:up');
    expect(shared.limit).toBe(5);
    await (shared as RedisRateLimiter).close();
    // `reqforge call` builds the upstream without the gateway's store: a limit of its own process.
    expect(limiterOf(upstreamClientOptions('up', upstream, DEFAULT_WIRING))).toBeInstanceOf(
      TokenBucketLimiter,
    );
  });

  it('reqforge check (its own process) exits 2 with the fix, and 0 once the store is Redis', async () => {
    const file = join(tmpdir(), `${runId('shared-check')}.yaml`);
    writeFileSync(
      file,
      'upstreams:\n  up:\n    baseUrl: http://127.0.0.1:1\n    rateLimit:\n      limit: 5\n      shared: true\n',
    );
    const bad = await runCli(['check', '-c', file]);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain(
      `upstreams.up.rateLimit.shared: a shared limit lives in Redis, and the gateway's store is "memory": add store: { type: redis, url: redis://… }`,
    );
    expect(bad.code).toBe(2);
    writeFileSync(
      file,
      'store:\n  type: redis\n  url: redis://127.0.0.1:6399\nupstreams:\n  up:\n    baseUrl: http://127.0.0.1:1\n    rateLimit:\n      limit: 5\n      shared: true\n',
    );
    const good = await runCli(['check', '-c', file]);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
  }, 120_000);
});

type Message = WorkerMessage & { url?: string };

class Replica extends ChildWorker<Message> {
  url = '';
  constructor(gatewayModuleUrl: string) {
    super(join(here, 'replica-worker.mjs'), [gatewayModuleUrl], { stdout: 'ignore' });
  }
  async start(config: object): Promise<string> {
    const listening = this.next('listening', 60_000);
    this.send({ type: 'start', config });
    this.url = String((await listening).url ?? '');
    return this.url;
  }
}

describe.skipIf(!haveRedisServer && !IN_CI)(
  `Two gateway replicas sharing an inbound limit per API key${haveRedisServer ? '' : ' [skipped: redis-server is not installed; CI=true fails instead]'}`,
  () => {
    // Small enough that even a busy machine sends each key well over 2 × N per second (the rate two replicas with
    // a limit each would let through), so the test can tell a shared limit from one per replica.
    const N = 5;
    let redis: ChildProcess | undefined;
    let upstream: TestServer;
    let replicas: Replica[] = [];
    let agent: Agent;
    const arrivals: { at: number; key: string }[] = [];
    const sha = (k: string) => createHash('sha256').update(k).digest('hex');

    beforeAll(async () => {
      const port = await freePort();
      redis = await startRedis(port);
      upstream = await startServer((req, res) => {
        arrivals.push({ at: Date.now(), key: String(req.headers['x-caller'] ?? '') });
        res.end('ok');
      });
      agent = new Agent({ connections: 32 });
      const gatewayModule = new URL('./gateway/index.js', await compileSrc()).href;
      replicas = [new Replica(gatewayModule), new Replica(gatewayModule)];
      await Promise.all(replicas.map((r) => r.next('loaded')));
      const config = {
        metrics: { defaultMetrics: false },
        store: { type: 'redis', url: `redis://127.0.0.1:${port}`, keyPrefix: `${runId('gw_shared')}:` },
        inbound: {
          apiKeys: [
            { name: 'alice', sha256: sha('key-alice') },
            { name: 'bob', sha256: sha('key-bob') },
          ],
          rateLimit: { limit: N, window: '1s', burst: 1, by: 'key', shared: true },
        },
        upstreams: { up: { baseUrl: upstream.url, retry: false } },
      };
      await Promise.all(replicas.map((r) => r.start(config)));
    }, 90_000);

    afterAll(async () => {
      await Promise.all(replicas.map((r) => r.stop()));
      await agent?.close();
      await upstream?.close();
      if (redis) await killed(redis);
    });

    it(`holds ${N} per second per key over both replicas together`, async () => {
      // Each key sends 8 × N per second for 3 s, alternating between the replicas.
      const seconds = 3;
      const send = async (key: string, i: number) => {
        const replica = replicas[i % 2] as Replica;
        const res = await request(`${replica.url}/up/x`, {
          dispatcher: agent,
          headers: { 'x-api-key': `key-${key}`, 'x-caller': key },
        });
        await res.body.text();
        return { key, status: res.statusCode, retryAfter: res.headers['retry-after'] };
      };
      const started = Date.now();
      const pending: Promise<{ key: string; status: number; retryAfter: unknown }>[] = [];
      let i = 0;
      while (Date.now() - started < seconds * 1000) {
        const due = Math.floor(((Date.now() - started) * 8 * N) / 1000);
        for (; i < due; i++) pending.push(send('alice', i), send('bob', i));
        await new Promise((r) => setTimeout(r, 10));
      }
      const results = await Promise.all(pending);
      const elapsed = (Date.now() - started) / 1000;
      for (const key of ['alice', 'bob']) {
        const mine = results.filter((r) => r.key === key);
        const ok = mine.filter((r) => r.status === 200).length;
        const refused = mine.filter((r) => r.status === 429);
        const seen = arrivals.filter((a) => a.key === key).map((a) => a.at);
        const perSecond = maxInSpan(
          seen.sort((a: number, b: number) => a - b),
          1000,
        );
        console.info(
          `[gateway:shared] ${key}: ${mine.length} sent over 2 replicas in ${elapsed.toFixed(1)} s, ${ok} admitted ` +
            `over ${((Math.max(...seen) - Math.min(...seen)) / 1000).toFixed(2)} s ` +
            `(limit ${N}/s), ${refused.length} refused with 429, at most ${perSecond} in any second at the upstream`,
        );
        // Both replicas together admitted at most N per second (+ the burst of 1; 2 for a request forwarded a
        // moment late on a busy machine): a limit per replica would let up to 2 × N through. Clumped arrivals on a
        // busy machine lose permits (burst 1, strategy raise), so the lower bound only says the limit is not stuck.
        const span = (Math.max(...seen) - Math.min(...seen)) / 1000;
        expect(ok).toBe(seen.length);
        expect(perSecond).toBeLessThanOrEqual(N + 1 + 2);
        expect(ok).toBeLessThanOrEqual(Math.ceil(N * span) + 1 + 2);
        expect(ok).toBeGreaterThanOrEqual(N * seconds * 0.5);
        expect(mine.length - ok).toBe(refused.length);
        expect(refused.every((r) => Number(r.retryAfter) >= 1)).toBe(true);
      }
    }, 60_000);
  },
);
