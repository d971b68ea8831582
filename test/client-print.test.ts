// A client printed by console.log or JSON.stringify shows its configuration with secrets redacted; a per-call
// timeout is applied when the client has a timeout policy and refused when nothing would apply it.
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerAuth } from '../src/auth/static.js';
import { createClient } from '../src/client/client.js';
import { ACCEPT_ENCODING } from '../src/core/decompress.js';
import { VERSION } from '../src/version.js';
import { startServer, type TestServer } from './helpers/server.js';

const SECRETS = ['HDR-SECRET-1', 'KEY-SECRET-2', 'POL-SECRET-3', 'QRY-SECRET-4'];

let server: TestServer;
beforeAll(async () => {
  // Answers /hang never, everything else at once.
  server = await startServer((req, res) => {
    if (req.url !== '/hang') res.end('ok');
  });
});
afterAll(() => server.close());

describe('printing a client', () => {
  it('redacts default headers, query values and credentials in inspect and JSON', async () => {
    const api = createClient({
      baseUrl: server.url,
      name: 'billing',
      headers: { authorization: `Bearer ${SECRETS[0]}`, 'x-api-key': SECRETS[1], 'x-team': 'payments' },
      query: { api_key: SECRETS[3], page: 1 },
      auth: bearerAuth(SECRETS[2] as string),
    });
    const printed = [
      inspect(api, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
      JSON.stringify(api),
    ];
    for (const text of printed) for (const s of SECRETS) expect(text).not.toContain(s);
    expect(JSON.parse(printed[1] as string)).toEqual({
      name: 'billing',
      baseUrl: server.url,
      headers: {
        accept: 'application/json, */*;q=0.5',
        'accept-encoding': ACCEPT_ENCODING,
        'user-agent': `reqforge/${VERSION}`,
        authorization: '[REDACTED]',
        'x-api-key': '[REDACTED]',
        'x-team': 'payments',
      },
      query: 'api_key=[REDACTED]&page=1',
      policies: ['totalTimeout', 'redirect', 'retry', 'auth', 'attemptTimeout'],
    });
    expect(printed[0]).toMatch(/^Client \{/);
    await api.close();
  });
});

describe('a per-call timeout', () => {
  it('is applied when given as a duration string', async () => {
    const api = createClient({ baseUrl: server.url, retry: false });
    const started = performance.now();
    await expect(api.get('/hang', { timeout: '200ms' })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(performance.now() - started).toBeLessThan(5_000);
    await api.close();
  });

  it('is refused, not ignored, on a client without a timeout policy', async () => {
    const hung = () => server.requests.filter((r) => r.url === '/hang').length;
    const before = hung();
    for (const api of [
      createClient({ baseUrl: server.url, timeout: false }),
      createClient({ baseUrl: server.url, policies: [] }),
    ]) {
      await expect(api.get('/hang', { timeout: 300 })).rejects.toMatchObject({
        code: 'ERR_INVALID_OPTION',
        option: 'timeout',
      });
      // Nothing was sent; `timeout: false` stays allowed, since it asks for what the client already does.
      await expect(api.get('/', { timeout: false }).text()).resolves.toBe('ok');
      await api.close();
    }
    expect(hung()).toBe(before);
  });
});
