import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  apiKeyAuth,
  bearerAuth,
  createClient,
  followRedirects,
  HttpResponse,
  isRedirectError,
  tokenAuth,
} from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A server that answers `/to/<status>?<location>` with that redirect, and everything else with 200 and its path. */
async function origin(): Promise<TestServer> {
  const s = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/to\/(\d+)$/.exec(url.pathname);
    if (m) {
      // The location is the first query part (an auth policy may append its own parameters after it).
      const location = decodeURIComponent(url.search.slice(1).split('&')[0] ?? '');
      res.writeHead(Number(m[1]), { location, 'content-length': 5 });
      res.end('moved');
      return;
    }
    if (url.pathname === '/loop') {
      res.writeHead(302, { location: '/loop' });
      res.end();
      return;
    }
    if (url.pathname === '/leaky') {
      res.writeHead(302, { location: '/cb?access_token=leak-me-123' });
      res.end();
      return;
    }
    if (url.pathname === '/fail') {
      res.writeHead(500);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${req.method} ${url.pathname}`);
  });
  cleanup.push(() => s.close());
  return s;
}

const to = (status: number, location: string) => `/to/${status}?${encodeURIComponent(location)}`;

describe('redirects (issue 14)', () => {
  it('follows to another origin without Authorization, cookies, API keys or the auth policy, and records the chain', async () => {
    const a = await origin();
    const b = await origin();
    const api = createClient({
      baseUrl: a.url,
      auth: bearerAuth('tok-secret-1'),
      headers: { cookie: 'sid=s3cr3t', 'x-api-key': 'key-secret-2', 'x-trace': 'keep-me' },
      retry: false,
    });
    cleanup.push(() => api.close());
    const response = await api.get(to(302, `${b.url}/landing`));
    expect(await response.text()).toBe('GET /landing');
    // Origin A got every credential; origin B none of them.
    expect(a.requests[0]?.headers).toMatchObject({
      authorization: 'Bearer tok-secret-1',
      cookie: 'sid=s3cr3t',
      'x-api-key': 'key-secret-2',
    });
    expect(b.requests).toHaveLength(1);
    const seen = b.requests[0]?.headers ?? {};
    expect(seen.authorization).toBeUndefined();
    expect(seen.cookie).toBeUndefined();
    expect(seen['x-api-key']).toBeUndefined();
    expect(seen['x-trace']).toBe('keep-me');
    expect(JSON.stringify(seen)).not.toMatch(/secret/);
    // The chain is on the response.
    expect(response.redirected).toBe(true);
    expect(response.url).toBe(`${b.url}/landing`);
    expect(response.redirects.map((h) => [h.status, h.request.url])).toEqual([
      [302, `${a.url}${to(302, `${b.url}/landing`)}`],
    ]);
    expect(response.attempts).toBe(2);
    // Printed, the chain shows no credential.
    expect(inspect(response.redirects, { depth: 5 })).not.toMatch(/tok-secret|s3cr3t|key-secret/);
  });

  it('token auth does not run for the foreign hop (no token served, none fetched)', async () => {
    const a = await origin();
    const b = await origin();
    let fetches = 0;
    const api = createClient({
      baseUrl: a.url,
      retry: false,
      auth: tokenAuth({
        id: 'redirect-test',
        fetchToken: async () => {
          fetches++;
          return { accessToken: 'oauth-secret-9', expiresIn: 3600 };
        },
      }),
    });
    cleanup.push(() => api.close());
    await api.get('/warm').text();
    const served: string[] = [];
    api.on('token', (e) => served.push(e.kind));
    await api.get(to(302, `${b.url}/landing`)).text();
    // One cached token for the hop to A, none for the hop to B.
    expect(served).toEqual(['cacheHit']);
    expect(fetches).toBe(1);
    expect(a.requests.at(-1)?.headers.authorization).toBe('Bearer oauth-secret-9');
    expect(b.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('a query-string API key is not added on the foreign hop either', async () => {
    const a = await origin();
    const b = await origin();
    const api = createClient({
      baseUrl: a.url,
      auth: apiKeyAuth({ query: 'api_key', key: 'qs-secret' }),
      retry: false,
    });
    cleanup.push(() => api.close());
    await api.get(to(307, `${b.url}/x`)).text();
    expect(a.requests[0]?.url).toContain('api_key=qs-secret');
    expect(b.requests[0]?.url).toBe('/x');
  });

  it('keeps credentials on a same-origin hop, and drops them for the rest of the chain once it left', async () => {
    const a = await origin();
    const b = await origin();
    const api = createClient({ baseUrl: a.url, auth: bearerAuth('tok-1'), retry: false });
    cleanup.push(() => api.close());
    await api.get(to(301, '/same')).text();
    expect(a.requests.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-1']);
    // A → B → back to A: B could point anywhere at A, so the return hop carries nothing either.
    const back = `${a.url}/back`;
    const response = await api.get(to(302, `${b.url}${to(302, back)}`));
    expect(await response.text()).toBe('GET /back');
    expect(a.requests.at(-1)?.headers.authorization).toBeUndefined();
    expect(response.redirects.map((h) => h.status)).toEqual([302, 302]);
    // And the next call starts with credentials again.
    await api.get('/later').text();
    expect(a.requests.at(-1)?.headers.authorization).toBe('Bearer tok-1');
  });

  it("each hop passes its own origin's circuit breaker", async () => {
    const a = await origin();
    const b = await origin();
    const api = createClient({
      baseUrl: a.url,
      retry: false,
      circuitBreaker: { consecutiveFailures: 2 },
      throwHttpErrors: false,
    });
    cleanup.push(() => api.close());
    // Two failures straight at B open B's breaker.
    expect((await api.get(`${b.url}/fail`)).status).toBe(500);
    expect((await api.get(`${b.url}/fail`)).status).toBe(500);
    const before = b.requests.length;
    const bHost = new URL(b.url).host;
    await expect(api.get(to(302, `${b.url}/landing`))).rejects.toMatchObject({
      code: 'ERR_CIRCUIT_OPEN',
      key: bHost,
    });
    expect(b.requests.length).toBe(before);
    // A's breaker is another one, still closed.
    expect((await api.get('/fine')).status).toBe(200);
  });

  it("each hop passes its own origin's rate limiter", async () => {
    const a = await origin();
    const b = await origin();
    const api = createClient({
      baseUrl: a.url,
      retry: false,
      rateLimit: { limit: 1, window: '1m', strategy: 'raise' },
    });
    cleanup.push(() => api.close());
    await api.get(`${b.url}/direct`).text();
    await expect(api.get(to(302, `${b.url}/landing`))).rejects.toMatchObject({
      code: 'ERR_RATE_LIMITED',
      key: new URL(b.url).host,
    });
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
  });

  it('applies the RFC 9110 method and body rules', async () => {
    const a = await origin();
    const api = createClient({ baseUrl: a.url, retry: false });
    cleanup.push(() => api.close());
    const last = () => a.requests.at(-1)!;

    expect(await api.post(to(303, '/r'), { json: { a: 1 } }).text()).toBe('GET /r');
    expect(last().body.length).toBe(0);
    expect(last().headers['content-type']).toBeUndefined();

    expect(await api.post(to(302, '/r'), { json: { a: 1 } }).text()).toBe('GET /r');
    expect(await api.post(to(301, '/r'), { json: { a: 1 } }).text()).toBe('GET /r');

    expect(await api.post(to(307, '/r'), { json: { a: 1 } }).text()).toBe('POST /r');
    expect(last().body.toString()).toBe('{"a":1}');
    expect(last().headers['content-type']).toBe('application/json');

    expect(await api.put(to(308, '/r'), { body: 'x' }).text()).toBe('PUT /r');
    expect(last().body.toString()).toBe('x');
    expect(await api.put(to(301, '/r'), { body: 'y' }).text()).toBe('PUT /r');
    expect(last().body.toString()).toBe('y');

    const head = await api.head(to(303, '/r'));
    expect(head.status).toBe(200);
    expect(last().method).toBe('HEAD');
  });

  it('refuses to resend a body that was a stream sent once (307), and follows a body factory', async () => {
    const a = await origin();
    const api = createClient({ baseUrl: a.url, retry: false });
    cleanup.push(() => api.close());
    const once = (async function* () {
      yield new TextEncoder().encode('once');
    })();
    const error = await api.post(to(307, '/r'), { body: once }).catch((e: unknown) => e);
    expect(isRedirectError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_REDIRECT', reason: 'body-not-replayable', status: 307 });
    expect(await api.post(to(307, '/r'), { body: () => 'again' }).text()).toBe('POST /r');
    expect(a.requests.at(-1)?.body.toString()).toBe('again');
  });

  it('stops after redirect.max hops (default 10) with a RedirectError; per call max and false', async () => {
    const a = await origin();
    const api = createClient({ baseUrl: a.url, retry: false });
    cleanup.push(() => api.close());
    const error = await api.get('/loop').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_REDIRECT', reason: 'too-many', status: 302 });
    expect((error as { redirects: unknown[] }).redirects).toHaveLength(10);
    expect((error as Error).message).toMatch(/more than 10/);
    expect(a.requests).toHaveLength(11);

    a.requests.length = 0;
    await expect(api.get('/loop', { redirect: { max: 2 } })).rejects.toMatchObject({ reason: 'too-many' });
    expect(a.requests).toHaveLength(3);

    a.requests.length = 0;
    const manual = await api.get('/loop', { redirect: false, throwHttpErrors: false });
    expect(manual.status).toBe(302);
    expect(manual.header('location')).toBe('/loop');
    expect(manual.redirects).toEqual([]);
    expect(a.requests).toHaveLength(1);
    // Without throwHttpErrors: false a 3xx left alone is an HttpError, as before.
    await expect(api.get('/loop', { redirect: false })).rejects.toMatchObject({ status: 302 });
  });

  it('client options: redirect: false, { max }, and the policy in a custom pipeline', async () => {
    const a = await origin();
    const off = createClient({ baseUrl: a.url, redirect: false, throwHttpErrors: false });
    cleanup.push(() => off.close());
    expect((await off.get(to(302, '/r'))).status).toBe(302);
    await expect(off.get('/r', { redirect: { max: 1 } })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      option: 'redirect',
    });
    const custom = createClient({ baseUrl: a.url, policies: [followRedirects({ max: 1 })] });
    cleanup.push(() => custom.close());
    expect(await custom.get(to(302, '/r')).text()).toBe('GET /r');
    await expect(custom.get('/loop')).rejects.toMatchObject({ reason: 'too-many' });
    expect(() => createClient({ redirect: { max: -1 } })).toThrow(/redirect\.max/);
    expect(() => createClient({ redirect: { maxx: 1 } as never })).toThrow(/redirect\.maxx/);
    expect(() => createClient({ policies: [], redirect: false })).toThrow(/followRedirects/);
  });

  it('refuses a Location that is not http(s) or carries credentials, and prints none of its secrets', async () => {
    const a = await origin();
    const api = createClient({ baseUrl: a.url, retry: false });
    cleanup.push(() => api.close());
    await expect(api.get(to(302, 'file:///etc/passwd'))).rejects.toMatchObject({ reason: 'bad-location' });
    await expect(api.get(to(302, 'http://user:pw@127.0.0.1:1/'))).rejects.toMatchObject({
      reason: 'bad-location',
    });
    const error = await api.get('/leaky', { redirect: { max: 0 } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'too-many' });
    expect((error as Error).message).not.toContain('leak-me-123');
    expect(inspect(error, { depth: 6 })).not.toContain('leak-me-123');
    expect(JSON.stringify(error)).not.toContain('leak-me-123');
  });

  it('a 3xx without Location, and 304, are returned as they are', async () => {
    const s = await startServer((req, res) => {
      res.writeHead(req.url === '/nm' ? 304 : 302);
      res.end();
    });
    cleanup.push(() => s.close());
    const api = createClient({ baseUrl: s.url, throwHttpErrors: false });
    cleanup.push(() => api.close());
    expect((await api.get('/no-location')).status).toBe(302);
    expect((await api.get('/nm')).status).toBe(304);
    expect(s.requests).toHaveLength(2);
  });
});

describe('redirects under the total timeout (the preset fuses the redirect check into the timeout)', () => {
  it('a hop that outlives the total timeout fails the call with the total timeout, and the slow hop is aborted', async () => {
    let slowStarted = 0;
    let slowClosed = 0;
    const s = await startServer((req, res) => {
      if (req.url === '/start') {
        res.writeHead(302, { location: '/slow', 'content-length': 0 });
        res.end();
        return;
      }
      slowStarted++;
      res.on('close', () => slowClosed++);
      // Never answers: only the total timeout can end the call.
    });
    cleanup.push(() => s.close());
    const api = createClient({ baseUrl: s.url, timeout: { total: 300, attempt: 250 }, retry: false });
    const started = Date.now();
    const error = await api.get('/start').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT' });
    // The attempt timeout of the hop (250 ms) or the total (300 ms): the call never outlives the total.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(slowStarted).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(slowClosed).toBe(1);
  });

  it('the total deadline spans every hop: three hops of 120 ms under a 300 ms total fail with the total timeout', async () => {
    const seen: string[] = [];
    const s = await startServer((req, res) => {
      seen.push(req.url ?? '');
      const n = Number((req.url ?? '').slice(1));
      setTimeout(() => {
        if (n < 3) res.writeHead(302, { location: `/${n + 1}`, 'content-length': 0 }).end();
        else res.writeHead(200, { 'content-length': 2 }).end('ok');
      }, 120);
    });
    cleanup.push(() => s.close());
    const api = createClient({ baseUrl: s.url, timeout: { total: 300, attempt: 250 }, retry: false });
    const error = await api.get('/0').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'total' });
    expect(seen).toEqual(['/0', '/1', '/2']);
    // Without the deadline the chain completes: the hops themselves are fine.
    const slow = createClient({ baseUrl: s.url, timeout: { total: 2000, attempt: 250 }, retry: false });
    const response = await slow.get('/0');
    expect(await response.text()).toBe('ok');
    expect(response.redirects.map((h) => h.status)).toEqual([302, 302, 302]);
  });

  it('with a transport that does not settle on abort (raced), a hop that never answers still ends at the total timeout', async () => {
    const seen: string[] = [];
    const api = createClient({
      baseUrl: 'http://raced.invalid',
      timeout: { total: 200, attempt: 0 },
      retry: false,
      transport: {
        handle: (request) => {
          seen.push(request.path);
          if (request.path === '/start') {
            return Promise.resolve(
              new HttpResponse({
                status: 302,
                headers: { location: '/never', 'content-length': '0' },
                request,
                elapsed: 0,
                body: Readable.from([]),
              }),
            );
          }
          return new Promise<HttpResponse>(() => undefined);
        },
        close: async () => undefined,
      },
    });
    const error = await api.get('/start').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'total' });
    expect(seen).toEqual(['/start', '/never']);
  });

  it('`redirect: false` on a call returns the 3xx as it is under the same preset', async () => {
    const s = await origin();
    const api = createClient({ baseUrl: s.url });
    const response = await api.get(to(302, '/there'), { redirect: false, throwHttpErrors: false });
    expect(response.status).toBe(302);
    expect(await api.get(to(302, '/there')).text()).toBe('GET /there');
  });
});
