// The load a TokenManager puts on the IdP: 401 storms (issue 11 item 2), refusals from the token endpoint
// (item 8), and short-lived tokens (item 7). Exact fetch counts on a FakeClock.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clientCredentials,
  isTokenEndpointError,
  isTokenUnavailableError,
  TokenManager,
  tokenAuth,
} from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { UnauthorizedError } from '../../src/core/errors.js';
import { startOAuthServer } from '../../src/sandbox/oauth.js';
import { FakeClock } from '../../src/testing.js';
import { sendJson, startServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

function manager(options: ConstructorParameters<typeof TokenManager>[0]): TokenManager {
  const m = new TokenManager(options);
  cleanup.push(() => m.close());
  return m;
}

/** A provider issuing `tok-1`, `tok-2` … and counting its fetches. */
function counting(lifetimeSeconds = 3600) {
  const state = { fetches: 0 };
  return {
    state,
    provider: {
      id: 'counting',
      fetchToken: async () => ({ accessToken: `tok-${++state.fetches}`, expiresIn: lifetimeSeconds }),
    },
  };
}

/** An upstream that rejects every token with 401. */
async function rejectingUpstream() {
  const server = await startServer((_req, res) => sendJson(res, 401, { error: 'invalid_token' }));
  cleanup.push(() => server.close());
  return server;
}

function client(baseUrl: string, m: TokenManager) {
  const api = createClient({ baseUrl, policies: [tokenAuth(m)] });
  cleanup.push(() => api.close());
  return api;
}

describe('an upstream that rejects every token (issue 11 item 2)', () => {
  it('20 sequential GETs: 2 token fetches, each rejected token sent once, then fail fast with retryAfter', async () => {
    const clock = new FakeClock();
    const upstream = await rejectingUpstream();
    const { provider, state } = counting();
    const m = manager({ provider, clock });
    const api = client(upstream.url, m);
    const errors: unknown[] = [];
    for (let i = 0; i < 20; i++) errors.push(await api.get('/x').catch((e: unknown) => e));
    expect(state.fetches).toBe(2);
    expect(upstream.requests.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(errors[0]).toBeInstanceOf(UnauthorizedError);
    for (const e of errors.slice(1)) {
      expect(isTokenUnavailableError(e)).toBe(true);
      expect((e as { retryAfter?: number }).retryAfter).toBe(30_000);
    }
    // After the interval, one more token is tried; a minute of calls every second causes 2 more fetches in all.
    for (let s = 1; s <= 60; s++) {
      await clock.advance(1_000);
      await api.get('/x').catch(() => undefined);
    }
    expect(state.fetches).toBe(4);
    expect(upstream.requests).toHaveLength(4);
    expect(new Set(upstream.requests.map((r) => r.headers.authorization)).size).toBe(4);
  });

  it('100 GETs 20-parallel and 10 POSTs: 2 token fetches', async () => {
    const clock = new FakeClock();
    const upstream = await rejectingUpstream();
    const { provider, state } = counting();
    const m = manager({ provider, clock });
    const api = client(upstream.url, m);
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 20 }, () => api.get('/x').catch(() => undefined)));
    }
    for (let i = 0; i < 10; i++) await api.post('/x', { json: { i } }).catch(() => undefined);
    expect(state.fetches).toBe(2);
    const sent = upstream.requests.map((r) => r.headers.authorization);
    expect(new Set(sent)).toEqual(new Set(['Bearer tok-1', 'Bearer tok-2']));
  });

  it('10 POSTs (never repeated): 2 token fetches', async () => {
    const clock = new FakeClock();
    const upstream = await rejectingUpstream();
    const { provider, state } = counting();
    const api = client(upstream.url, manager({ provider, clock }));
    for (let i = 0; i < 10; i++) await api.post('/x', { json: { i } }).catch(() => undefined);
    expect(state.fetches).toBe(2);
    expect(upstream.requests).toHaveLength(2);
  });

  it('a manual invalidate (an admin refresh) obeys the same interval', async () => {
    const clock = new FakeClock();
    const { provider, state } = counting();
    const m = manager({ provider, clock });
    await m.getToken();
    expect(await m.invalidate()).toBe(true);
    await m.getToken();
    expect(state.fetches).toBe(2);
    // A second forced refresh within 30 s does nothing: the current token stays.
    await clock.advance(10_000);
    expect(await m.invalidate()).toBe(false);
    expect((await m.getToken()).value.reveal()).toBe('tok-2');
    await clock.advance(20_000);
    expect(await m.invalidate()).toBe(true);
    expect((await m.getToken()).value.reveal()).toBe('tok-3');
    expect(state.fetches).toBe(3);
  });

  it('refuses a negative forcedRefreshInterval, naming the option', () => {
    const { provider } = counting();
    expect(() => new TokenManager({ provider, forcedRefreshInterval: -1 })).toThrow(
      /"forcedRefreshInterval"/,
    );
  });
});

describe('refusals from the token endpoint (issue 11 item 8)', () => {
  it('a wrong client secret: 20 concurrent + 5 sequential calls send 1 token request; a minute sends at most 8', async () => {
    const clock = new FakeClock();
    const idp = await startOAuthServer();
    cleanup.push(() => idp.close());
    const m = manager({
      provider: clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'wrong-secret' }),
      clock,
    });
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, () => m.getToken().catch((e: unknown) => e)),
    );
    const sequential: unknown[] = [];
    for (let i = 0; i < 5; i++) sequential.push(await m.getToken().catch((e: unknown) => e));
    expect(idp.stats().refused).toBe(1);
    for (const e of [...concurrent, ...sequential]) {
      expect(isTokenEndpointError(e) && e.code).toBe('ERR_INVALID_CLIENT');
    }
    // The same error, at once: the caller learns what is wrong, the IdP is not asked.
    expect(sequential[4]).toBe(sequential[0]);
    for (let s = 0; s < 60; s++) {
      await clock.advance(1_000);
      await m.getToken().catch(() => undefined);
    }
    expect(idp.stats().refused).toBeGreaterThanOrEqual(4);
    expect(idp.stats().refused).toBeLessThanOrEqual(8);
    expect(idp.stats().tokensIssued).toEqual({});
  });

  it('invalid_scope is remembered; a transient error (503) is not', async () => {
    const clock = new FakeClock();
    const idp = await startOAuthServer();
    cleanup.push(() => idp.close());
    const m = manager({
      provider: clientCredentials({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: 'demo-secret',
        scopes: ['forbidden'],
      }),
      clock,
    });
    for (let i = 0; i < 5; i++) await m.getToken().catch(() => undefined);
    expect(idp.stats().refused).toBe(1);
    const ok = manager({
      provider: clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'demo-secret' }),
      clock,
    });
    idp.setFault({ down: true });
    for (let i = 0; i < 3; i++) await ok.getToken().catch(() => undefined);
    idp.setFault({});
    await expect(ok.getToken()).resolves.toBeDefined();
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
  });
});

describe('short-lived tokens (issue 11 item 7)', () => {
  it('5 s tokens over 15 s of calls: about one fetch per lifetime, none on the caller path', async () => {
    const clock = new FakeClock();
    const { provider, state } = counting(5);
    const m = manager({ provider, clock });
    await m.getToken();
    let waited = 0;
    for (let t = 0; t < 15_000; t += 50) {
      await clock.advance(50);
      if (m.cachedToken() === undefined) waited++;
      await m.getToken();
    }
    expect(waited).toBe(0);
    // Used for 80 % of its life (skew 0.5 s, refresh window 0.5 s): 15 s / 4 s ≈ 4 fetches, plus the first.
    expect(state.fetches).toBeGreaterThanOrEqual(4);
    expect(state.fetches).toBeLessThanOrEqual(5);
  });

  it('property: for lifetimes from 1 s to 24 h, ≈ 1 fetch per lifetime and no caller waits in steady state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1_000, max: 86_400_000 }), async (lifetime) => {
        const clock = new FakeClock();
        const state = { fetches: 0 };
        const m = new TokenManager({
          clock,
          provider: {
            id: 'prop',
            // The IdP takes 2 % of the lifetime (20 ms for a 1 s token) to answer.
            fetchToken: async () => {
              await clock.sleep(lifetime * 0.02);
              return { accessToken: `t${++state.fetches}`, expiresAt: clock.wallNow() + lifetime };
            },
          },
        });
        try {
          const first = m.getToken();
          await clock.advance(lifetime * 0.02);
          await first;
          const lifetimes = 6;
          const step = lifetime / 40;
          let waited = 0;
          for (let i = 0; i < lifetimes * 40; i++) {
            await clock.advance(step);
            if (m.cachedToken() === undefined) waited++;
          }
          expect(waited).toBe(0);
          // Each token is used for at least 70 % of its life (skew ≤ 10 %, refresh window ≤ 20 %).
          const perLifetime = (state.fetches - 1) / lifetimes;
          expect(perLifetime).toBeGreaterThanOrEqual(1);
          expect(perLifetime).toBeLessThanOrEqual(1 / 0.7);
        } finally {
          await m.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
