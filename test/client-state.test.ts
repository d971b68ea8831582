// client.state(), client.usage(), session.state() and session.usage(), read after scripted failures against a real
// loopback server, with a FakeClock for every policy's time (breaker windows, limiter buckets, usage windows).
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSession } from '../src/auth/index.js';
import {
  createClient,
  isCircuitOpenError,
  isInvalidOptionError,
  isRateLimitedError,
  rateLimit,
  trackUsage,
  UsageTracker,
} from '../src/index.js';
import { FakeClock } from '../src/testing.js';
import { sendJson, startServer, type TestServer } from './helpers/server.js';

// Each request takes the next scripted status (200 when the script is empty); 'hold' keeps the response until
// `release()` answers every held one with 200.
type Step = number | 'hold';
let script: Step[] = [];
let held: ServerResponse[] = [];
let server: TestServer;
let host: string;

beforeAll(async () => {
  server = await startServer((_req, res) => {
    const step = script.shift() ?? 200;
    if (step === 'hold') held.push(res);
    else sendJson(res, step, { status: step });
  });
  host = new URL(server.url).host;
});
afterAll(() => server.close());
beforeEach(() => {
  script = [];
  held = [];
  server.requests.length = 0;
});

const release = () => {
  for (const res of held.splice(0)) sendJson(res, 200, {});
};

/** Waits (on real time, for the loopback I/O only) until `ok()` holds. */
async function until(ok: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? 'error',
  );

describe('client.state()', () => {
  it('reads every policy as disabled on a bare client, and usage() is undefined', async () => {
    const api = createClient({ baseUrl: server.url, policies: [] });
    await api.get('/x');
    expect(api.state()).toEqual({
      circuitBreaker: { enabled: false, state: 'disabled', breakers: [] },
      rateLimit: { enabled: false },
      bulkhead: { enabled: false },
      retryBudget: { enabled: false },
      usage: { enabled: false },
    });
    expect(api.usage()).toBeUndefined();
    await api.close();
  });

  it('follows the breaker closed → open → half-open → closed, with failures and the time to half-open', async () => {
    const clock = new FakeClock();
    const api = createClient({
      baseUrl: server.url,
      name: 'care',
      clock,
      retry: false,
      circuitBreaker: { consecutiveFailures: 3, openDuration: '30s', halfOpenProbes: 1 },
    });
    expect(api.state().circuitBreaker).toEqual({ enabled: true, state: 'closed', breakers: [] });
    script = [500, 500, 500];
    for (let i = 0; i < 3; i++) expect(await settle(api.get('/fail'))).toBe('ERR_SERVER');
    const refused = await api.get('/fail').catch((e: unknown) => e);
    expect(isCircuitOpenError(refused)).toBe(true);
    expect(server.requests).toHaveLength(3); // the open breaker sent nothing
    const open = api.state();
    expect(open.name).toBe('care');
    expect(open.circuitBreaker).toEqual({
      enabled: true,
      state: 'open',
      breakers: [
        { target: host, state: 'open', calls: 3, failures: 3, consecutiveFailures: 3, halfOpenIn: 30_000 },
      ],
    });
    await clock.advance(10_000);
    expect(api.state().circuitBreaker.breakers[0]?.halfOpenIn).toBe(20_000);
    await clock.advance(20_000);
    expect(api.state().circuitBreaker).toMatchObject({
      state: 'half-open',
      breakers: [{ target: host, state: 'half-open', halfOpenIn: 0 }],
    });
    expect(await settle(api.get('/probe'))).toBe('ok');
    expect(api.state().circuitBreaker).toMatchObject({
      state: 'closed',
      breakers: [{ state: 'closed', calls: 0, failures: 0, consecutiveFailures: 0, halfOpenIn: 0 }],
    });
    await api.close();
  });

  it('counts the limiter: queued calls, the current queue, the longest wait, then refusals and efficiency', async () => {
    const clock = new FakeClock();
    const api = createClient({
      baseUrl: server.url,
      clock,
      retry: false,
      rateLimit: { limit: 1, window: '1s', burst: 1, strategy: 'queue', maxWait: '1500ms' },
    });
    const calls = [api.get('/a'), api.get('/b'), api.get('/c')].map(settle);
    // The first went at once; the second waits 1 s; the third would wait 2 s, over maxWait: refused at once.
    await until(() => server.requests.length === 1, 'the first call');
    const waiting = api.state().rateLimit;
    expect(waiting).toMatchObject({
      enabled: true,
      strategy: 'queue',
      limit: 1,
      window: 1000,
      allowed: 1,
      queued: 1,
      dropped: 0,
      raised: 1,
      queueLength: 1,
      longestWait: 0,
      efficiency: 0.5,
    });
    expect(waiting.enabled && waiting.targets).toEqual([{ target: host, available: 0, nextIn: 2000 }]);
    await clock.advance(1000);
    expect(await Promise.all(calls)).toEqual(['ok', 'ok', 'ERR_RATE_LIMITED']);
    expect(api.state().rateLimit).toMatchObject({
      allowed: 2,
      queued: 1,
      raised: 1,
      queueLength: 0,
      longestWait: 1000,
      efficiency: 2 / 3,
    });
    expect(server.requests).toHaveLength(2);
    await api.close();
  });

  it('counts dropped calls (strategy drop) and reads a limiter passed in policies', async () => {
    const clock = new FakeClock();
    const api = createClient({
      baseUrl: server.url,
      clock,
      policies: [rateLimit({ limit: 2, window: '1m', burst: 2, strategy: 'drop', clock })],
    });
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await settle(api.get('/d')));
    expect(outcomes).toEqual(['ok', 'ok', 'ERR_DROPPED', 'ERR_DROPPED', 'ERR_DROPPED']);
    expect(api.state().rateLimit).toMatchObject({ allowed: 2, dropped: 3, raised: 0, efficiency: 0.4 });
    await api.close();
  });

  it('shows the bulkhead in flight and queued, and the retry budget per host, while calls are held', async () => {
    const api = createClient({
      baseUrl: server.url,
      retry: { retries: 2, budget: { ratio: 0.5, minRetries: 1 } },
      bulkhead: { maxConcurrent: 2, queueSize: 5 },
    });
    script = ['hold', 'hold'];
    const calls = [api.get('/h1'), api.get('/h2'), api.get('/h3')].map(settle);
    await until(() => held.length === 2, 'two held calls');
    const state = api.state();
    expect(state.bulkhead).toEqual({ enabled: true, inFlight: 2, queued: 1, maxConcurrent: 2, queueSize: 5 });
    expect(state.retryBudget).toEqual({
      enabled: true,
      ratio: 0.5,
      minRetries: 1,
      targets: [{ target: host, requests: 3, retries: 0, allowed: 1.5 }],
    });
    release();
    expect(await Promise.all(calls)).toEqual(['ok', 'ok', 'ok']);
    expect(api.state().bulkhead).toMatchObject({ inFlight: 0, queued: 0 });
    expect(api.state().retryBudget).toMatchObject({ targets: [{ target: host, requests: 0, retries: 0 }] });
    await api.close();
  });

  it('shows a route-keyed breaker target with secret query values redacted', async () => {
    const api = createClient({
      baseUrl: server.url,
      retry: false,
      circuitBreaker: { keyBy: 'route', consecutiveFailures: 1 },
    });
    await api.get('/search?key=very-secret-api-key&q=cats');
    const [breaker] = api.state().circuitBreaker.breakers;
    expect(breaker?.target).toBe(`${host} GET /search?key=[REDACTED]&q=cats`);
    expect(JSON.stringify(api.state())).not.toContain('very-secret-api-key');
    await api.close();
  });

  it('is JSON-safe: it prints the same through JSON.stringify', async () => {
    const api = createClient({
      baseUrl: server.url,
      preset: 'standard',
      rateLimit: { limit: 10 },
      bulkhead: { maxConcurrent: 4 },
      usage: { perMinute: 10 },
    });
    await api.get('/j');
    const state = api.state();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    await api.close();
  });
});

describe('client.usage()', () => {
  it('counts calls and errors per window against call and error limits, and reports which are exceeded', async () => {
    const clock = new FakeClock();
    const api = createClient({
      baseUrl: server.url,
      clock,
      retry: { retries: 1, backoff: 'none' },
      throwHttpErrors: false,
      usage: { perMinute: 4, errorsPerMinute: 1, errorsPerHour: 10 },
    });
    script = [503, 200, 404, 500, 500];
    // One call retried (503 then 200) counts once; the 404 and the retried 500s are errors.
    expect((await api.get('/u')).status).toBe(200);
    expect((await api.get('/u')).status).toBe(404);
    expect((await api.get('/u', { idempotent: true })).status).toBe(500);
    expect(server.requests).toHaveLength(5);
    const usage = api.usage();
    expect(usage).toEqual({
      lastMinute: { calls: 3, errors: 2 },
      last5Minutes: { calls: 3, errors: 2 },
      lastHour: { calls: 3, errors: 2 },
      total: { calls: 3, errors: 2 },
      limits: { perMinute: 4, errorsPerMinute: 1, errorsPerHour: 10 },
      withinLimits: false,
      exceeded: ['errorsPerMinute'],
    });
    expect(api.state().usage).toEqual({ enabled: true, ...usage });
    await clock.advance(60_000);
    expect(api.usage()).toMatchObject({
      lastMinute: { calls: 0, errors: 0 },
      last5Minutes: { calls: 3, errors: 2 },
      withinLimits: true,
      exceeded: [],
    });
    await clock.advance(3_600_000);
    expect(api.usage()).toMatchObject({ lastHour: { calls: 0, errors: 0 }, total: { calls: 3, errors: 2 } });
    await api.close();
  });

  it('counts thrown errors (an open breaker, a refused limiter) and works with a client of its own policies', async () => {
    const tracker = new UsageTracker({ limits: { perHour: 1 } });
    const api = createClient({
      baseUrl: server.url,
      usage: tracker,
      policies: [rateLimit({ limit: 1, window: '1h', burst: 1, strategy: 'raise' })],
    });
    expect(await settle(api.get('/t'))).toBe('ok');
    const refused = await api.get('/t').catch((e: unknown) => e);
    expect(isRateLimitedError(refused)).toBe(true);
    expect(api.usage()).toEqual(tracker.snapshot());
    expect(tracker.snapshot()).toMatchObject({
      total: { calls: 2, errors: 1 },
      withinLimits: false,
      exceeded: ['perHour'],
    });
    expect(api.toJSON().policies).toEqual(['usage', 'rateLimit']);
    await api.close();
  });

  it('reads a trackUsage policy placed in policies by hand', async () => {
    const api = createClient({ baseUrl: server.url, policies: [trackUsage()] });
    await api.get('/p');
    expect(api.usage()?.total).toEqual({ calls: 1, errors: 0 });
    await api.close();
  });

  it('refuses bad usage options by path, never printing the value', () => {
    const refusal = (usage: unknown) => {
      try {
        createClient({ usage } as never);
      } catch (error) {
        if (isInvalidOptionError(error)) return `${error.option}: ${error.message}`;
        throw error;
      }
      return 'accepted';
    };
    expect(refusal({ errorsPerHour: -1 })).toMatch(/^usage\.errorsPerHour: /);
    expect(refusal({ errorsPerHour: 'secret-ten' })).not.toContain('secret-ten');
    expect(refusal({ errorsPerMinut: 1 })).toMatch(/usage.*errorsPerMinute/);
    expect(refusal({ errorsPerMinute: 1, errorsPerFiveMinutes: 2, errorsPerHour: 3 })).toBe('accepted');
  });
});

describe('session.state() and session.usage()', () => {
  const provider = {
    id: 'demo',
    fetchToken: async () => ({ accessToken: 'session-token', expiresIn: 3600 }),
  };

  it('aggregates usage over clients and reports each by name, against session and client limits', async () => {
    const clock = new FakeClock();
    const session = createSession({
      providers: { demo: provider },
      clock,
      usage: { errorsPerMinute: 2 },
      services: {
        care: { baseUrl: server.url, clock, retry: false, circuitBreaker: { consecutiveFailures: 2 } },
        ztp: { baseUrl: server.url, clock, retry: false },
      },
    });
    const care = session.client('care', { usage: { perMinute: 1 } });
    const ztp = session.client('ztp');
    const untracked = session.client('ztp', { name: 'quiet', usage: false });
    script = [500, 500, 200, 200, 503];
    expect(await settle(care.get('/c'))).toBe('ERR_SERVER');
    expect(await settle(care.get('/c'))).toBe('ERR_SERVER');
    expect(await settle(care.get('/c'))).toBe('ERR_CIRCUIT_OPEN');
    expect(await settle(ztp.get('/z'))).toBe('ok');
    expect(await settle(untracked.get('/q'))).toBe('ok');
    expect(await settle(ztp.get('/z'))).toBe('ERR_SERVER');
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer session-token')).toBe(true);

    const usage = session.usage();
    expect(usage).toMatchObject({
      lastMinute: { calls: 5, errors: 4 },
      total: { calls: 5, errors: 4 },
      limits: { errorsPerMinute: 2 },
      withinLimits: false,
      exceeded: ['errorsPerMinute'],
    });
    expect(Object.keys(usage?.clients ?? {})).toEqual(['care', 'ztp']);
    expect(usage?.clients.care).toMatchObject({
      total: { calls: 3, errors: 3 },
      limits: { perMinute: 1 },
      exceeded: ['perMinute'],
    });
    expect(usage?.clients.ztp).toMatchObject({
      total: { calls: 2, errors: 1 },
      limits: {},
      withinLimits: true,
    });
    expect(untracked.usage()).toBeUndefined();

    const state = session.state();
    expect(Object.keys(state.clients)).toEqual(['care', 'ztp', 'quiet']);
    expect(state.clients.care?.circuitBreaker).toMatchObject({
      state: 'open',
      breakers: [{ target: host, failures: 2, consecutiveFailures: 2, halfOpenIn: 30_000 }],
    });
    expect(state.clients.ztp?.circuitBreaker.state).toBe('disabled');
    expect(state.usage).toMatchObject({ enabled: true, total: { calls: 5, errors: 4 } });
    expect(JSON.stringify(state)).not.toContain('session-token');
    await session.close();
  });

  it('shares one tracker per client name, and reports nothing when no client tracks', async () => {
    const quiet = createSession({ providers: { demo: provider }, services: { a: { baseUrl: server.url } } });
    await quiet.client('a').get('/n');
    expect(quiet.usage()).toBeUndefined();
    expect(quiet.state().usage).toEqual({ enabled: false });
    await quiet.close();

    const session = createSession({
      providers: { demo: provider },
      usage: true,
      services: { a: { baseUrl: server.url } },
    });
    await session.client('a').get('/n');
    await session.client('a').get('/n');
    expect(session.usage()?.clients.a?.total).toEqual({ calls: 2, errors: 0 });
    expect(session.usage()?.total).toEqual({ calls: 2, errors: 0 });
    await session.close();
  });
});
