// Issue 17: the Redis GCRA limiter on a PRIVATE redis-server (a spare port, never the shared 6379): reservations on
// Redis's clock, several windows in one round trip, the server-aware pause and its cap, and exactly one round trip
// per permit (counted with INFO commandstats).
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { RedisRateLimiter } from '../../src/limits/redis-limiter.js';
import { rateLimit } from '../../src/policies/rate-limit.js';
import { freePort, haveRedisServer, killed, startRedis } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { IN_CI, runId } from '../stores/services.js';
import { commandCalls } from './redis-stats.js';

describe.skipIf(!haveRedisServer && !IN_CI)(
  `RedisRateLimiter on a private redis-server${haveRedisServer ? '' : ' [skipped: redis-server is not installed; CI=true fails instead]'}`,
  () => {
    let child: ChildProcess;
    let url: string;
    let admin: Redis;
    const limiters: RedisRateLimiter[] = [];
    const make = (o: Partial<ConstructorParameters<typeof RedisRateLimiter>[0]> & { limit: number }) => {
      const limiter = new RedisRateLimiter({ store: { url, keyPrefix: `${runId('rl')}:` }, ...o });
      limiters.push(limiter);
      return limiter;
    };

    beforeAll(async () => {
      const port = await freePort();
      child = await startRedis(port);
      url = `redis://127.0.0.1:${port}`;
      admin = new Redis(url);
    });
    afterAll(async () => {
      await Promise.all(limiters.map((l) => l.close()));
      admin?.disconnect();
      if (child) await killed(child);
    });

    it('answers each reservation with when its slot starts, on one GCRA queue', async () => {
      const limiter = make({ limit: 10, burst: 1 });
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await limiter.reserve('k', 10_000);
        expect(r.ok).toBe(true);
        if (r.ok) waits.push(r.wait);
      }
      // 100 ms apart on Redis's clock (minus the few ms the round trips took).
      expect(waits[0]).toBe(0);
      for (let i = 1; i < 5; i++) {
        expect(waits[i]).toBeGreaterThan(i * 100 - 50);
        expect(waits[i]).toBeLessThanOrEqual(i * 100);
      }
      // Refused up front when the slot would start later than maxWait; nothing is taken.
      const refused = await limiter.reserve('k', 100);
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.retryAfter).toBeGreaterThan(400);
      const stillFifth = await limiter.reserve('k', 10_000);
      expect(stillFifth.ok && stillFifth.wait).toBeGreaterThan(400);
      expect(stillFifth.ok && stillFifth.wait).toBeLessThanOrEqual(500);
    });

    it('checks several windows on one key in the same round trip, and snapshots each', async () => {
      // 100 per second, and 5 per 10 seconds.
      const limiter = make({ limit: 100, windows: [{ limit: 5, window: '10s' }] });
      for (let i = 0; i < 5; i++) {
        const r = await limiter.reserve('w', 0);
        expect(r).toMatchObject({ ok: true, wait: 0 });
      }
      const sixth = await limiter.reserve('w', 0);
      expect(sixth.ok).toBe(false);
      // The day-like window decides: the sixth permit is 2 s away (10 s / 5), the per-second one is free.
      if (!sixth.ok) {
        expect(sixth.retryAfter).toBeGreaterThan(1_900);
        expect(sixth.retryAfter).toBeLessThanOrEqual(2_000);
      }
      const [snap] = limiter.snapshot();
      expect(snap?.key).toBe('w');
      expect(snap?.available).toBe(0);
      expect(snap?.windows?.map((w) => [w.limit, w.window])).toEqual([
        [100, 1_000],
        [5, 10_000],
      ]);
      expect(snap?.windows?.[0]?.available).toBeGreaterThan(90);
      expect(snap?.windows?.[1]?.available).toBe(0);
    });

    it('is one Redis round trip per permit (INFO commandstats)', async () => {
      const limiter = make({ limit: 1_000_000, heartbeat: 60_000 });
      await limiter.connect();
      await new Promise((r) => setTimeout(r, 50));
      const heartbeatsBefore = limiter.stats().heartbeats;
      await admin.config('RESETSTAT');
      const permits = 300;
      await Promise.all(Array.from({ length: permits }, () => limiter.reserve('rt', 0)));
      const calls = await commandCalls(admin);
      const heartbeats = limiter.stats().heartbeats - heartbeatsBefore;
      // Round trips: EVALSHA once per permit (+ the heartbeats, if any). commandstats also counts the commands the
      // script runs inside Redis (no round trip): once each per permit, and nothing else was sent.
      const scripts = (calls.evalsha ?? 0) + (calls.eval ?? 0);
      expect(scripts).toBe(permits + heartbeats);
      const inScript = ['time', 'hmget', 'hset', 'pexpire', 'zadd', 'zremrangebyscore', 'zcard'];
      const sent = Object.entries(calls).filter(
        ([name]) => !['evalsha', 'eval', 'config|resetstat', 'config', ...inScript].includes(name),
      );
      expect(sent).toEqual([]);
      expect(calls.time).toBe(permits + heartbeats);
      expect(limiter.stats().reservations).toBeGreaterThanOrEqual(permits);
    });

    it('pauses a key for every replica on a 429 with Retry-After, capped by maxPause', async () => {
      let status = 429;
      const server: TestServer = await startServer((_req, res) => {
        res.writeHead(status, status === 429 ? { 'retry-after': '86400' } : {});
        res.end();
      });
      const keyPrefix = `${runId('pause')}:`;
      const store = { url, keyPrefix };
      const a = createClient({
        baseUrl: server.url,
        retry: false,
        throwHttpErrors: false,
        rateLimit: { limit: 1000, store, maxPause: '700ms', heartbeat: 60_000 },
      });
      // A second "replica": its own client and limiter, same Redis and name.
      const b = rateLimit({ limit: 1000, store, heartbeat: 60_000 });
      try {
        expect((await a.get('/')).status).toBe(429);
        status = 200;
        const reservation = await b.limiter.reserve(new URL(server.url).host, 60_000);
        expect(reservation.ok).toBe(true);
        // Paused for 700 ms (the cap), not a day; the other replica reads it in its own reservation.
        if (reservation.ok) {
          expect(reservation.wait).toBeGreaterThan(500);
          expect(reservation.wait).toBeLessThanOrEqual(700);
        }
      } finally {
        await a.close();
        await (b.limiter as RedisRateLimiter).close();
        await server.close();
      }
    });
  },
);
