import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  bulkhead,
  circuitBreaker,
  createClient,
  isBulkheadRejectedError,
  isCircuitOpenError,
  isRateLimitedError,
  isRetriesExhaustedError,
  mapConcurrent,
  type RetriesExhaustedError,
  rateLimit,
  retry,
  standardPolicies,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';

// A loopback server that fails on command: each step is a status (with headers), 'reset' or 'hang'.
type Step = number | 'reset' | 'hang' | { status: number; headers: Record<string, string> };
let script: Step[] = [];
let server: TestServer;

beforeAll(async () => {
  server = await startServer((req, res) => {
    const step = script.shift() ?? 200;
    if (step === 'reset') return void req.socket.destroy();
    if (step === 'hang') return;
    const { status, headers } = typeof step === 'number' ? { status: step, headers: {} } : step;
    sendJson(res, status, { status }, headers);
  });
});
afterAll(() => server.close());
beforeEach(() => {
  script = [];
  server.requests.length = 0;
});

const fast = { backoff: 'none' as const };

describe('retry', () => {
  it('retries 503 then returns the 200, and reports attempts', async () => {
    script = [503, 503, 200];
    const api = createClient({ baseUrl: server.url, retry: fast });
    const retries: string[] = [];
    api.on('retry', (e) => retries.push(`${e.attempt}:${e.reason}`));
    const res = await api.get('/r');
    expect(res.status).toBe(200);
    expect(res.attempts).toBe(3);
    expect(retries).toEqual(['1:status 503', '2:status 503']);
    await api.close();
  });

  it('gives up after the retries and throws the last status with the attempt count', async () => {
    script = [500, 500, 500];
    const api = createClient({ baseUrl: server.url, retry: { ...fast, retries: 2 } });
    await expect(api.get('/r')).rejects.toMatchObject({ status: 500, attempts: 3 });
    expect(server.requests).toHaveLength(3);
    await api.close();
  });

  it('throws RetriesExhaustedError with every attempt when all attempts fail at the network', async () => {
    script = ['reset', 'reset', 'reset'];
    const api = createClient({ baseUrl: server.url, retry: { ...fast, retries: 2 } });
    const err = (await api.get('/r').catch((e: unknown) => e)) as RetriesExhaustedError;
    expect(isRetriesExhaustedError(err)).toBe(true);
    expect(err.history.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(err.attempts).toBe(3);
    expect(
      err.history.every((a) => a.error?.code === 'ERR_SOCKET' || a.error?.code === 'ERR_CONNECTION_RESET'),
    ).toBe(true);
    await api.close();
  });

  it('honours Retry-After in seconds (on a fake clock)', async () => {
    script = [{ status: 429, headers: { 'retry-after': '2' } }, 200];
    const clock = new FakeClock();
    const api = createClient({ baseUrl: server.url, clock, retry: fast, timeout: false });
    const call = api.get('/r');
    while (server.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
    await clock.advance(1_999);
    expect(server.requests).toHaveLength(1);
    await clock.advance(1);
    expect((await call).status).toBe(200);
    expect(server.requests).toHaveLength(2);
    await api.close();
  });

  it('does not retry when Retry-After is beyond the cap or past the deadline', async () => {
    script = [{ status: 503, headers: { 'retry-after': '120' } }];
    const api = createClient({ baseUrl: server.url, retry: fast });
    await expect(api.get('/r')).rejects.toMatchObject({ status: 503, attempts: 1 });
    script = [{ status: 503, headers: { 'retry-after': '5' } }];
    const short = createClient({ baseUrl: server.url, retry: fast, timeout: { total: 1_000, attempt: 500 } });
    await expect(short.get('/r')).rejects.toMatchObject({ status: 503, attempts: 1 });
    await Promise.all([api.close(), short.close()]);
  });

  it('does not retry a POST without an idempotency key on a reset', async () => {
    script = ['reset', 200];
    const api = createClient({ baseUrl: server.url, retry: fast });
    await expect(api.post('/pay', { json: { amount: 1 } })).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_SOCKET|ERR_CONNECTION_RESET/),
    });
    expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    await api.close();
  });

  it('retries a POST that carries an Idempotency-Key, or a generated one, with the same key on every attempt', async () => {
    script = [503, 200];
    const api = createClient({ baseUrl: server.url, retry: fast });
    await api.post('/pay', { json: { amount: 1 }, headers: { 'idempotency-key': 'k-1' } });
    expect(server.requests.map((r) => r.headers['idempotency-key'])).toEqual(['k-1', 'k-1']);
    server.requests.length = 0;
    script = [502, 503, 200];
    const gen = createClient({ baseUrl: server.url, retry: { ...fast, idempotencyKey: true } });
    await gen.post('/pay', { json: { amount: 2 } });
    const keys = server.requests.map((r) => r.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    server.requests.length = 0;
    script = [503, 200];
    const optIn = await api.patch('/x', { json: {}, idempotent: true });
    expect(optIn.status).toBe(200);
    await Promise.all([api.close(), gen.close()]);
  });

  it('generates a key only for calls with neither their own Idempotency-Key nor an idempotent opt-in', async () => {
    const gen = createClient({ baseUrl: server.url, retry: { ...fast, idempotencyKey: 'x-request-key' } });
    script = [503, 200];
    await gen.post('/pay', { json: {}, headers: { 'idempotency-key': 'own' } });
    script = [503, 200];
    await gen.post('/pay', { json: {}, idempotent: true });
    for (const r of server.requests) expect(r.headers['x-request-key']).toBeUndefined();
    expect(server.requests.map((r) => r.headers['idempotency-key'])).toEqual([
      'own',
      'own',
      undefined,
      undefined,
    ]);
    await gen.close();
  });

  it('never resends a one-shot stream, but does resend a body factory', async () => {
    script = [503, 200];
    const api = createClient({ baseUrl: server.url, retry: fast });
    await expect(api.put('/up', { body: Readable.from([Buffer.from('once')]) })).rejects.toMatchObject({
      status: 503,
    });
    expect(server.requests).toHaveLength(1);
    server.requests.length = 0;
    script = [503, 200];
    const res = await api.put('/up', { body: () => Readable.from([Buffer.from('again')]) });
    expect(res.status).toBe(200);
    expect(server.requests.map((r) => r.body.toString())).toEqual(['again', 'again']);
    await api.close();
  });

  it('drains discarded responses so one connection serves every attempt', async () => {
    script = [503, 503, 503, 200];
    const before = server.connections;
    const api = createClient({ baseUrl: server.url, retry: fast, http: { connections: 1 } });
    await api.get('/r').text();
    expect(server.connections - before).toBe(1);
    await api.close();
  });

  // Ten calls fail together with 503 (three retries each). With one retry slot (ratio 0, minRetries 1), the call whose
  // response comes first takes the slot and keeps it through its retries, and the nine others are refused theirs. A fake
  // clock holds that call in its backoff until the nine have given up, so the count does not depend on arrival order.
  async function tenFailingCalls(budget: false | { ratio: number; minRetries: number }) {
    script = Array.from({ length: 40 }, () => 503);
    const clock = new FakeClock();
    const policy = retry({ backoff: 'constant', baseDelay: 100, retries: 3, budget });
    const api = createClient({ baseUrl: server.url, clock, policies: [policy], throwHttpErrors: false });
    let settled = 0;
    const calls = Array.from({ length: 10 }, () => api.get('/r').finally(() => settled++));
    if (budget) await vi.waitFor(() => expect(settled).toBe(9), { timeout: 10_000 });
    while (settled < 10) await clock.advance(100);
    const attempts = (await Promise.all(calls)).map((r) => r.attempts).sort();
    await api.close();
    return { requests: server.requests.length, attempts };
  }

  it('a shared retry budget stops retries from multiplying load: 13 requests instead of 40', async () => {
    expect(await tenFailingCalls({ ratio: 0, minRetries: 1 })).toEqual({
      requests: 13,
      attempts: [1, 1, 1, 1, 1, 1, 1, 1, 1, 4],
    });
  });

  it('without a budget the same ten calls send every retry: 40 requests', async () => {
    expect(await tenFailingCalls(false)).toEqual({
      requests: 40,
      attempts: Array.from({ length: 10 }, () => 4),
    });
  });
});

describe('circuit breaker', () => {
  it('opens, half-opens after the open duration and closes after successful probes (fake clock)', async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ consecutiveFailures: 3, openDuration: 10_000, halfOpenProbes: 2 });
    const api = createClient({ baseUrl: server.url, clock, policies: [breaker], throwHttpErrors: false });
    const transitions: string[] = [];
    api.on('breaker', (e) => transitions.push(`${e.from}->${e.to}`));
    script = [500, 500, 500];
    for (let i = 0; i < 3; i++) await (await api.get('/b')).dump();
    const refused = await api.get('/b').catch((e: unknown) => e);
    expect(isCircuitOpenError(refused) && refused.retryAfter).toBe(10_000);
    expect(server.requests).toHaveLength(3);
    await clock.advance(10_000);
    script = [200, 200];
    const probes = await Promise.all([api.get('/b'), api.get('/b'), api.get('/b').catch((e: unknown) => e)]);
    expect(isCircuitOpenError(probes[2])).toBe(true); // only two probes are let through
    for (const p of probes.slice(0, 2)) await (p as { dump(): Promise<void> }).dump();
    expect(breaker.snapshot()[0]?.state).toBe('closed');
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
    await api.close();
  });

  it('reopens on a failed probe, ignores 4xx, and supports isolate/reset and snapshots', async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ consecutiveFailures: 2, openDuration: 1_000, halfOpenProbes: 1 });
    const api = createClient({ baseUrl: server.url, clock, policies: [breaker], throwHttpErrors: false });
    script = [404, 404, 404];
    for (let i = 0; i < 3; i++) await (await api.get('/b')).dump();
    expect(breaker.snapshot()[0]?.state).toBe('closed');
    script = [503, 503];
    for (let i = 0; i < 2; i++) await (await api.get('/b')).dump();
    await clock.advance(1_000);
    script = [500];
    await (await api.get('/b')).dump();
    expect(breaker.snapshot()[0]).toMatchObject({ state: 'open', opensIn: 1_000 });
    const saved = JSON.parse(JSON.stringify(breaker));
    breaker.reset();
    expect(breaker.snapshot()[0]?.state).toBe('closed');
    breaker.restore(saved);
    expect(breaker.snapshot()[0]?.state).toBe('open');
    breaker.reset();
    breaker.isolate();
    const err = await api.get('/b').catch((e: unknown) => e);
    expect(isCircuitOpenError(err) && err.retryAfter).toBe(Number.POSITIVE_INFINITY);
    await api.close();
  });

  it('opens on the failure ratio with a minimum number of calls', async () => {
    const breaker = circuitBreaker({ consecutiveFailures: 0, minimumCalls: 10, failureRatio: 0.5 });
    const api = createClient({ baseUrl: server.url, policies: [breaker], throwHttpErrors: false });
    script = [200, 500, 200, 500, 200, 500, 200, 500, 200, 500];
    for (let i = 0; i < 9; i++) await (await api.get('/b')).dump();
    expect(breaker.snapshot()[0]?.state).toBe('closed');
    await (await api.get('/b')).dump();
    expect(breaker.snapshot()[0]?.state).toBe('open');
    await api.close();
  });
});

describe('rate limiting', () => {
  it('a 429 with Retry-After pauses other callers to the same host', async () => {
    const clock = new FakeClock();
    const limiter = rateLimit({ limit: 1_000, window: 1_000, strategy: 'raise', clock });
    const api = createClient({ baseUrl: server.url, clock, policies: [limiter], throwHttpErrors: false });
    script = [{ status: 429, headers: { 'retry-after': '3' } }];
    await (await api.get('/l')).dump();
    const other = createClient({ baseUrl: server.url, clock, policies: [limiter] });
    const err = await other.get('/elsewhere').catch((e: unknown) => e);
    expect(isRateLimitedError(err) && err.retryAfter).toBe(3_000);
    expect(server.requests).toHaveLength(1);
    await clock.advance(3_000);
    await expect(other.get('/elsewhere').json()).resolves.toEqual({ status: 200 });
    await Promise.all([api.close(), other.close()]);
  });

  it('a breaker right outside runs the back-off check (fused): the pause holds and the 503 still counts', async () => {
    const clock = new FakeClock();
    const limiter = rateLimit({ limit: 1_000, window: 1_000, strategy: 'raise', clock });
    const breaker = circuitBreaker({ consecutiveFailures: 1, clock });
    const api = createClient({
      baseUrl: server.url,
      clock,
      policies: [breaker, limiter],
      throwHttpErrors: false,
    });
    script = [{ status: 503, headers: { 'retry-after': '2' } }];
    const first = await api.get('/f');
    expect(first.status).toBe(503);
    await first.dump();
    // The breaker judged the response the check passed on: one failure opened it.
    expect(breaker.snapshot()[0]?.state).toBe('open');
    breaker.reset();
    // The limiter paused the host for the Retry-After, through the breaker's reaction.
    const err = await api.get('/f').catch((e: unknown) => e);
    expect(isRateLimitedError(err) && err.retryAfter).toBe(2_000);
    expect(server.requests).toHaveLength(1);
    await clock.advance(2_000);
    expect((await api.get('/f')).status).toBe(200);
    await api.close();
  });

  it('queues in FIFO order on the clock and refuses a full queue', async () => {
    const clock = new FakeClock();
    const limiter = rateLimit({ limit: 1, window: 1_000, burst: 1, strategy: 'queue', queueSize: 2, clock });
    const api = createClient({ baseUrl: server.url, clock, policies: [limiter] });
    const order: number[] = [];
    const calls = [0, 1, 2].map((i) => api.get('/q', { query: { i } }).then(() => order.push(i)));
    const overflow = await api.get('/q').catch((e: unknown) => e);
    expect(isRateLimitedError(overflow) && overflow.reason).toBe('queue-full');
    await clock.advance(2_000);
    await Promise.all(calls);
    expect(order).toEqual([0, 1, 2]);
    expect(limiter.stats()).toMatchObject({
      allowed: 3,
      queued: 2,
      raised: 1,
      queueLength: 0,
      maxWait: 2_000,
    });
    await api.close();
  });

  it('drops best-effort calls at once', async () => {
    const limiter = rateLimit({ limit: 1, window: 60_000, burst: 1, strategy: 'drop' });
    const api = createClient({ baseUrl: server.url, policies: [limiter] });
    await api.get('/d').text();
    await expect(api.get('/d')).rejects.toMatchObject({ code: 'ERR_DROPPED' });
    expect(limiter.stats()).toMatchObject({ allowed: 1, dropped: 1, efficiency: 0.5 });
    await api.close();
  });
});

describe('a remote rate limiter', () => {
  it("is asked with the call's remaining time as its longest wait, since it cannot take a slot back", async () => {
    const clock = new FakeClock();
    const asked: number[] = [];
    const api = createClient({
      baseUrl: server.url,
      clock,
      policies: [
        ...standardPolicies({
          timeout: { total: 2_000, attempt: 1_000 },
          retry: false,
          rateLimit: {
            maxWait: 30_000,
            limiter: {
              limit: 1,
              window: 1_000,
              reserve: async (_key, maxWait) => {
                asked.push(maxWait);
                return { ok: true, wait: 0, cancel: () => undefined };
              },
              pause: () => undefined,
              snapshot: () => [],
            },
          },
        }),
      ],
    });
    await api.get('/r');
    expect(asked).toEqual([2_000]);
    await api.close();
  });
});

describe('bulkhead', () => {
  it('queues beyond the limit and times out the queue', async () => {
    const clock = new FakeClock();
    const limit = bulkhead({ maxConcurrent: 1, queueSize: 1, queueTimeout: 500 });
    const api = createClient({ baseUrl: server.url, clock, policies: [limit] });
    script = ['hang'];
    const hanging = api.get('/h', { signal: AbortSignal.timeout(300) }).catch((e: unknown) => e);
    while (server.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
    const queued = api.get('/h2').catch((e: unknown) => e);
    const full = await api.get('/h3').catch((e: unknown) => e);
    expect(isBulkheadRejectedError(full) && full.reason).toBe('queue-full');
    expect(limit.snapshot()).toMatchObject({ inFlight: 1, queued: 1 });
    await clock.advance(500);
    const timedOut = await queued;
    expect(isBulkheadRejectedError(timedOut) && timedOut.reason).toBe('queue-timeout');
    expect((await hanging) as Error).toMatchObject({ code: 'ERR_ABORTED' });
    await api.close();
  });

  it('mapConcurrent keeps input order and every error', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapConcurrent([1, 2, 3, 4, 5, 6], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 6 - n));
      running--;
      if (n % 3 === 0) throw new Error(`bad ${n}`);
      return n * 10;
    });
    expect(peak).toBe(2);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      10,
      20,
      'bad 3',
      40,
      50,
      'bad 6',
    ]);
  });
});

describe('presets and validation', () => {
  it('builds the standard order and validates the combination', () => {
    const names = standardPolicies({ rateLimit: { limit: 10 }, bulkhead: { maxConcurrent: 5 } }).map(
      (p) => p.name,
    );
    expect(names).toEqual([
      'totalTimeout',
      'redirect',
      'retry',
      'circuitBreaker',
      'rateLimit',
      'bulkhead',
      'attemptTimeout',
    ]);
    expect(standardPolicies({}, 'default').map((p) => p.name)).toEqual([
      'totalTimeout',
      'redirect',
      'retry',
      'attemptTimeout',
    ]);
    expect(() =>
      standardPolicies({ circuitBreaker: { window: 5_000 }, timeout: { attempt: 4_000 } }),
    ).toThrow(/circuitBreaker.window.*twice the attempt timeout/);
    expect(() => createClient({ retry: { retries: -1 } })).toThrow(/retry.retries/);
    expect(() => createClient({ retry: { retrys: 2 } as never })).toThrow(/retry.retrys/);
    expect(() => rateLimit({ limit: 0 })).toThrow(/rateLimit.limit/);
    expect(() => rateLimit({ limit: 1, strategy: 'wait' as never })).toThrow(/rateLimit.strategy/);
    expect(() => circuitBreaker({ failureRatio: 2 })).toThrow(/circuitBreaker.failureRatio/);
    expect(() => bulkhead({ maxConcurrent: 0 })).toThrow(/bulkhead.maxConcurrent/);
  });
});
