import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, HttpRequest, isReqforgeError } from '../src/index.js';
import { sendJson, startServer, type TestServer } from './helpers/server.js';

let server: TestServer;
let hits = 0;

beforeAll(async () => {
  server = await startServer((req, res, body) => {
    hits++;
    if (req.url === '/flaky' && hits % 2 === 1) return sendJson(res, 503, {});
    sendJson(res, 200, {
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: body.toString('utf8'),
    });
  });
});
afterAll(() => server.close());

type Echo = { method: string; url: string; headers: Record<string, string>; body: string };

describe('client.send (a prepared request)', () => {
  it('sends the request exactly as prepared: no base path, default headers or ambient ids added', async () => {
    const api = createClient({ baseUrl: `${server.url}/base`, headers: { 'x-default': 'd' } });
    const request = new HttpRequest({
      method: 'PUT',
      origin: server.url,
      path: '/exact/{braces}?q=1',
      headers: { 'x-given': 'g', 'content-type': 'text/plain' },
      body: 'payload',
    });
    const echo = await api.send(request).json<Echo>();
    expect(echo.method).toBe('PUT');
    expect(echo.url).toBe('/exact/{braces}?q=1');
    expect(echo.body).toBe('payload');
    expect(echo.headers['x-given']).toBe('g');
    expect(echo.headers['x-default']).toBeUndefined();
    expect(echo.headers['user-agent']).toBeUndefined();
    expect(echo.headers['x-request-id']).toBeUndefined();
  });

  it("runs the client's policies (a retried 503) and honours throwHttpErrors", async () => {
    hits = 0;
    const api = createClient({ baseUrl: server.url, retry: { retries: 1, baseDelay: 1, maxDelay: 1 } });
    const response = await api.send(api.buildRequest('GET', '/flaky'));
    expect(response.status).toBe(200);
    expect(hits).toBe(2);
    hits = 0;
    const once = createClient({ baseUrl: server.url, retry: false });
    const refused = await once.send(once.buildRequest('GET', '/flaky'), { throwHttpErrors: false });
    expect(refused.status).toBe(503);
    await expect(once.send(once.buildRequest('GET', '/flaky'))).resolves.toHaveProperty('status', 200);
  });

  it('refuses anything but an HttpRequest with ERR_INVALID_REQUEST', async () => {
    const api = createClient({ baseUrl: server.url });
    const error = await api.send({ method: 'GET', path: '/' } as unknown as HttpRequest).catch((e) => e);
    expect(isReqforgeError(error) && error.code).toBe('ERR_INVALID_REQUEST');
  });
});
