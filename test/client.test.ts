import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  InvalidOptionError,
  InvalidRequestError,
  isInvalidOptionError,
  VERSION,
} from '../src/index.js';
import { FakeClock } from '../src/testing.js';
import { sendJson, startServer, type TestServer } from './helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer((req, res, body) => {
    sendJson(res, 200, {
      method: req.method,
      url: req.url,
      contentType: req.headers['content-type'] ?? null,
      body: body.toString('utf8'),
      headers: req.headers,
    });
  });
});
afterAll(() => server.close());

type Echo = {
  method: string;
  url: string;
  contentType: string | null;
  body: string;
  headers: Record<string, string>;
};

describe('bodies', () => {
  it('sends JSON', async () => {
    const api = createClient({ baseUrl: server.url });
    const echo = await api.post('/x', { json: { a: 1, b: [true, null] } }).json<Echo>();
    expect(echo.contentType).toBe('application/json');
    expect(JSON.parse(echo.body)).toEqual({ a: 1, b: [true, null] });
    await api.close();
  });

  it('sends forms, with arrays as repeated fields', async () => {
    const api = createClient({ baseUrl: server.url });
    const echo = await api.post('/x', { form: { name: 'a b&c', tag: ['x', 'y'] } }).json<Echo>();
    expect(echo.contentType).toBe('application/x-www-form-urlencoded');
    expect(echo.body).toBe('name=a+b%26c&tag=x&tag=y');
    await api.close();
  });

  it('sends text, bytes, ArrayBuffer and URLSearchParams', async () => {
    const api = createClient({ baseUrl: server.url });
    const text = await api.put('/x', { body: 'héllo' }).json<Echo>();
    expect(text.contentType).toBe('text/plain;charset=utf-8');
    expect(text.body).toBe('héllo');
    const bytes = await api.put('/x', { body: new Uint8Array([104, 105]) }).json<Echo>();
    expect(bytes.contentType).toBe('application/octet-stream');
    expect(bytes.body).toBe('hi');
    const ab = await api.put('/x', { body: new Uint8Array([111, 107]).buffer }).json<Echo>();
    expect(ab.body).toBe('ok');
    const usp = await api.put('/x', { body: new URLSearchParams({ q: '1' }) }).json<Echo>();
    expect(usp.contentType).toBe('application/x-www-form-urlencoded');
    expect(usp.body).toBe('q=1');
    await api.close();
  });

  it('streams Node streams, web streams, async iterables and body factories', async () => {
    const api = createClient({ baseUrl: server.url });
    const node = await api
      .post('/x', { body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) })
      .json<Echo>();
    expect(node.body).toBe('abcd');
    const web = await api
      .post('/x', {
        body: new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode('web'));
            c.close();
          },
        }),
      })
      .json<Echo>();
    expect(web.body).toBe('web');
    async function* gen() {
      yield new TextEncoder().encode('it');
      yield new TextEncoder().encode('er');
    }
    const iter = await api.post('/x', { body: gen() }).json<Echo>();
    expect(iter.body).toBe('iter');
    const factory = await api.post('/x', { body: () => Readable.from([Buffer.from('made')]) }).json<Echo>();
    expect(factory.body).toBe('made');
    await api.close();
  });

  it('sends multipart FormData', async () => {
    const api = createClient({ baseUrl: server.url });
    const fd = new FormData();
    fd.set('field', 'value');
    const echo = await api.post('/x', { body: fd }).json<Echo>();
    expect(echo.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(echo.body).toContain('name="field"');
    expect(echo.body).toContain('value');
    await api.close();
  });

  it('refuses two bodies at once and unserialisable JSON', async () => {
    const api = createClient({ baseUrl: server.url });
    await expect(api.post('/x', { json: {}, body: 'x' })).rejects.toBeInstanceOf(InvalidRequestError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(api.post('/x', { json: cyclic })).rejects.toThrow(/cannot be serialised/);
    expect(
      server.requests.filter((r) => r.url === '/x' && r.method === 'POST' && r.body.length === 0),
    ).toHaveLength(0);
    await api.close();
  });
});

describe('paths and queries', () => {
  it('appends paths to the base path', async () => {
    const api = createClient({ baseUrl: `${server.url}/api/v1/` });
    expect((await api.get('/users').json<Echo>()).url).toBe('/api/v1/users');
    expect((await api.get('users').json<Echo>()).url).toBe('/api/v1/users');
    await api.close();
  });

  it('encodes hostile path parameters so they stay one segment', async () => {
    const api = createClient({ baseUrl: `${server.url}/api` });
    const cases: [string, string][] = [
      ['../admin', '/api/users/..%2Fadmin'],
      ['a/b', '/api/users/a%2Fb'],
      ['x?admin=1', '/api/users/x%3Fadmin%3D1'],
      ['x#frag', '/api/users/x%23frag'],
      ['%2e%2e', '/api/users/%252e%252e'],
      ['sp ace', '/api/users/sp%20ace'],
      ['ünï', '/api/users/%C3%BCn%C3%AF'],
    ];
    for (const [id, expected] of cases) {
      const echo = await api.get('/users/{id}', { params: { id } }).json<Echo>();
      expect(echo.url).toBe(expected);
    }
    for (const id of ['..', '.', '']) {
      await expect(api.get('/users/{id}', { params: { id } })).rejects.toThrow(/must not be empty/);
    }
    await expect(api.get('/users/{id}', { params: {} as { id: string } })).rejects.toThrow(
      /Missing path parameter "id"/,
    );
    await expect(api.get('/users', { params: { id: 1 } })).rejects.toThrow(/does not appear/);
    await api.close();
  });

  it('encodes query values and arrays in every format, after default query', async () => {
    const api = createClient({ baseUrl: server.url, query: { v: 2 } });
    const echo = await api
      .get('/s?fixed=1', { query: { q: 'a b&c=d', tag: ['x', 'y'], skip: undefined, none: null, n: 0 } })
      .json<Echo>();
    expect(echo.url).toBe('/s?fixed=1&v=2&q=a%20b%26c%3Dd&tag=x&tag=y&n=0');
    const brackets = createClient({ baseUrl: server.url, arrayFormat: 'brackets' });
    expect((await brackets.get('/s', { query: { t: [1, 2] } }).json<Echo>()).url).toBe(
      '/s?t%5B%5D=1&t%5B%5D=2',
    );
    const comma = createClient({ baseUrl: server.url, arrayFormat: 'comma' });
    expect((await comma.get('/s', { query: { t: [1, 2] } }).json<Echo>()).url).toBe('/s?t=1%2C2');
    const pairs = await api
      .get('/s', {
        query: [
          ['a', '1'],
          ['a', '2'],
        ],
      })
      .json<Echo>();
    expect(pairs.url).toBe('/s?v=2&a=1&a=2');
    await Promise.all([api.close(), brackets.close(), comma.close()]);
  });

  it('accepts absolute URLs and refuses other schemes and credentials in URLs', async () => {
    const api = createClient();
    expect((await api.get(`${server.url}/abs`).json<Echo>()).url).toBe('/abs');
    await expect(api.get('/relative')).rejects.toThrow(/has no baseUrl/);
    await expect(api.get('file:///etc/passwd')).rejects.toThrow(/http: or https:/);
    await expect(api.get(`http://user:pw@127.0.0.1:1/`)).rejects.toThrow(/must not contain credentials/);
    await api.close();
  });
});

describe('headers', () => {
  it('merges default and call headers, lower-cased, and removes null ones', async () => {
    const api = createClient({ baseUrl: server.url, headers: { 'X-Team': 'pay', 'X-Drop': 'me' } });
    const echo = await api.get('/h', { headers: { 'x-call': '1', 'X-Drop': null } }).json<Echo>();
    expect(echo.headers['x-team']).toBe('pay');
    expect(echo.headers['x-call']).toBe('1');
    expect(echo.headers['x-drop']).toBeUndefined();
    expect(echo.headers['user-agent']).toBe(`reqforge/${VERSION}`);
    await api.close();
  });

  it('refuses header injection without echoing the value', async () => {
    const api = createClient({ baseUrl: server.url });
    const err = await api
      .get('/h', { headers: { 'x-evil': 'secret-value\r\nHost: evil' } })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toContain('x-evil');
    expect((err as Error).message).not.toContain('secret-value');
    await expect(api.get('/h', { headers: { 'bad name': 'x' } })).rejects.toThrow(/Invalid header name/);
    await api.close();
  });
});

describe('client lifecycle and options', () => {
  it('derives clients with with() that share the pool', async () => {
    const before = server.connections;
    const api = createClient({ baseUrl: server.url, headers: { a: '1' } });
    const derived = api.with({ headers: { b: '2' } });
    await api.get('/1').text();
    // undici marks a connection free a tick after its body ends; real sequential callers never notice.
    await new Promise((r) => setImmediate(r));
    const echo = await derived.get('/2').json<Echo>();
    expect(echo.headers.a).toBe('1');
    expect(echo.headers.b).toBe('2');
    expect(server.connections - before).toBe(1);
    await api.close();
    await expect(derived.get('/3')).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
  });

  it('rejects invalid options at construction, naming the option', () => {
    expect(() => createClient({ baseUrl: 'not a url' })).toThrow(InvalidOptionError);
    expect(() => createClient({ baseUrl: 'ftp://x' })).toThrow(/Invalid option "baseUrl".*http: or https:/);
    expect(() => createClient({ baseURL: 'http://x' } as never)).toThrow(
      /unknown option; did you mean "baseUrl"/,
    );
    expect(() => createClient({ timeout: { total: 1000, attempt: 5000 } })).toThrow(/timeout.attempt/);
    expect(() => createClient({ timeout: { total: -1 } })).toThrow(/timeout.total/);
    expect(() => createClient({ maxBodySize: 0 })).toThrow(/maxBodySize/);
    expect(() => createClient({ http: { connections: -1 } })).toThrow(/http.connections/);
    expect(() => createClient({ http: { proxy: 'nope' } })).toThrow(/http.proxy/);
    expect(() => createClient({ policies: [{} as never] })).toThrow(/policies\[0\]/);
    const refused = (() => {
      try {
        createClient({ headers: { 'x-a': 'a\nb' } });
      } catch (e) {
        return e;
      }
    })();
    expect(isInvalidOptionError(refused) && refused.option).toBe('headers');
  });

  it('returns non-2xx responses when throwHttpErrors is false', async () => {
    const s = await startServer((_req, res) => sendJson(res, 503, { down: true }));
    const api = createClient({ baseUrl: s.url, throwHttpErrors: false, policies: [] });
    const res = await api.get('/');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ down: true });
    const strict = api.with({ throwHttpErrors: (status) => status >= 500 });
    await expect(strict.get('/')).rejects.toMatchObject({ status: 503 });
    await api.close();
    await s.close();
  });

  it('measures elapsed on the client clock, from sending to the response headers', async () => {
    const clock = new FakeClock();
    // The upstream takes exactly 250 ms of the client's (fake) time to answer.
    const slow = await startServer(async (_req, res) => {
      await clock.advance(250);
      sendJson(res, 200, { ok: true });
    });
    const api = createClient({ baseUrl: slow.url, clock });
    const res = await api.get('/');
    expect(res.elapsed).toBe(250);
    await res.dump();
    await api.close();
    await slow.close();
  });

  it('reads HEAD responses and exposes response metadata', async () => {
    const api = createClient({ baseUrl: server.url });
    const res = await api.head('/meta');
    expect(res.status).toBe(200);
    expect(res.header('Content-Type')).toBe('application/json');
    expect(res.request.method).toBe('HEAD');
    await res.dump();
    const body = await api.get('/meta');
    expect(new TextDecoder().decode(await body.arrayBuffer())).toContain('"method":"GET"');
    await expect(body.text()).rejects.toMatchObject({ code: 'ERR_BODY_USED' });
    await api.close();
  });
});
