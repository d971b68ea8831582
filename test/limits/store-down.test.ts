// Issue 17 item 3: what a shared limiter does when its Redis degrades, on a PRIVATE redis-server (a spare port):
// `closed` fails fast with a clear error, `open` lets calls through, `local` serves limit ÷ replicas with
// `expectedReplicas` when Redis was never reachable; every transition is an event and a log line, and the
// limiter recovers without a restart.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { EventHub } from '../../src/core/events.js';
import { isLimiterStoreDownError } from '../../src/limits/errors.js';
import { RedisRateLimiter } from '../../src/limits/redis-limiter.js';
import type { LimiterEvents } from '../../src/limits/store-guard.js';
import { freePort, haveRedisServer, killed, startRedis } from '../helpers/redis-server.js';
import { startServer } from '../helpers/server.js';
import { IN_CI, runId } from '../stores/services.js';

/** Waits until `check()` holds, polling every 20 ms, for at most `ms`. */
async function until(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
}

describe.skipIf(!haveRedisServer && !IN_CI)(
  `A shared limiter whose Redis goes down${haveRedisServer ? '' : ' [skipped: redis-server is not installed; CI=true fails instead]'}`,
  () => {
    const children: ChildProcess[] = [];
    const limiters: RedisRateLimiter[] = [];
    afterAll(async () => {
      await Promise.all(limiters.map((l) => l.close()));
      await Promise.all(children.map(killed));
    });
    const limiterOn = (port: number, o: Partial<ConstructorParameters<typeof RedisRateLimiter>[0]>) => {
      const l = new RedisRateLimiter({
        limit: 100,
        store: { url: `redis://127.0.0.1:${port}`, keyPrefix: `${runId('down')}:` },
        storeRetryAfter: 100,
        heartbeat: 200,
        ...o,
      });
      limiters.push(l);
      return l;
    };

    it('local with Redis down since start: limit ÷ expectedReplicas, and the transition as an event and a log line', async () => {
      const port = await freePort();
      const events = new EventHub<LimiterEvents>();
      const downs: LimiterEvents['limiter:down'][] = [];
      events.on('limiter:down', (e) => downs.push(e));
      const lines: [string, Record<string, unknown>, string | undefined][] = [];
      const logger = {
        info: (f: Record<string, unknown>, m?: string) => lines.push(['info', f, m]),
        warn: (f: Record<string, unknown>, m?: string) => lines.push(['warn', f, m]),
      };
      const limiter = limiterOn(port, { burst: 4, expectedReplicas: 4, events, logger, name: 'never-up' });
      await limiter.connect();
      // The first connection failed: the limiter is down at once, sized by expectedReplicas (25/s, burst 1).
      expect(limiter.stats().storeUp).toBe(false);
      expect(downs).toEqual([
        expect.objectContaining({ name: 'never-up', mode: 'local', replicas: 4, fromHeartbeats: false }),
      ]);
      expect(lines).toEqual([
        [
          'warn',
          expect.objectContaining({ limiter: 'never-up', mode: 'local', replicas: 4 }),
          expect.stringContaining('1/4 of the limit'),
        ],
      ]);
      const first = await limiter.reserve('k', 0);
      const second = await limiter.reserve('k', 0);
      expect(first).toMatchObject({ ok: true, wait: 0 });
      expect(second.ok).toBe(false);
      // 25 per second locally: the next permit is 40 ms away.
      if (!second.ok) expect(second.retryAfter).toBeCloseTo(40, 0);
      expect(limiter.stats().degraded).toBe(2);
    });

    it('closed fails fast with a clear error while Redis is down, and shares the limit again after a restart', async () => {
      const port = await freePort();
      const redis = await startRedis(port);
      children.push(redis);
      const server = await startServer((_req, res) => {
        res.end('ok');
      });
      const events = new EventHub<LimiterEvents>();
      const seen: string[] = [];
      events.on('limiter:down', (e) => seen.push(`down:${e.mode}`));
      events.on('limiter:up', () => seen.push('up'));
      const limiter = limiterOn(port, { onStoreDown: 'closed', events, name: 'closed' });
      const api = createClient({ baseUrl: server.url, retry: false, rateLimit: { limiter } });
      try {
        expect((await api.get('/')).status).toBe(200);
        await killed(redis);
        // The first failures take it down (3 in a row); every call fails at once, none is sent.
        const sentBefore = server.requests.length;
        const started = performance.now();
        const errors: unknown[] = [];
        for (let i = 0; i < 5; i++) errors.push(await api.get('/').catch((e: unknown) => e));
        const elapsed = performance.now() - started;
        expect(errors.every(isLimiterStoreDownError)).toBe(true);
        expect(String((errors[0] as Error).message)).toMatch(
          /Redis store is down and onStoreDown is "closed"/,
        );
        expect((errors[0] as { code: string }).code).toBe('ERR_LIMITER_STORE_DOWN');
        expect(server.requests.length).toBe(sentBefore);
        expect(elapsed).toBeLessThan(1_000);
        expect(seen).toEqual(['down:closed']);
        // Redis comes back on the same port: the probe finds it, calls go through the shared limit again.
        children.push(await startRedis(port));
        await until(() => limiter.stats().storeUp, 5_000);
        expect(seen).toEqual(['down:closed', 'up']);
        const before = limiter.stats().reservations;
        expect((await api.get('/')).status).toBe(200);
        expect(limiter.stats().reservations).toBe(before + 1);
      } finally {
        await api.close();
        await server.close();
      }
    });

    it('never shows the Redis password: events, log lines, errors, snapshots and stats', async () => {
      const port = await freePort();
      const events = new EventHub<LimiterEvents>();
      const printed: string[] = [];
      const keep = (x: unknown) => printed.push(JSON.stringify(x), inspect(x, { depth: 5 }));
      events.on('limiter:down', keep);
      events.on('limiter:error', keep);
      const logger = {
        info: (f: unknown, m?: string) => keep([f, m]),
        warn: (f: unknown, m?: string) => keep([f, m]),
      };
      const limiter = new RedisRateLimiter({
        limit: 10,
        store: { url: `redis://user:hunter2-secret@127.0.0.1:${port}` },
        onStoreDown: 'closed',
        events,
        logger,
      });
      limiters.push(limiter);
      await limiter.connect();
      const error = await Promise.resolve()
        .then(() => limiter.reserve('k', 0))
        .catch((e: unknown) => e);
      expect(isLimiterStoreDownError(error)).toBe(true);
      keep(error);
      keep(limiter.snapshot());
      keep(limiter.stats());
      keep(limiter);
      expect(printed.length).toBeGreaterThan(6);
      for (const text of printed) expect(text).not.toContain('hunter2-secret');
    });

    it('open lets every call through while Redis is down', async () => {
      const port = await freePort();
      const limiter = limiterOn(port, { limit: 1, burst: 1, onStoreDown: 'open', name: 'open' });
      await limiter.connect();
      const answers = await Promise.all(Array.from({ length: 20 }, () => limiter.reserve('k', 0)));
      expect(answers.every((a) => a.ok && a.wait === 0)).toBe(true);
    });

    it('refuses store-only settings without a store, and both a limiter and a store, naming the fix', () => {
      expect(() => createClient({ rateLimit: { limit: 1, onStoreDown: 'closed' } })).toThrow(
        /rateLimit\.onStoreDown.*applies to a limit shared through Redis only: add store/,
      );
      const limiter = limiterOn(1, { name: 'unused' });
      expect(() => createClient({ rateLimit: { limiter, store: { url: 'redis://127.0.0.1:1' } } })).toThrow(
        /rateLimit\.store.*either a limiter or a store/,
      );
      // The URL (it may carry a password) is never printed in option errors.
      expect(() =>
        createClient({
          rateLimit: { limit: 1, store: { url: 'redis://:hunter2@127.0.0.1:1', tyype: 'redis' } as never },
        }),
      ).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
    });
  },
);
