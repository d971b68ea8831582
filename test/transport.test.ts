import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  definePolicy,
  type HttpRequest,
  HttpTransport,
  isNetworkError,
  runWithContext,
} from '../src/index.js';
import { MemoryTransport, networkError } from '../src/testing.js';
import { sendJson, startServer, type TestServer } from './helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer((req, res) => sendJson(res, 200, { url: req.url, headers: req.headers }));
});
afterAll(() => server.close());

const tick = () => new Promise((r) => setImmediate(r));

describe('undici transport', () => {
  it('reuses one keep-alive socket for sequential calls', async () => {
    const api = createClient({ baseUrl: server.url });
    const before = server.connections;
    for (let i = 0; i < 20; i++) {
      await api.get('/seq').json();
      await tick();
    }
    expect(server.connections - before).toBe(1);
    await api.close();
  });

  it('respects the per-origin connection limit', async () => {
    // 30 calls at once need more than two sockets; the limit keeps them to exactly two, the default does not.
    const socketsFor30Calls = async (http: { connections?: number }) => {
      const api = createClient({ baseUrl: server.url, http });
      const before = server.connections;
      const bodies = await Promise.all(Array.from({ length: 30 }, () => api.get('/par').json()));
      await api.close();
      expect(bodies).toHaveLength(30);
      return server.connections - before;
    };
    expect(await socketsFor30Calls({ connections: 2 })).toBe(2);
    expect(await socketsFor30Calls({})).toBeGreaterThan(2);
  });

  it('releases the connection of a response nobody reads when dumped', async () => {
    const api = createClient({ baseUrl: server.url, http: { connections: 1 } });
    for (let i = 0; i < 5; i++) await (await api.get('/unread')).dump();
    await expect(api.get('/after').json()).resolves.toMatchObject({ url: '/after' });
    await api.close();
  });

  it('exposes the body as a Node stream and a web stream', async () => {
    const api = createClient({ baseUrl: server.url });
    const res = await api.get('/stream');
    let text = '';
    for await (const chunk of res.body) text += chunk;
    expect(JSON.parse(text).url).toBe('/stream');
    const web = (await api.get('/web')).stream();
    const reader = web.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel();
    await api.close();
  });

  it('accepts a caller-owned dispatcher and does not close it', async () => {
    const shared = new HttpTransport();
    const api = createClient({ baseUrl: server.url, http: { dispatcher: shared.dispatcher } });
    await api.get('/x').text();
    await api.close();
    const again = createClient({ baseUrl: server.url, http: { dispatcher: shared.dispatcher } });
    await expect(again.get('/y').json()).resolves.toMatchObject({ url: '/y' });
    await shared.dispatcher.close();
  });

  it('closes pooled sockets on close()', async () => {
    const s = createHttpServer((_req, res) => res.end('ok'));
    // Keep-alive timeouts far beyond the wait below: only close() can end these sockets in time.
    s.keepAliveTimeout = 60_000;
    const closed: Promise<unknown>[] = [];
    s.on('connection', (socket: Socket) => closed.push(once(socket, 'close')));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const api = createClient({
      baseUrl: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
      http: { keepAliveTimeout: 60_000 },
    });
    await Promise.all([api.get('/').text(), api.get('/').text()]);
    expect(closed).toHaveLength(2);
    await api.close();
    await Promise.race([
      Promise.all(closed),
      delay(5_000).then(() => Promise.reject(new Error('pooled sockets still open 5 s after close()'))),
    ]);
    await expect(new Promise<number>((r) => s.getConnections((_e, n) => r(n)))).resolves.toBe(0);
    await new Promise<void>((r) => s.close(() => r()));
  });
});

describe('in-memory transport', () => {
  it('routes, captures params and records calls', async () => {
    const memory = new MemoryTransport()
      .route('GET', '/v1/users/{id}', (req) => ({ json: { id: req.params.id, q: req.query.get('q') } }))
      .route('POST', '/v1/users', (req) => ({
        status: 201,
        json: req.json(),
        headers: { location: '/users/9' },
      }));
    const api = createClient({ baseUrl: 'http://api.test/v1', transport: memory });
    await expect(
      api.get('/users/{id}', { params: { id: 'a b' }, query: { q: 'z' } }).json(),
    ).resolves.toEqual({ id: 'a b', q: 'z' });
    const created = await api.post('/users', { json: { name: 'Ann' } });
    expect(created.status).toBe(201);
    expect(created.header('location')).toBe('/users/9');
    expect(memory.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'GET http://api.test/v1/users/a%20b?q=z',
      'POST http://api.test/v1/users',
    ]);
    expect(memory.calls[1]?.body).toBe('{"name":"Ann"}');
    await expect(api.get('/nope')).rejects.toMatchObject({
      status: 404,
      problem: { title: 'No route matched' },
    });
  });

  it('simulates network failures', async () => {
    const memory = new MemoryTransport().route('*', '/down', () => {
      throw networkError('ECONNRESET');
    });
    const api = createClient({ baseUrl: 'http://api.test', transport: memory, policies: [] });
    const err = await api.get('/down').catch((e: unknown) => e);
    expect(isNetworkError(err) && err.code).toBe('ERR_CONNECTION_RESET');
  });
});

describe('pipeline, hooks and events', () => {
  it('runs policies outermost first, and hooks once per call', async () => {
    const order: string[] = [];
    const tag = (name: string) =>
      definePolicy(name, (next) => async (req, ctx) => {
        order.push(`>${name}`);
        const res = await next(req.withHeaders({ [`x-${name}`]: '1' }), ctx);
        order.push(`<${name}`);
        return res;
      });
    const api = createClient({
      baseUrl: server.url,
      policies: [tag('a'), tag('b')],
      hooks: {
        onRequest: (req) => {
          order.push('onRequest');
          return req.withHeaders({ 'x-hook': 'h' });
        },
        onResponse: (res) => {
          order.push(`onResponse ${res.status}`);
        },
      },
    });
    const echo = await api.get('/p').json<{ headers: Record<string, string> }>();
    expect(order).toEqual(['onRequest', '>a', '>b', '<b', '<a', 'onResponse 200']);
    expect(echo.headers).toMatchObject({ 'x-a': '1', 'x-b': '1', 'x-hook': 'h' });
    await api.close();
  });

  it('lets onError recover with a response', async () => {
    const memory = new MemoryTransport()
      .route('GET', '/fallback', () => ({ json: 'cached' }))
      .route('GET', '/down', () => {
        throw networkError('ECONNREFUSED');
      });
    let seen = '';
    const api = createClient({
      baseUrl: 'http://m',
      transport: memory,
      retry: false,
      hooks: {
        onError: async (error, ctx) => {
          seen = error.code;
          return memory.handle(error.request!.withUrl('http://m', '/fallback'), ctx);
        },
      },
    });
    await expect(api.get('/down').json()).resolves.toBe('cached');
    expect(seen).toBe('ERR_CONNECTION_REFUSED');
  });

  it('emits request, attempt, response and error events with redacted payloads', async () => {
    const memory = new MemoryTransport()
      .route('GET', '/ok', () => ({ json: 1 }))
      .route('GET', '/bad', () => ({ status: 500 }));
    const api = createClient({
      baseUrl: 'http://m',
      transport: memory,
      name: 'billing',
      headers: { authorization: 'Bearer t0k' },
    });
    const seen: string[] = [];
    api.on('request', (e) =>
      seen.push(`request ${e.request.path} ${e.ctx.tags.service} ${e.ctx.tags.route}`),
    );
    api.on('attempt', (e) => seen.push(`attempt ${e.attempt}`));
    api.on('response', (e) => seen.push(`response ${e.response.status}`));
    const off = api.on('error', (e) => seen.push(`error ${e.error.code} ${JSON.stringify(e.request)}`));
    await api.get('/ok').json();
    await api.get('/bad').catch(() => undefined);
    off();
    await api.get('/bad').catch(() => undefined);
    expect(seen.slice(0, 3)).toEqual(['request /ok billing /ok', 'attempt 1', 'response 200']);
    expect(seen.filter((s) => s.startsWith('error'))).toHaveLength(1);
    expect(seen.join('\n')).not.toContain('t0k');
  });

  it('forwards the ambient request id and correlation id', async () => {
    const api = createClient({ baseUrl: server.url });
    const echo = await runWithContext({ requestId: 'req-1', correlationId: 'corr-1' }, () =>
      api.get('/ctx').json<{ headers: Record<string, string> }>(),
    );
    expect(echo.headers['x-request-id']).toBe('req-1');
    expect(echo.headers['x-correlation-id']).toBe('corr-1');
    const explicit = await runWithContext({ requestId: 'req-2' }, () =>
      api.get('/ctx', { headers: { 'x-request-id': 'mine' } }).json<{ headers: Record<string, string> }>(),
    );
    expect(explicit.headers['x-request-id']).toBe('mine');
    const nested = await runWithContext({ requestId: 'outer' }, () =>
      runWithContext({ correlationId: 'inner' }, async () => {
        await new Promise((r) => setTimeout(r, 1));
        return api.get('/ctx').json<{ headers: Record<string, string> }>();
      }),
    );
    expect(nested.headers).toMatchObject({ 'x-request-id': 'outer', 'x-correlation-id': 'inner' });
    const off = createClient({ baseUrl: server.url, propagate: false });
    const none = await runWithContext({ requestId: 'r' }, () =>
      off.get('/ctx').json<{ headers: Record<string, string> }>(),
    );
    expect(none.headers['x-request-id']).toBeUndefined();
    await Promise.all([api.close(), off.close()]);
  });

  it('keeps requests immutable through policies', async () => {
    const memory = new MemoryTransport().route('GET', '/i', () => ({ json: 1 }));
    let original: HttpRequest | undefined;
    const api = createClient({
      baseUrl: 'http://m',
      transport: memory,
      policies: [
        definePolicy('capture', (next) => (req, ctx) => {
          original = req;
          return next(req.withHeaders({ 'x-added': '1' }), ctx);
        }),
      ],
    });
    await api.get('/i').json();
    expect(original?.header('x-added')).toBeUndefined();
    expect(memory.calls[0]?.request.header('x-added')).toBe('1');
  });
});
