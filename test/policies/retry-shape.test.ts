// Per-call retry settings, delay functions, retryOn answering with a delay, and ctx.isRetry / ctx.maxRetries,
// against a real loopback server; delays are measured on a FakeClock (the server reads it when a request arrives).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CallContext,
  createClient,
  hooks,
  type RetryDelayContext,
  type RetryPredicate,
  retry,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';

type Step = number | 'reset' | { status: number; headers: Record<string, string> };
let script: Step[] = [];
let fallback: Step = 200;
let clock = new FakeClock();
/** clock.now() at each request the server received. */
let arrivals: number[] = [];
let server: TestServer;

beforeAll(async () => {
  server = await startServer((req, res) => {
    arrivals.push(clock.now());
    const step = script.shift() ?? fallback;
    if (step === 'reset') return void req.socket.destroy();
    const { status, headers } = typeof step === 'number' ? { status: step, headers: {} } : step;
    sendJson(res, status, { status }, headers);
  });
});
afterAll(() => server.close());
beforeEach(() => {
  script = [];
  fallback = 200;
  arrivals = [];
  clock = new FakeClock();
  server.requests.length = 0;
});

/** Settles `call`, firing the fake clock's timers (retry sleeps) whenever the call waits on one. */
async function drive<T>(call: Promise<T>): Promise<T> {
  let done = false;
  call.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) if (!(await clock.next())) await new Promise((r) => setTimeout(r, 2));
  return call;
}

const none = { backoff: 'none' } as const;

describe('per-call retry settings', () => {
  it("replace the client's retries for one call only, counted at the server", async () => {
    fallback = 503;
    const api = createClient({ baseUrl: server.url, retry: { ...none, retries: 1 } });
    await expect(api.get('/a', { retry: { retries: 4 } })).rejects.toMatchObject({
      status: 503,
      attempts: 5,
    });
    expect(server.requests).toHaveLength(5);
    await expect(api.get('/a')).rejects.toMatchObject({ status: 503, attempts: 2 });
    expect(server.requests).toHaveLength(7);
    await expect(api.get('/a', { retry: { retries: 0 } })).rejects.toMatchObject({ attempts: 1 });
    expect(server.requests).toHaveLength(8);
    await expect(api.get('/a', { retry: false })).rejects.toMatchObject({ attempts: 1 });
    expect(server.requests).toHaveLength(9);
    await api.close();
  });

  it('turn retries on for one call of a client whose policy makes none', async () => {
    script = [503, 503];
    const api = createClient({ baseUrl: server.url, retry: { ...none, retries: 0 } });
    const response = await api.get('/a', { retry: { retries: 2 } });
    expect([response.status, response.attempts, server.requests.length]).toEqual([200, 3, 3]);
    await api.close();
  });

  it('keep the settings they do not name (the client backoff) and take durations as strings', async () => {
    script = [503, 503];
    const api = createClient({
      baseUrl: server.url,
      clock,
      timeout: false,
      retry: { backoff: 'constant', baseDelay: 700 },
    });
    const response = await drive(api.get('/a', { retry: { retries: 2 } }));
    expect(response.status).toBe(200);
    expect(arrivals).toEqual([0, 700, 1400]);
    arrivals = [];
    script = [503];
    await drive(api.get('/a', { retry: { baseDelay: '2s' } }));
    expect(arrivals).toEqual([1400, 3400]);
    await api.close();
  });

  it('never repeat a POST without an idempotency key, whatever retryOn answers', async () => {
    fallback = 503;
    const api = createClient({ baseUrl: server.url, retry: none });
    const always = { retries: 5, retryOn: () => true };
    await expect(api.post('/p', { json: { n: 1 }, retry: always })).rejects.toMatchObject({
      status: 503,
      attempts: 1,
    });
    script = ['reset'];
    await expect(api.post('/p', { json: { n: 1 }, retry: always })).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_SOCKET|ERR_CONNECTION_RESET/) as string,
    });
    // Nor when it answers with a delay, nor with a delay function.
    await expect(
      api.post('/p', { json: {}, retry: { retries: 5, retryOn: () => 0, backoff: () => 0 } }),
    ).rejects.toMatchObject({ status: 503, attempts: 1 });
    expect(server.requests.filter((r) => r.method === 'POST')).toHaveLength(3);
    // Marked idempotent, the same call is retried.
    await expect(api.post('/p', { json: {}, idempotent: true, retry: always })).rejects.toMatchObject({
      attempts: 6,
    });
    expect(server.requests).toHaveLength(9);
    await api.close();
  });
});

describe('delay functions and retryOn with a delay (FakeClock)', () => {
  it('waits what the delay function returns, which sees the attempt and the outcome', async () => {
    script = [503, 'reset', 503];
    const seen: string[] = [];
    const backoff = (c: RetryDelayContext) => {
      seen.push(
        `${c.attempt}/${c.maxRetries} ${c.response?.status ?? c.error?.code} prev=${c.previousDelay} ${c.ctx.tags.route}`,
      );
      return c.attempt * 1000;
    };
    const api = createClient({ baseUrl: server.url, clock, timeout: false, retry: { retries: 3, backoff } });
    const response = await drive(api.get('/shaped'));
    expect(response.status).toBe(200);
    expect(arrivals).toEqual([0, 1000, 3000, 6000]);
    expect(seen.map((s) => s.replace(/ERR_SOCKET|ERR_CONNECTION_RESET/, 'RESET'))).toEqual([
      '1/3 503 prev=0 /shaped',
      '2/3 RESET prev=1000 /shaped',
      '3/3 503 prev=2000 /shaped',
    ]);
    await api.close();
  });

  it("never retries before the server's Retry-After, and tells the delay function about it", async () => {
    script = [{ status: 429, headers: { 'retry-after': '2' } }];
    let asked: number | undefined;
    const api = createClient({
      baseUrl: server.url,
      clock,
      timeout: false,
      retry: {
        backoff: (c) => {
          asked = c.retryAfter;
          return 10;
        },
      },
    });
    await drive(api.get('/a'));
    expect([asked, arrivals]).toEqual([2000, [0, 2000]]);
    await api.close();
  });

  it('a retryOn that returns a number retries after that many ms; false, undefined or Infinity stop', async () => {
    const retryOn: RetryPredicate = ({ response }) =>
      response?.status === 503
        ? 1500
        : response?.status === 502
          ? 0
          : response?.status === 500
            ? Infinity
            : false;
    const api = createClient({ baseUrl: server.url, clock, timeout: false, retry: { retries: 5, retryOn } });
    script = [503, 502, 503];
    expect((await drive(api.get('/a'))).attempts).toBe(4);
    expect(arrivals).toEqual([0, 1500, 1500, 3000]);
    script = [500];
    await expect(drive(api.get('/a'))).rejects.toMatchObject({ status: 500, attempts: 1 });
    script = [404];
    await expect(drive(api.get('/a'))).rejects.toMatchObject({ status: 404, attempts: 1 });
    await api.close();
  });

  it('a retryOn delay applies to errors too, and per call', async () => {
    script = ['reset'];
    const api = createClient({ baseUrl: server.url, clock, timeout: false, retry: none });
    const response = await drive(api.get('/a', { retry: { retryOn: (o) => (o.error ? 250 : false) } }));
    expect([response.status, arrivals]).toEqual([200, [0, 250]]);
    await api.close();
  });

  it('a non-finite delay from the delay function stops retrying', async () => {
    script = [503];
    const api = createClient({ baseUrl: server.url, clock, timeout: false, retry: { backoff: () => NaN } });
    await expect(drive(api.get('/a'))).rejects.toMatchObject({ status: 503, attempts: 1 });
    await api.close();
  });

  it('never sleeps past the deadline, whatever the delay function says', async () => {
    script = [503];
    const api = createClient({
      baseUrl: server.url,
      timeout: { total: 1_000, attempt: 500 },
      retry: { backoff: () => 5_000 },
    });
    await expect(api.get('/a')).rejects.toMatchObject({ status: 503, attempts: 1 });
    await api.close();
  });
});

describe('ctx.isRetry and ctx.maxRetries', () => {
  it('are what per-attempt hooks and policies see', async () => {
    script = [503, 503];
    const seen: [number, boolean, number][] = [];
    const spy = hooks({
      onRequest: (_request, ctx: CallContext) => void seen.push([ctx.attempt, ctx.isRetry, ctx.maxRetries]),
    });
    const api = createClient({ baseUrl: server.url, policies: [retry({ ...none, retries: 2 }), spy] });
    await api.get('/a');
    expect(seen).toEqual([
      [1, false, 2],
      [2, true, 2],
      [3, true, 2],
    ]);
    seen.length = 0;
    await api.get('/a', { retry: { retries: 7 } });
    expect(seen).toEqual([[1, false, 7]]);
    seen.length = 0;
    await api.get('/a', { retry: false });
    expect(seen).toEqual([[1, false, 0]]);
    await api.close();
  });

  it('are 0 and false on a client without retry', async () => {
    let ctxSeen: CallContext | undefined;
    const api = createClient({
      baseUrl: server.url,
      retry: false,
      hooks: {
        onResponse: (_r, ctx) => {
          ctxSeen = ctx;
        },
      },
    });
    await api.get('/a');
    expect([ctxSeen?.isRetry, ctxSeen?.maxRetries]).toEqual([false, 0]);
    await api.close();
  });
});
