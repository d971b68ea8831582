import type { AddressInfo } from 'node:net';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BadRequestError,
  BodyTooLargeError,
  ConflictError,
  createClient,
  ForbiddenError,
  HttpError,
  isHttpError,
  isNetworkError,
  isParseError,
  isReqforgeError,
  isServerError,
  isTooManyRequestsError,
  type NetworkError,
  NotFoundError,
  ParseError,
  ServerError,
  TooManyRequestsError,
  UnauthorizedError,
  UnprocessableEntityError,
} from '../src/index.js';
import { sendJson, startServer, type TestServer } from './helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const status = Number(url.searchParams.get('status') ?? 200);
    if (url.pathname === '/problem') {
      const body = JSON.stringify({
        type: 'https://example.com/out-of-credit',
        title: 'Out of credit',
        status,
        detail: 'Balance is 30',
        balance: 30,
        access_token: 'tok-LEAK',
      });
      res.writeHead(status, { 'content-type': 'application/problem+json' });
      res.end(body);
      return;
    }
    if (url.pathname === '/big') {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('x'.repeat(100_000));
      return;
    }
    if (url.pathname === '/malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"refresh_token":"rt-LEAK", oops');
      return;
    }
    if (url.pathname === '/reset') {
      req.socket.destroy();
      return;
    }
    if (url.pathname === '/retry-after') {
      sendJson(res, 429, { slow: 'down' }, { 'retry-after': '7' });
      return;
    }
    sendJson(res, status, { status });
  });
});
afterAll(() => server.close());

describe('HTTP errors', () => {
  const cases: [number, new (...a: never[]) => HttpError, string][] = [
    [400, BadRequestError, 'ERR_BAD_REQUEST'],
    [401, UnauthorizedError, 'ERR_UNAUTHORIZED'],
    [403, ForbiddenError, 'ERR_FORBIDDEN'],
    [404, NotFoundError, 'ERR_NOT_FOUND'],
    [409, ConflictError, 'ERR_CONFLICT'],
    [422, UnprocessableEntityError, 'ERR_UNPROCESSABLE_ENTITY'],
    [429, TooManyRequestsError, 'ERR_TOO_MANY_REQUESTS'],
    [418, HttpError, 'ERR_HTTP_STATUS'],
    [500, ServerError, 'ERR_SERVER'],
    [503, ServerError, 'ERR_SERVER'],
  ];
  for (const [status, cls, code] of cases) {
    it(`maps ${status} to ${cls.name} (${code})`, async () => {
      const api = createClient({ baseUrl: server.url, policies: [] });
      const err = await api.get('/s', { query: { status } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(cls);
      expect(isHttpError(err) && isReqforgeError(err)).toBe(true);
      const e = err as HttpError;
      expect(e.code).toBe(code);
      expect(e.status).toBe(status);
      expect(e.bodyExcerpt).toBe(JSON.stringify({ status }));
      expect(e.message).toContain(`GET ${server.url}/s?status=${status} failed with status ${status}`);
      expect(e.request?.method).toBe('GET');
      await api.close();
    });
  }

  it('parses problem+json into error.problem, with secrets redacted', async () => {
    const api = createClient({ baseUrl: server.url });
    const err = (await api.get('/problem', { query: { status: 402 } }).catch((e: unknown) => e)) as HttpError;
    expect(err.problem).toMatchObject({
      title: 'Out of credit',
      detail: 'Balance is 30',
      balance: 30,
      status: 402,
    });
    expect(err.problem?.access_token).toBe('[REDACTED]');
    expect(err.message).toContain('Out of credit (Balance is 30)');
    expect(err.bodyExcerpt).not.toContain('tok-LEAK');
    await api.close();
  });

  it('keeps a bounded excerpt of a large error body and releases the connection', async () => {
    const api = createClient({ baseUrl: server.url, errorBodyLimit: 1000 });
    const err = (await api.get('/big', { query: { status: 500 } }).catch((e: unknown) => e)) as HttpError;
    expect(isServerError(err)).toBe(true);
    expect(err.bodyExcerpt).toHaveLength(1000);
    expect(err.bodyTruncated).toBe(true);
    await expect(api.get('/s').json()).resolves.toEqual({ status: 200 });
    await api.close();
  });

  it('reads Retry-After onto TooManyRequestsError', async () => {
    const api = createClient({ baseUrl: server.url, policies: [] });
    const err = await api.get('/retry-after').catch((e: unknown) => e);
    expect(isTooManyRequestsError(err) && err.retryAfter).toBe(7000);
    await api.close();
  });

  it('throws ParseError for malformed JSON, without the secret', async () => {
    const api = createClient({ baseUrl: server.url });
    const err = await api
      .get('/malformed')
      .json()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParseError);
    expect(isParseError(err) && err.code).toBe('ERR_PARSE');
    expect((err as ParseError).bodyExcerpt).toContain('[REDACTED]');
    expect((err as ParseError).bodyExcerpt).not.toContain('rt-LEAK');
    await api.close();
  });

  it('refuses to buffer a body over maxBodySize', async () => {
    const api = createClient({ baseUrl: server.url, maxBodySize: 10_000 });
    const err = await api
      .get('/big')
      .text()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyTooLargeError);
    expect((err as BodyTooLargeError).code).toBe('ERR_BODY_TOO_LARGE');
    await api.close();
  });

  it('survives JSON round trips and inspection without leaking headers', async () => {
    const api = createClient({ baseUrl: server.url, headers: { authorization: 'Bearer sekret-123' } });
    const err = await api.get('/s', { query: { status: 404, api_key: 'k-999' } }).catch((e: unknown) => e);
    const text = `${JSON.stringify(err)} ${inspect(err, { depth: 10 })} ${String(err)} ${(err as HttpError).stack}`;
    expect(text).toContain('ERR_NOT_FOUND');
    expect(text).not.toContain('sekret-123');
    expect(text).not.toContain('k-999');
    await api.close();
  });
});

describe('network errors', () => {
  it('maps a refused connection to ERR_CONNECTION_REFUSED', async () => {
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const api = createClient({ baseUrl: `http://127.0.0.1:${port}`, policies: [] });
    const err = await api.get('/').catch((e: unknown) => e);
    expect(isNetworkError(err)).toBe(true);
    expect((err as NetworkError).code).toBe('ERR_CONNECTION_REFUSED');
    expect((err as NetworkError).sourceCode).toBe('ECONNREFUSED');
    await api.close();
  });

  it('maps a reset socket to a socket/reset error', async () => {
    const api = createClient({ baseUrl: server.url, policies: [] });
    const err = await api.get('/reset').catch((e: unknown) => e);
    expect(isNetworkError(err)).toBe(true);
    expect(['ERR_SOCKET', 'ERR_CONNECTION_RESET']).toContain((err as NetworkError).code);
    await api.close();
  });

  it('maps TLS failures to ERR_TLS', async () => {
    const api = createClient({ baseUrl: server.url.replace('http:', 'https:'), policies: [] });
    const err = await api.get('/').catch((e: unknown) => e);
    expect((err as NetworkError).code).toBe('ERR_TLS');
    await api.close();
  });

  it('maps an unknown host to ERR_DNS', async () => {
    const api = createClient({ baseUrl: 'http://no-such-host.invalid', policies: [] });
    const err = await api.get('/').catch((e: unknown) => e);
    expect((err as NetworkError).code).toBe('ERR_DNS');
    await api.close();
  });

  it('maps a silent server to ERR_HEADERS_TIMEOUT when the socket timeout is shortest', async () => {
    let silent: NetServer | undefined;
    silent = createNetServer((socket) => socket.on('data', () => undefined));
    await new Promise<void>((r) => silent?.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    const api = createClient({
      baseUrl: `http://127.0.0.1:${port}`,
      policies: [],
      http: { headersTimeout: 50 },
    });
    const err = await api.get('/').catch((e: unknown) => e);
    expect((err as NetworkError).code).toBe('ERR_HEADERS_TIMEOUT');
    await api.close();
    await new Promise<void>((r) => silent?.close(() => r()));
  });
});
