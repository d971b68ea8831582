import { afterEach, describe, expect, it } from 'vitest';
import { TokenManager, tokenAuth } from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { UnauthorizedError } from '../../src/core/errors.js';
import type { Policy } from '../../src/core/types.js';
import { retry } from '../../src/policies/retry.js';
import { sendJson, startServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** An upstream that accepts only `Bearer good`, and a manager whose first token is rejected. */
async function setup(outer: readonly Policy[] = []) {
  const server = await startServer((req, res) => {
    if (req.headers.authorization === 'Bearer good') return sendJson(res, 200, { ok: true });
    sendJson(res, 401, { error: 'invalid_token' });
  });
  cleanup.push(() => server.close());
  let n = 0;
  const m = new TokenManager({
    provider: { id: 'custom', fetchToken: async () => ({ accessToken: n++ === 0 ? 'revoked' : 'good' }) },
  });
  cleanup.push(() => m.close());
  const api = createClient({ baseUrl: server.url, policies: [...outer, tokenAuth(m)] });
  cleanup.push(() => api.close());
  return { server, api, fetches: () => n };
}

describe('one rule for "safe to repeat" (issue 11, defect 6)', () => {
  it('the 401 refetch-and-repeat repeats a POST that carries an Idempotency-Key, with the same key', async () => {
    const { server, api, fetches } = await setup();
    const res = await api.post('/orders', { json: { item: 1 }, headers: { 'idempotency-key': 'k-1' } });
    expect(res.status).toBe(200);
    expect(
      server.requests.map((r) => [r.method, r.headers.authorization, r.headers['idempotency-key']]),
    ).toEqual([
      ['POST', 'Bearer revoked', 'k-1'],
      ['POST', 'Bearer good', 'k-1'],
    ]);
    expect(server.requests[1]!.body.toString()).toBe('{"item":1}');
    expect(fetches()).toBe(2);
  });

  it('still does not repeat a POST without an Idempotency-Key', async () => {
    const { server, api } = await setup();
    const err = await api.post('/orders', { json: { item: 1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(server.requests).toHaveLength(1);
  });

  it('a key under a custom header name (retry({ idempotencyKey })) is not seen by the 401 repeat: documented, with two ways round', async () => {
    const keyed = () => [retry({ retries: 1, baseDelay: 1, idempotencyKey: 'x-custom' })];
    // The retry policy generates the key, but isSafeToRepeat() without the header name knows only Idempotency-Key.
    const plain = await setup(keyed());
    const err = await plain.api.post('/orders', { json: { item: 1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(plain.server.requests.map((r) => [r.headers.authorization, typeof r.headers['x-custom']])).toEqual(
      [['Bearer revoked', 'string']],
    );
    // The documented ways. A generated key under the standard name: repeated once, with the same key.
    const standard = await setup([retry({ retries: 1, baseDelay: 1, idempotencyKey: true })]);
    expect((await standard.api.post('/orders', { json: { item: 1 } })).status).toBe(200);
    const generated = standard.server.requests.map((r) => r.headers['idempotency-key']);
    expect(generated[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(generated).toEqual([generated[0], generated[0]]);
    // A custom header name: the caller sets the key and marks the call idempotent.
    const marked = await setup(keyed());
    const res = await marked.api.post('/orders', {
      json: { item: 1 },
      headers: { 'x-custom': 'k-3' },
      idempotent: true,
    });
    expect(res.status).toBe(200);
    expect(marked.server.requests.map((r) => [r.headers.authorization, r.headers['x-custom']])).toEqual([
      ['Bearer revoked', 'k-3'],
      ['Bearer good', 'k-3'],
    ]);
  });

  it('the retry policy and the 401 repeat agree: a POST with an Idempotency-Key is retried on 503', async () => {
    let calls = 0;
    const server = await startServer((_req, res) => {
      calls++;
      sendJson(res, calls === 1 ? 503 : 200, {});
    });
    cleanup.push(() => server.close());
    const api = createClient({ baseUrl: server.url, policies: [retry({ retries: 2, baseDelay: 1 })] });
    cleanup.push(() => api.close());
    const res = await api.post('/orders', { json: {}, headers: { 'Idempotency-Key': 'k-2' } });
    expect(res.status).toBe(200);
    expect(server.requests).toHaveLength(2);
    // The same rule without a key: not repeated.
    calls = 0;
    server.requests.length = 0;
    const err = await api.post('/orders', { json: {} }).catch((e: unknown) => e);
    expect((err as { status?: number }).status).toBe(503);
    expect(server.requests).toHaveLength(1);
  });
});
