import { afterEach, describe, expect, it } from 'vitest';
import { createClient, createToken, isServerError, runWithContext } from '../src/index.js';
import { startServer } from './helpers/server.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('correlation ids (issue 14)', () => {
  it('generates one per call, the same on every attempt, only when none is ambient or given', async () => {
    let n = 0;
    const s = await startServer((_req, res) => {
      res.statusCode = ++n % 2 === 1 ? 503 : 200;
      res.end();
    });
    cleanup.push(() => s.close());
    const api = createClient({
      baseUrl: s.url,
      retry: { baseDelay: 1, maxDelay: 1 },
      propagate: { generateCorrelationId: true },
    });
    cleanup.push(() => api.close());
    const first = await api.get('/a');
    expect(first.attempts).toBe(2);
    const [one, two] = s.requests.map((r) => r.headers['x-correlation-id']);
    expect(one).toMatch(UUID);
    expect(two).toBe(one);
    expect(first.request.header('x-correlation-id')).toBe(one);

    await api.get('/b');
    const [three, four] = s.requests.slice(2).map((r) => r.headers['x-correlation-id']);
    expect(three).toMatch(UUID);
    expect(three).not.toBe(one);
    expect(four).toBe(three);

    await runWithContext({ correlationId: 'ambient-1' }, () => api.get('/c'));
    expect(s.requests.slice(4).map((r) => r.headers['x-correlation-id'])).toEqual(['ambient-1', 'ambient-1']);
    await api.get('/d', { headers: { 'x-correlation-id': 'mine' } });
    expect(s.requests.slice(6).map((r) => r.headers['x-correlation-id'])).toEqual(['mine', 'mine']);
  });

  it('takes a generator function and a header name; off by default', async () => {
    const s = await startServer((_req, res) => {
      res.end();
    });
    cleanup.push(() => s.close());
    let i = 0;
    const api = createClient({
      baseUrl: s.url,
      propagate: { correlationIdHeader: 'x-cid', generateCorrelationId: () => `job-${++i}` },
    });
    const plain = createClient({ baseUrl: s.url });
    cleanup.push(
      () => api.close(),
      () => plain.close(),
    );
    await api.get('/');
    await api.get('/');
    await plain.get('/');
    expect(s.requests.map((r) => r.headers['x-cid'] ?? r.headers['x-correlation-id'])).toEqual([
      'job-1',
      'job-2',
      undefined,
    ]);
    const bad = createClient({ baseUrl: s.url, propagate: { generateCorrelationId: () => 'a\r\nb' } });
    cleanup.push(() => bad.close());
    await expect(bad.get('/')).rejects.toMatchObject({ code: 'ERR_INVALID_REQUEST' });
    expect(() => createClient({ propagate: { generateCorrelationId: 'yes' as never } })).toThrow(
      /propagate\.generateCorrelationId/,
    );
  });
});

describe('small things (issue 14)', () => {
  it('isClientErrorStatus / isServerErrorStatus describe the status, unlike the isServerError(error) guard', async () => {
    const s = await startServer((req, res) => {
      res.statusCode = Number(req.url?.slice(1));
      res.end();
    });
    cleanup.push(() => s.close());
    const api = createClient({ baseUrl: s.url, throwHttpErrors: false, retry: false });
    cleanup.push(() => api.close());
    const rows = [];
    for (const status of [200, 302, 404, 499, 500, 503]) {
      const r = await api.get(`/${status}`, { redirect: false });
      rows.push([status, r.isClientErrorStatus, r.isServerErrorStatus]);
    }
    expect(rows).toEqual([
      [200, false, false],
      [302, false, false],
      [404, true, false],
      [499, true, false],
      [500, false, true],
      [503, false, true],
    ]);
    expect(isServerError(await api.get('/500'))).toBe(false);
  });

  it('jsonOrUndefined() gives undefined for a malformed or empty body, the value otherwise', async () => {
    const s = await startServer((req, res) => {
      res.end(req.url === '/bad' ? '{"oops' : req.url === '/empty' ? '' : '{"ok":true}');
    });
    cleanup.push(() => s.close());
    const api = createClient({ baseUrl: s.url });
    cleanup.push(() => api.close());
    expect(await (await api.get('/bad')).jsonOrUndefined()).toBeUndefined();
    expect(await (await api.get('/empty')).jsonOrUndefined()).toBeUndefined();
    expect(await (await api.get('/good')).jsonOrUndefined<{ ok: boolean }>()).toEqual({ ok: true });
    await expect(api.get('/bad').json()).rejects.toMatchObject({ code: 'ERR_PARSE' });
  });

  it('await using discards an unread body when the block ends', async () => {
    const s = await startServer((_req, res) => {
      res.end('x'.repeat(1000));
    });
    cleanup.push(() => s.close());
    const api = createClient({ baseUrl: s.url });
    cleanup.push(() => api.close());
    let kept: Awaited<ReturnType<typeof api.get>> | undefined;
    {
      await using response = await api.get('/');
      kept = response;
      expect(response.bodyUsed).toBe(false);
    }
    expect(kept?.bodyUsed).toBe(true);
    expect(typeof kept?.[Symbol.asyncDispose]).toBe('function');
    // The connection went back to the pool (undici frees it a tick after the body ends): the next call reuses it.
    await new Promise((resolve) => setImmediate(resolve));
    await api.get('/').text();
    expect(s.connections).toBe(1);
  });

  it('token.isExpired() compares with the hard expiry, with an optional margin', () => {
    const token = createToken({ accessToken: 't', expiresAt: 10_000 }, 0);
    expect(token.isExpired(9_999)).toBe(false);
    expect(token.isExpired(10_000)).toBe(true);
    expect(token.isExpired(9_000, 1_000)).toBe(true);
    expect(token.isExpired(8_999, 1_000)).toBe(false);
  });
});
