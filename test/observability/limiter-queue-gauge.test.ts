// `reqforge_rate_limiter_queue_length` is the current queue, read at scrape time: it falls back to 0 when the
// queued calls have gone, while the limiter's `queued` counter keeps counting every call that ever queued.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createClient, type RateLimitPolicy, rateLimit } from '../../src/index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { FakeClock, MemoryTransport } from '../../src/testing.js';

describe('rate limiter queue length gauge', () => {
  it('reports calls waiting now, not calls ever queued', async () => {
    const clock = new FakeClock();
    const limiter: RateLimitPolicy = rateLimit({ limit: 1, window: '1s', burst: 1, clock });
    const transport = new MemoryTransport().route('GET', '/x', () => ({ json: {} }));
    const api = createClient({ baseUrl: 'http://api.test', transport, clock, policies: [limiter] });
    const metrics = createMetrics({ registry: new Registry() });
    metrics.trackLimiter('api.test', limiter);
    const gauge = async () =>
      /reqforge_rate_limiter_queue_length\{[^}]*key="api.test"\} (\d+)/.exec(await metrics.text())?.[1];

    const calls = [api.get('/x'), api.get('/x'), api.get('/x')];
    await Promise.resolve();
    expect(limiter.stats()).toMatchObject({ queued: 2, queueLength: 2 });
    expect(await gauge()).toBe('2');
    await clock.advance(2000);
    await Promise.all(calls);
    expect(limiter.stats()).toMatchObject({ allowed: 3, queued: 2, queueLength: 0 });
    expect(await gauge()).toBe('0');
    await api.close();
  });
});
