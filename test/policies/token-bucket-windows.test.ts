// Issue 17: the in-process bucket with several windows on one key (the shape the shared limiter's fallback and
// snapshot share), and the cap on server-aware pauses. Fake clock: no wall-clock sleeps.
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { rateLimit, TokenBucketLimiter } from '../../src/policies/rate-limit.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { MemoryTransport } from '../../src/transport/memory.js';

describe('TokenBucketLimiter with several windows', () => {
  it('grants a permit only when every window allows it, and snapshots each window', async () => {
    const clock = new FakeClock();
    // 10 per second (burst 2), and 3 per minute.
    const limiter = new TokenBucketLimiter({
      limit: 10,
      burst: 2,
      windows: [{ limit: 3, window: '1m' }],
      clock,
    });
    expect(limiter.windows).toEqual([
      { limit: 10, window: 1_000, burst: 2 },
      { limit: 3, window: 60_000, burst: 3 },
    ]);
    expect(limiter.reserve('k', 0)).toMatchObject({ ok: true, wait: 0 });
    expect(limiter.reserve('k', 0)).toMatchObject({ ok: true, wait: 0 });
    // The per-second window is empty: the third waits 100 ms; the per-minute one still has one.
    expect(limiter.reserve('k', 1_000)).toMatchObject({ ok: true, wait: 100 });
    // Now the minute window decides: the fourth permit is 20 s after the first (60 s / 3).
    const fourth = limiter.reserve('k', 0);
    expect(fourth).toEqual({ ok: false, retryAfter: 20_000 });
    await clock.advance(100);
    const [snap] = limiter.snapshot();
    expect(snap).toEqual({
      key: 'k',
      available: 0,
      nextIn: 19_900,
      windows: [
        // The third permit took the slot at 100 ms: the next per-second one is at 200 ms.
        { limit: 10, window: 1_000, available: 0, nextIn: 100 },
        { limit: 3, window: 60_000, available: 0, nextIn: 19_900 },
      ],
    });
    await clock.advance(19_900);
    expect(limiter.reserve('k', 0)).toMatchObject({ ok: true, wait: 0 });
  });

  it('gives back the latest queued slot in every window', () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketLimiter({
      limit: 1,
      burst: 1,
      windows: [{ limit: 2, window: '10s' }],
      clock,
    });
    expect(limiter.reserve('k', 0)).toMatchObject({ ok: true, wait: 0 });
    const queued = limiter.reserve('k', 5_000);
    expect(queued).toMatchObject({ ok: true, wait: 1_000 });
    if (queued.ok) queued.cancel();
    // The slot came back: the next caller gets the same start, not a later one.
    expect(limiter.reserve('k', 5_000)).toMatchObject({ ok: true, wait: 1_000 });
  });

  it('refuses a fractional limit without a burst in an extra window, naming it', () => {
    expect(() => new TokenBucketLimiter({ limit: 1, windows: [{ limit: 0.5, window: '1s' }] })).toThrow(
      /rateLimit\.windows\.0\.burst/,
    );
  });
});

describe('server-aware pause', () => {
  it('is capped by maxPause: Retry-After: 86400 pauses the host for 2 s, not a day', async () => {
    const clock = new FakeClock();
    const transport = new MemoryTransport().route('GET', '/', () => ({
      status: 429,
      headers: { 'retry-after': '86400' },
    }));
    const policy = rateLimit({ limit: 1000, maxPause: '2s', clock });
    const api = createClient({
      baseUrl: 'http://api.test',
      transport,
      clock,
      policies: [policy],
      throwHttpErrors: false,
    });
    expect((await api.get('/')).status).toBe(429);
    const next = policy.limiter.reserve('api.test', 60_000);
    expect(next).toMatchObject({ ok: true, wait: 2_000 });
    await api.close();
  });
});
