import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyAuth, basicAuth, bearerAuth, compositeAuth, headerAuth } from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import type { Policy } from '../../src/core/types.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer((req, res) => sendJson(res, 200, { url: req.url, headers: req.headers }));
});
afterAll(() => server.close());

async function seen(auth: Policy, path = '/x') {
  const api = createClient({ baseUrl: server.url, policies: [auth] });
  try {
    return await api.get(path).json<{ url: string; headers: Record<string, string> }>();
  } finally {
    await api.close();
  }
}

describe('static auth', () => {
  it('sends a fixed bearer token, or one from a function on every attempt', async () => {
    expect((await seen(bearerAuth('tok-fixed-123'))).headers.authorization).toBe('Bearer tok-fixed-123');
    let n = 0;
    const dynamic = bearerAuth(async () => new Secret(`tok-${++n}`));
    expect((await seen(dynamic)).headers.authorization).toBe('Bearer tok-1');
    expect((await seen(dynamic)).headers.authorization).toBe('Bearer tok-2');
    expect((await seen(bearerAuth('raw-token', { header: 'x-token', scheme: '' }))).headers['x-token']).toBe(
      'raw-token',
    );
  });

  it('sends an API key in a header or the query, redacted in toCurl', async () => {
    expect((await seen(apiKeyAuth({ header: 'x-api-key', key: 'k-123456' }))).headers['x-api-key']).toBe(
      'k-123456',
    );
    expect((await seen(apiKeyAuth({ query: 'sig_x', key: 'k-654321' }), '/x?a=1')).url).toBe(
      '/x?a=1&sig_x=k-654321',
    );
    let curl = '';
    const capture: Policy = {
      name: 'capture',
      wrap: (next) => (req, ctx) => {
        curl = req.toCurl();
        return next(req, ctx);
      },
    };
    const api = createClient({
      baseUrl: server.url,
      policies: [
        compositeAuth(
          apiKeyAuth({ query: 'sig_x', key: 'k-654321' }),
          headerAuth('x-tenant-proof', 'p-98765'),
        ),
        capture,
      ],
    });
    const body = await api.get('/y').json<{ headers: Record<string, string> }>();
    expect(body.headers['x-tenant-proof']).toBe('p-98765');
    expect(curl).toContain('sig_x=[REDACTED]');
    expect(curl).toContain('x-tenant-proof: [REDACTED]');
    expect(curl).not.toMatch(/k-654321|p-98765/);
    await api.close();
  });

  it('sends HTTP basic credentials and composes several', async () => {
    const basic = await seen(basicAuth('alice', new Secret('pä:ss')));
    expect(Buffer.from(basic.headers.authorization!.slice(6), 'base64').toString()).toBe('alice:pä:ss');
    const both = await seen(
      compositeAuth(apiKeyAuth({ header: 'x-api-key', key: 'k-1111' }), bearerAuth('b-2222')),
    );
    expect(both.headers['x-api-key']).toBe('k-1111');
    expect(both.headers.authorization).toBe('Bearer b-2222');
  });

  it('rejects invalid options at construction, naming the option', () => {
    const cases: [() => unknown, string][] = [
      [() => bearerAuth(''), 'token'],
      [() => bearerAuth(42 as never), 'token'],
      [() => bearerAuth('t', { header: 'bad header' }), 'header'],
      [() => apiKeyAuth({ header: 'x-api-key', key: '' }), 'key'],
      [() => apiKeyAuth({ key: 'k' } as never), 'header'],
      [() => basicAuth('a:b', 'p'), 'username'],
      [() => basicAuth('a', ''), 'password'],
      [() => headerAuth('x y', 'v'), 'name'],
      [() => compositeAuth({} as Policy), 'policies[0]'],
    ];
    for (const [make, option] of cases) {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(isInvalidOptionError(err) && err.option).toBe(option);
    }
  });
});
