import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSettlingOnAbort } from '../src/core/pipeline.js';
import type { HttpRequest } from '../src/core/request.js';
import {
  AbortError,
  attemptTimeout,
  bearerAuth,
  createClient,
  definePolicy,
  HttpResponse,
  isAbortError,
  isTimeoutError,
  rateLimit,
  standardPolicies,
  TimeoutError,
  tokenAuth,
  totalTimeout,
} from '../src/index.js';
import { FakeClock, MemoryTransport } from '../src/testing.js';
import { sendJson, startServer, type TestServer } from './helpers/server.js';

describe('timeouts on a fake clock', () => {
  function slowTransport(clock: FakeClock, ms: number) {
    return new MemoryTransport().route('GET', '/slow', async (_req, ctx) => {
      await clock.sleep(ms, ctx.signal);
      return { json: { done: true } };
    });
  }

  it('fires the attempt timeout', async () => {
    const clock = new FakeClock();
    const api = createClient({
      baseUrl: 'http://mem',
      transport: slowTransport(clock, 5_000),
      clock,
      timeout: { attempt: 1_000, total: 30_000 },
      retry: false,
    });
    const call = api.get('/slow').catch((e: unknown) => e);
    await clock.advance(999);
    expect(clock.pending).toBeGreaterThan(0);
    await clock.advance(1);
    const err = await call;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'attempt', timeout: 1000 });
  });

  it('fires the total timeout and sets the deadline', async () => {
    const clock = new FakeClock();
    let deadline = 0;
    const transport = new MemoryTransport().route('GET', '/slow', async (_req, ctx) => {
      deadline = ctx.deadline;
      await clock.sleep(60_000, ctx.signal);
      return {};
    });
    const api = createClient({ baseUrl: 'http://mem', transport, clock, policies: [totalTimeout(2_000)] });
    const call = api.get('/slow').catch((e: unknown) => e);
    await clock.advance(2_000);
    expect(await call).toMatchObject({ scope: 'total', timeout: 2000 });
    expect(deadline).toBe(2_000);
  });

  it('lets a per-call timeout override the client, and false turn it off', async () => {
    const clock = new FakeClock();
    const api = createClient({
      baseUrl: 'http://mem',
      transport: slowTransport(clock, 5_000),
      clock,
      policies: [attemptTimeout(100)],
    });
    const relaxed = api.get('/slow', { timeout: { attempt: 10_000 } });
    const off = api.get('/slow', { timeout: false });
    await clock.advance(5_000);
    await expect(relaxed.json()).resolves.toEqual({ done: true });
    await expect(off.json()).resolves.toEqual({ done: true });
  });

  it('passes through when the handler finishes in time and clears its timers', async () => {
    const clock = new FakeClock();
    const api = createClient({ baseUrl: 'http://mem', transport: slowTransport(clock, 10), clock });
    const call = api.get('/slow').json();
    await clock.advance(10);
    await expect(call).resolves.toEqual({ done: true });
    expect(clock.pending).toBe(0);
  });
});

describe('timeouts around handlers that do or do not settle on abort', () => {
  // A transport that never answers and ignores the abort: only a racing timeout can end the call.
  function deafTransport() {
    let late: ((response: HttpResponse) => void) | undefined;
    let dumped = false;
    return {
      transport: {
        handle: (request: HttpRequest) =>
          new Promise<HttpResponse>((resolve) => {
            late = resolve;
            void request;
          }),
        close: async () => {},
      },
      answerLate(request: HttpRequest) {
        late?.(
          new HttpResponse({
            status: 200,
            headers: {},
            request,
            elapsed: 0,
            body: Object.assign(Readable.from(['late']), {
              dump: async () => {
                dumped = true;
              },
            }),
          }),
        );
      },
      get dumped() {
        return dumped;
      },
    };
  }

  it('races a handler that ignores the abort: the call fails at its deadline and a late answer is released', async () => {
    const clock = new FakeClock();
    const deaf = deafTransport();
    const api = createClient({
      baseUrl: 'http://mem',
      transport: deaf.transport,
      clock,
      timeout: { total: 0, attempt: 1_000 },
      retry: false,
    });
    expect(isSettlingOnAbort(api.handler)).toBe(false);
    const call = api.get('/x').catch((e: unknown) => e);
    await clock.advance(1_000);
    expect(await call).toMatchObject({ scope: 'attempt', timeout: 1_000 });
    deaf.answerLate(api.buildRequest('GET', '/x'));
    await new Promise((r) => setImmediate(r));
    expect(deaf.dumped).toBe(true);
  });

  it('the standard pipeline over a transport that settles on abort needs no race, and still times out', async () => {
    const clock = new FakeClock();
    const transport = new MemoryTransport().route('GET', '/slow', async (_req, ctx) => {
      await clock.sleep(60_000, ctx.signal);
      return {};
    });
    const api = createClient({
      baseUrl: 'http://mem',
      transport,
      clock,
      preset: 'standard',
      rateLimit: { limit: 100 },
      bulkhead: { maxConcurrent: 10 },
      timeout: { total: 2_500, attempt: 1_000 },
      retry: { retries: 5, backoff: 'constant', baseDelay: 100 },
    });
    expect(isSettlingOnAbort(api.handler)).toBe(true);
    const call = api.get('/slow').catch((e: unknown) => e);
    await clock.advance(2_499);
    await clock.advance(1);
    // Attempts at 0, 1100 and 2200 each time out after 1 s; the total deadline ends the third one at 2500.
    expect(await call).toMatchObject({ scope: 'total', timeout: 2_500 });
    expect(clock.pending).toBe(0);
  });

  it('a policy that does not promise to settle on abort brings the race back', () => {
    const opaque = definePolicy('opaque', (next) => (req, ctx) => next(req, ctx));
    const transport = new MemoryTransport();
    const marked = createClient({ baseUrl: 'http://mem', transport, policies: [totalTimeout(1_000)] });
    const unmarked = createClient({
      baseUrl: 'http://mem',
      transport,
      policies: [totalTimeout(1_000), opaque],
    });
    expect(isSettlingOnAbort(marked.handler)).toBe(true);
    expect(isSettlingOnAbort(unmarked.handler)).toBe(false);
    const remote = createClient({
      baseUrl: 'http://mem',
      transport,
      policies: [
        rateLimit({
          limiter: {
            limit: 1,
            window: 1_000,
            reserve: async () => ({ ok: true, wait: 0, cancel: () => undefined }),
            pause: () => undefined,
            snapshot: () => [],
          },
        }),
      ],
    });
    expect(isSettlingOnAbort(remote.handler)).toBe(false);
    // Token auth ends its waits on abort; a static header from a user function may not.
    const provider = { id: 'p', fetchToken: async () => 'token' };
    const withTokens = createClient({
      baseUrl: 'http://mem',
      transport,
      policies: standardPolicies({ auth: tokenAuth(provider) }, 'standard'),
    });
    const withHeader = createClient({
      baseUrl: 'http://mem',
      transport,
      policies: standardPolicies({ auth: bearerAuth(async () => 'token') }, 'standard'),
    });
    expect(isSettlingOnAbort(withTokens.handler)).toBe(true);
    expect(isSettlingOnAbort(withHeader.handler)).toBe(false);
  });
});

describe('timeouts and abort on a real server', () => {
  let server: TestServer;
  const hung: { closed: boolean }[] = [];
  beforeAll(async () => {
    server = await startServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      if (req.url?.startsWith('/hang-counted')) {
        const entry = { closed: false };
        hung.push(entry);
        res.on('close', () => {
          entry.closed = true;
        });
        return;
      }
      if (req.url === '/hang-once') {
        hung.push({ closed: false });
        if (hung.length === 1) return; // the first attempt hangs, the retry is answered
      }
      sendJson(res, 200, { ok: true });
    });
  });
  afterAll(() => server.close());

  it('aborts a hanging request after the attempt timeout and the connection pool keeps working', async () => {
    const api = createClient({ baseUrl: server.url, timeout: { attempt: 50, total: 1_000 }, retry: false });
    const err = await api.get('/hang').catch((e: unknown) => e);
    expect(isTimeoutError(err) && err.scope).toBe('attempt');
    await expect(api.get('/ok').json()).resolves.toEqual({ ok: true });
    await api.close();
  });

  describe('the attempt deadline handed to the undici transport (fake clock, real sockets)', () => {
    // The server sees each request before the test moves the clock, so the timeout hits a request in flight.
    async function arrived(count: number) {
      for (let i = 0; i < 200 && hung.length < count; i++) await new Promise((r) => setTimeout(r, 5));
      expect(hung.length).toBeGreaterThanOrEqual(count);
    }

    /** A client on a fake clock with a 1 s attempt timeout, no total timeout and no retry. */
    function hangingClient(clock: FakeClock, connections?: number) {
      hung.length = 0;
      return createClient({
        baseUrl: server.url,
        clock,
        timeout: { attempt: 1_000, total: 0 },
        retry: false,
        ...(connections !== undefined && { http: { connections } }),
      });
    }

    it('times out a request in flight at exactly its deadline and closes it', async () => {
      const clock = new FakeClock();
      const api = hangingClient(clock);
      const call = api.get('/hang-counted').catch((e: unknown) => e);
      await arrived(1);
      await clock.advance(999);
      expect(hung[0]?.closed).toBe(false);
      await clock.advance(1);
      const err = await call;
      expect(err).toBeInstanceOf(TimeoutError);
      expect(err).toMatchObject({ scope: 'attempt', timeout: 1_000 });
      for (let i = 0; i < 100 && !hung[0]?.closed; i++) await new Promise((r) => setTimeout(r, 5));
      expect(hung[0]?.closed).toBe(true);
      expect(clock.pending).toBe(0);
      await api.close();
    });

    it('times out a request still waiting for a pool connection, without sending it later', async () => {
      const clock = new FakeClock();
      const api = hangingClient(clock, 1);
      const first = api.get('/hang-counted', { timeout: { attempt: 5_000 } }).catch((e: unknown) => e);
      await arrived(1);
      const second = api.get('/hang-counted?second').catch((e: unknown) => e); // queued behind the first
      let secondSettled = false;
      void second.then(() => {
        secondSettled = true;
      });
      await clock.advance(999);
      expect(secondSettled).toBe(false);
      await clock.advance(1);
      expect(await second).toMatchObject({ scope: 'attempt', timeout: 1_000 });
      await clock.advance(4_000); // the first times out and frees the connection
      expect(await first).toMatchObject({ scope: 'attempt', timeout: 5_000 });
      await new Promise((r) => setTimeout(r, 50));
      expect(hung).toHaveLength(1); // the timed-out second request was never sent
      expect(clock.pending).toBe(0);
      await api.close();
    });

    it('a caller abort fails a request still waiting for a pool connection at once, and it is never sent', async () => {
      const clock = new FakeClock();
      const api = hangingClient(clock, 1);
      const first = api.get('/hang-counted', { timeout: { attempt: 5_000 } }).catch((e: unknown) => e);
      await arrived(1);
      const caller = new AbortController();
      const second = api.get('/hang-counted?second', { signal: caller.signal }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 10));
      caller.abort();
      expect(await second).toMatchObject({ code: 'ERR_ABORTED' }); // no clock movement needed
      await clock.advance(5_000);
      expect(await first).toMatchObject({ scope: 'attempt' });
      await new Promise((r) => setTimeout(r, 50));
      expect(hung).toHaveLength(1);
      await api.close();
    });

    it('retries after an attempt timeout and succeeds, with the total timeout still in force', async () => {
      const clock = new FakeClock();
      let calls = 0;
      const api = createClient({
        baseUrl: server.url,
        clock,
        timeout: { attempt: 1_000, total: 30_000 },
        retry: { retries: 2, backoff: 'none' },
      });
      hung.length = 0;
      api.on('attempt', () => {
        calls++;
      });
      const call = api.get('/hang-once').json();
      await arrived(1);
      await clock.advance(1_000);
      await expect(call).resolves.toEqual({ ok: true });
      expect(calls).toBe(2);
      expect(clock.pending).toBe(0);
      await api.close();
    });
  });

  it('aborts when the caller aborts, with the reason as cause', async () => {
    const api = createClient({ baseUrl: server.url });
    const controller = new AbortController();
    const call = api.get('/hang', { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(new Error('user gave up')), 20);
    const err = await call;
    expect(err).toBeInstanceOf(AbortError);
    expect(isAbortError(err) && (err.cause as Error).message).toBe('user gave up');
    const already = await api.get('/ok', { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(isAbortError(already)).toBe(true);
    await api.close();
  });

  it('aborts a bare client (no policies) through the transport', async () => {
    const api = createClient({ baseUrl: server.url, policies: [] });
    const err = await api.get('/hang', { signal: AbortSignal.timeout(30) }).catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    await api.close();
  });
});
