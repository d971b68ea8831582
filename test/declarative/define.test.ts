import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineClient,
  del,
  get,
  head,
  isResponseValidationError,
  patch,
  post,
  put,
  type ResponseValidationError,
} from '../../src/declarative.js';
import { bearerAuth, isCircuitOpenError, isServerError, MemoryTokenStore } from '../../src/index.js';
import { MemoryTransport } from '../../src/testing.js';
import { refusal } from '../helpers/options.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';

const Product = z.object({ id: z.string(), name: z.string(), price: z.number() });
const NewProduct = z.object({ name: z.string(), price: z.number() });
const SearchQuery = z.object({ category: z.string(), limit: z.number().optional() });

let server: TestServer;
/** Per test: what the server answers for a path (status, body), by default an echo of what it received. */
let answer: (method: string, url: string, attempt: number) => { status: number; body?: unknown } = () => ({
  status: 200,
});
const seen = new Map<string, number>();

beforeAll(async () => {
  server = await startServer((req, res, body) => {
    const key = `${req.method} ${req.url}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    const a = answer(req.method ?? '', req.url ?? '', n);
    if (a.status === 204 || req.method === 'HEAD') {
      res.writeHead(a.status === 204 ? 204 : 200, { 'x-seen': String(n) });
      res.end();
      return;
    }
    sendJson(
      res,
      a.status,
      a.body ?? { method: req.method, url: req.url, body: body.length ? JSON.parse(body.toString()) : null },
    );
  });
});
afterAll(() => server.close());

function reset(fn: typeof answer = () => ({ status: 200 })) {
  answer = fn;
  seen.clear();
  server.requests.length = 0;
}

const Inventory = defineClient({
  baseUrl: 'http://placeholder.invalid',
  retry: { retries: 3, baseDelay: 0 },
  circuitBreaker: { consecutiveFailures: 5 },
  endpoints: {
    getProduct: get('/products/{productId}', { response: Product }),
    raw: get('/products/{productId}/raw'),
    search: get('/products', { query: SearchQuery }),
    create: post('/products', { body: NewProduct, idempotencyKey: true }),
    createUnsafe: post('/unsafe', { body: NewProduct }),
    createSafe: post('/safe', { body: NewProduct, idempotent: true }),
    update: put('/products/{productId}', { body: NewProduct }),
    notIdempotentPut: put('/counter/{id}', { idempotent: false }),
    remove: del('/products/{productId}'),
    patch: patch('/products/{productId}', { body: NewProduct.partial() }),
    exists: head('/products/{productId}'),
    flaky: get('/flaky', { breakerKey: 'flaky-group' }),
    flaky2: get('/flaky2', { breakerKey: 'flaky-group' }),
    other: get('/other'),
    noRetry: get('/no-retry', { retry: false }),
  },
});

function connect() {
  return Inventory.connect({ baseUrl: server.url });
}

describe('defineClient against a loopback server', () => {
  it('sends every HTTP method with path parameters, query, headers and JSON bodies', async () => {
    reset((method, url) =>
      url.startsWith('/products/abc') && method === 'GET'
        ? { status: 200, body: { id: 'abc', name: 'Hammer', price: 12 } }
        : { status: 200 },
    );
    const inv = connect();
    try {
      expect(await inv.getProduct({ productId: 'abc' })).toEqual({ id: 'abc', name: 'Hammer', price: 12 });
      await inv.search({ query: { category: 'tools', limit: 2 } });
      await inv.create({ body: { name: 'Saw', price: 3 } });
      await inv.update({ productId: 'abc', body: { name: 'x', price: 1 }, headers: { 'if-match': '"e1"' } });
      await inv.patch({ productId: 'abc', body: { price: 2 } });
      await inv.remove({ productId: 'abc' });
      expect(await inv.exists({ productId: 'abc' })).toBeUndefined();
      const r = server.requests;
      expect(r.map((x) => `${x.method} ${x.url}`)).toEqual([
        'GET /products/abc',
        'GET /products?category=tools&limit=2',
        'POST /products',
        'PUT /products/abc',
        'PATCH /products/abc',
        'DELETE /products/abc',
        'HEAD /products/abc',
      ]);
      expect(JSON.parse(r[2]!.body.toString())).toEqual({ name: 'Saw', price: 3 });
      expect(r[2]!.headers['content-type']).toBe('application/json');
      expect(r[3]!.headers['if-match']).toBe('"e1"');
      expect(JSON.parse(r[4]!.body.toString())).toEqual({ price: 2 });
      expect(r[5]!.body.length).toBe(0);
    } finally {
      await inv.close();
    }
  });

  it('encodes hostile path values as one segment', async () => {
    reset();
    const inv = connect();
    try {
      for (const hostile of ['../admin', 'a/b?c=d#e', '%2e%2e', 'ü 1', '..%2F']) {
        await inv.raw({ productId: hostile });
      }
      expect(server.requests.map((x) => x.url)).toEqual([
        '/products/..%2Fadmin/raw',
        '/products/a%2Fb%3Fc%3Dd%23e/raw',
        '/products/%252e%252e/raw',
        '/products/%C3%BC%201/raw',
        '/products/..%252F/raw',
      ]);
      for (const bad of ['', '.', '..']) {
        await expect(inv.raw({ productId: bad })).rejects.toMatchObject({ code: 'ERR_INVALID_REQUEST' });
      }
      expect(server.requests.length).toBe(5);
    } finally {
      await inv.close();
    }
  });

  it('refuses, at run time, argument keys that are neither path parameters nor reserved', async () => {
    reset();
    const inv = connect();
    try {
      const call = inv.getProduct as (args: unknown) => Promise<unknown>;
      await expect(call({ productId: 'a', category: 'x' })).rejects.toThrow(
        'Invalid option "getProduct().category": unknown option',
      );
      await expect(call({ prodctId: 'a' })).rejects.toThrow(/did you mean "productId"/);
      await expect(call({})).rejects.toThrow('Missing path parameter "productId"');
      await expect(call('abc')).rejects.toThrow('getProduct() takes one object argument');
      await expect(call({ productId: 'a', body: {} })).rejects.toThrow(
        'getProduct() takes no body (a GET endpoint without a body schema)',
      );
      expect(server.requests.length).toBe(0);
    } finally {
      await inv.close();
    }
  });

  it('throws a ResponseValidationError with paths and messages, never the received values', async () => {
    reset(() => ({
      status: 200,
      body: { id: 'abc', name: 'sekret-product-name', price: 'top-secret-price' },
    }));
    const inv = connect();
    try {
      const error = (await inv
        .getProduct({ productId: 'abc' })
        .catch((e: unknown) => e)) as ResponseValidationError;
      expect(isResponseValidationError(error)).toBe(true);
      expect(error.code).toBe('ERR_RESPONSE_VALIDATION');
      expect(error.endpoint).toBe('getProduct');
      expect(error.status).toBe(200);
      expect(error.issues).toEqual([
        { path: ['price'], message: 'Invalid input: expected number, received string' },
      ]);
      expect(error.request?.method).toBe('GET');
      const printed = `${error.message} ${JSON.stringify(error)} ${inspect(error)}`;
      expect(printed).not.toContain('top-secret-price');
      expect(printed).not.toContain('sekret-product-name');
    } finally {
      await inv.close();
    }
  });
});

describe('per-endpoint retry safety', () => {
  it('never repeats a POST without a key', async () => {
    reset(() => ({ status: 503 }));
    const inv = connect();
    try {
      await expect(inv.createUnsafe({ body: { name: 'a', price: 1 } })).rejects.toSatisfy(isServerError);
      expect(server.requests.length).toBe(1);
      expect(server.requests[0]!.headers['idempotency-key']).toBeUndefined();
    } finally {
      await inv.close();
    }
  });

  it('with idempotencyKey: true, sends the same key on every attempt and a new one per call', async () => {
    reset((_m, _u, n) => ({ status: n < 3 ? 503 : 201 }));
    const inv = connect();
    try {
      await inv.create({ body: { name: 'a', price: 1 } });
      expect(server.requests.length).toBe(3);
      const keys = server.requests.map((r) => r.headers['idempotency-key']);
      expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(new Set(keys).size).toBe(1);
      reset(() => ({ status: 201 }));
      await inv.create({ body: { name: 'b', price: 1 } });
      expect(server.requests[0]!.headers['idempotency-key']).not.toBe(keys[0]);
      reset(() => ({ status: 201 }));
      await inv.create({ body: { name: 'c', price: 1 }, headers: { 'idempotency-key': 'mine-1' } });
      expect(server.requests[0]!.headers['idempotency-key']).toBe('mine-1');
    } finally {
      await inv.close();
    }
  });

  it('retries a POST declared idempotent, and never a PUT declared not idempotent', async () => {
    reset((_m, _u, n) => ({ status: n < 2 ? 503 : 200 }));
    const inv = connect();
    try {
      await inv.createSafe({ body: { name: 'a', price: 1 } });
      expect(server.requests.length).toBe(2);
      reset(() => ({ status: 503 }));
      await expect(inv.notIdempotentPut({ id: 1 })).rejects.toSatisfy(isServerError);
      expect(server.requests.length).toBe(1);
      reset(() => ({ status: 503 }));
      await expect(inv.update({ productId: 'a', body: { name: 'a', price: 1 } })).rejects.toThrow();
      expect(server.requests.length).toBe(4);
    } finally {
      await inv.close();
    }
  });

  it('honours retry: false per endpoint and per call', async () => {
    reset(() => ({ status: 503 }));
    const inv = connect();
    try {
      await expect(inv.noRetry()).rejects.toSatisfy(isServerError);
      expect(server.requests.length).toBe(1);
      reset(() => ({ status: 503 }));
      await expect(inv.other({ retry: false })).rejects.toSatisfy(isServerError);
      expect(server.requests.length).toBe(1);
    } finally {
      await inv.close();
    }
  });
});

describe('circuit breakers per endpoint', () => {
  it('opens one endpoint’s breaker without touching the others; a breakerKey groups endpoints', async () => {
    reset((_m, url) => ({ status: url === '/other' ? 200 : 500 }));
    const inv = Inventory.connect({
      baseUrl: server.url,
      retry: false,
      circuitBreaker: { consecutiveFailures: 2 },
    });
    try {
      await expect(inv.flaky()).rejects.toSatisfy(isServerError);
      await expect(inv.flaky2()).rejects.toSatisfy(isServerError);
      // Two consecutive failures on the shared group: both its endpoints are open now.
      await expect(inv.flaky()).rejects.toSatisfy(isCircuitOpenError);
      await expect(inv.flaky2()).rejects.toSatisfy(isCircuitOpenError);
      // The raw endpoint has its own breaker: one failure, still closed.
      await expect(inv.raw({ productId: 'x' })).rejects.toSatisfy(isServerError);
      await expect(inv.raw({ productId: 'x' })).rejects.toSatisfy(isServerError);
      await expect(inv.raw({ productId: 'x' })).rejects.toSatisfy(isCircuitOpenError);
      expect(await inv.other()).toMatchObject({ method: 'GET' });
      expect(server.requests.map((r) => r.url)).toEqual([
        '/flaky',
        '/flaky2',
        '/products/x/raw',
        '/products/x/raw',
        '/other',
      ]);
    } finally {
      await inv.close();
    }
  });

  it('resilience: false gives no retry and no breaker', async () => {
    reset(() => ({ status: 503 }));
    const inv = Inventory.connect({ baseUrl: server.url, resilience: false });
    try {
      for (let i = 0; i < 7; i++) await expect(inv.other()).rejects.toSatisfy(isServerError);
      expect(server.requests.length).toBe(7);
    } finally {
      await inv.close();
    }
  });
});

describe('auth per endpoint and MemoryTransport', () => {
  it('serves a defined client from a MemoryTransport, with the client’s auth and an endpoint override', async () => {
    const memory = new MemoryTransport()
      .route('GET', '/me', (req) => ({ json: { auth: req.headers.authorization ?? null } }))
      .route('GET', '/public', (req) => ({ json: { auth: req.headers.authorization ?? null } }));
    const Api = defineClient({
      baseUrl: 'http://api.test',
      endpoints: { me: get('/me'), open: get('/public', { auth: false }) },
    });
    const api = Api.connect({ transport: memory, auth: bearerAuth('t0k3n-value') });
    expect(await api.me()).toEqual({ auth: 'Bearer t0k3n-value' });
    expect(await api.open()).toEqual({ auth: null });
    expect(JSON.stringify(api)).not.toContain('t0k3n-value');
    void MemoryTokenStore;
    await api.close();
  });
});

describe('timeouts and rate limits per endpoint', () => {
  const Api = defineClient({
    baseUrl: 'http://api.test',
    timeout: { total: '20s', attempt: '5s' },
    rateLimit: { limit: 1000, window: '1s' },
    endpoints: {
      plain: get('/plain'),
      limited: get('/limited', { rateLimit: { limit: 1, window: '1h', strategy: 'raise' } }),
      untimed: get('/untimed', { timeout: false, circuitBreaker: false, retry: false }),
    },
  });
  const memory = new MemoryTransport().route('GET', '/{any}', () => ({ json: { ok: true } }));

  it('builds each endpoint’s pipeline in the standard order, sharing the client’s limiter', () => {
    const api = Api.connect({ transport: memory });
    expect(api.toJSON().endpoints).toEqual({
      plain: ['totalTimeout', 'retry', 'circuitBreaker', 'rateLimit', 'attemptTimeout'],
      limited: ['totalTimeout', 'retry', 'circuitBreaker', 'rateLimit', 'rateLimit', 'attemptTimeout'],
      untimed: ['rateLimit'],
    });
    expect(inspect(api, { depth: 4 })).toMatch(/plain: \[\s*'totalTimeout',\s*'retry'/);
  });

  it('an endpoint’s own limit refuses its second call and leaves the others alone', async () => {
    const api = Api.connect({ transport: memory });
    await api.limited();
    await expect(api.limited()).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED' });
    for (let i = 0; i < 5; i++) await api.plain();
    expect(memory.calls.filter((c) => c.url.endsWith('/limited')).length).toBe(1);
  });

  it('a per-call timeout is refused on an endpoint declared without timeouts', async () => {
    const api = Api.connect({ transport: memory });
    await expect(api.untimed({ timeout: '1s' })).rejects.toThrow(
      'Invalid option "timeout": this client has no timeout policy',
    );
    await expect(api.plain({ timeout: '1s' })).resolves.toEqual({ ok: true });
  });
});

describe('secrets', () => {
  it('a ResponseValidationError prints neither the credentials nor the response data', async () => {
    const memory = new MemoryTransport().route('GET', '/me', () => ({
      json: { id: 'user-secret-42', name: 7 },
    }));
    const Api = defineClient({
      baseUrl: 'http://api.test',
      endpoints: { me: get('/me', { response: z.object({ id: z.number(), name: z.string() }) }) },
    });
    const api = Api.connect({ transport: memory, auth: bearerAuth('bearer-s3cret-value') });
    const error = (await api.me().catch((e: unknown) => e)) as ResponseValidationError;
    expect(isResponseValidationError(error)).toBe(true);
    expect(error.request?.header('authorization')).toBe('Bearer bearer-s3cret-value');
    const printed = [
      error.message,
      JSON.stringify(error),
      inspect(error, { depth: 10 }),
      error.request?.toCurl(),
      JSON.stringify(error.issues),
      inspect(api),
    ].join('\n');
    expect(printed).not.toContain('bearer-s3cret-value');
    expect(printed).not.toContain('user-secret-42');
    expect(error.issues.map((i) => i.path[0])).toEqual(['id', 'name']);
    await api.close();
  });
});

describe('definition errors', () => {
  const fails = (fn: () => unknown) => refusal(fn).message;

  it('refuses reserved parameter names, endpoint names and impossible combinations', () => {
    expect(fails(() => defineClient({ endpoints: { a: get('/x/{query}' as '/x/{id}') } }))).toBe(
      'Invalid option "endpoints.a.path": the path parameter "query" is a reserved key of the call\'s argument (query, body, headers, signal, timeout, retry); rename it in the template',
    );
    expect(fails(() => defineClient({ endpoints: { close: get('/x') } }))).toContain('"close" is reserved');
    expect(fails(() => defineClient({ endpoints: { a: get('/x', { retyr: {} } as never) } }))).toContain(
      'Invalid option "endpoints.a.retyr": unknown option; did you mean "retry"?',
    );
    expect(
      fails(() => defineClient({ resilience: false, retry: {}, endpoints: { a: get('/x') } })),
    ).toContain('Invalid option "retry": cannot be combined with "resilience: false"');
    expect(
      fails(() => defineClient({ endpoints: { a: get('/x', { body: NewProduct } as never) } })),
    ).toContain('a GET request has no body');
    expect(fails(() => defineClient({ endpoints: { a: get('/x', { response: 42 } as never) } }))).toContain(
      'Invalid option "endpoints.a.response": expected a Standard Schema',
    );
    expect(fails(() => defineClient({ endpoints: { a: get('/x/{id}/{id}') } }))).toContain('appears twice');
    const def = defineClient({ endpoints: { a: get('/x', { breakerKey: 'k', circuitBreaker: {} }) } });
    expect(fails(() => def.connect())).toContain('endpoints.a.circuitBreaker');
    expect(
      fails(() =>
        defineClient({ endpoints: { a: get('/x', { timeout: { attempt: 5000, total: 1000 } }) } }).connect(),
      ),
    ).toContain('endpoints.a.timeout.attempt');
  });
});
