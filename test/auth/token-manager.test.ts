import { afterEach, describe, expect, it } from 'vitest';
import {
  clientCredentials,
  isTokenEndpointError,
  passwordGrant,
  type TokenEvents,
  TokenManager,
  tokenAuth,
} from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { isInvalidOptionError, UnauthorizedError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import { standardPolicies } from '../../src/policies/standard.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { ResilientTokenStore } from '../../src/stores/resilient.js';
import { FakeClock, MemoryTransport } from '../../src/testing.js';
import { sendJson, startServer } from '../helpers/server.js';
import { SwitchableStore, settle } from './helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function sandbox(options: Parameters<typeof startOAuthServer>[0] = {}): Promise<OAuthServer> {
  const idp = await startOAuthServer(options);
  cleanup.push(() => idp.close());
  return idp;
}

function demo(idp: OAuthServer, extra: Partial<Parameters<typeof clientCredentials>[0]> = {}) {
  return clientCredentials({
    tokenUrl: idp.tokenUrl,
    clientId: 'demo',
    clientSecret: new Secret('demo-secret'),
    ...extra,
  });
}

function manager(options: ConstructorParameters<typeof TokenManager>[0]): TokenManager {
  const m = new TokenManager(options);
  cleanup.push(() => m.close());
  return m;
}

function record(m: TokenManager): { name: keyof TokenEvents; payload: unknown }[] {
  const out: { name: keyof TokenEvents; payload: unknown }[] = [];
  const names: (keyof TokenEvents)[] = [
    'acquired',
    'refreshed',
    'failed',
    'invalidated',
    'expired',
    'cacheHit',
    'cacheMiss',
    'storeError',
  ];
  for (const name of names) m.events.on(name, (payload) => out.push({ name, payload }));
  return out;
}

function apiClient(idp: OAuthServer, m: TokenManager, clock?: FakeClock) {
  const api = createClient({ baseUrl: idp.url, policies: [tokenAuth(m)], ...(clock ? { clock } : {}) });
  cleanup.push(() => api.close());
  return api;
}

describe('TokenManager against the sandbox OAuth server', () => {
  it('serves 10 000 concurrent calls on a cold cache with exactly one token request', async () => {
    const idp = await sandbox({ fault: { latencyMs: 50 } });
    const m = manager({ provider: demo(idp) });
    const api = apiClient(idp, m);
    const calls = Array.from({ length: 10_000 }, () => api.get('/api/me').json<{ client_id: string }>());
    const results = await Promise.all(calls);
    expect(results.every((r) => r.client_id === 'demo')).toBe(true);
    const stats = (await fetch(`${idp.url}/_sandbox/stats`).then((r) => r.json())) as {
      tokensIssued: Record<string, number>;
      api: { calls: number; unauthorized: number };
    };
    expect(stats.tokensIssued).toEqual({ demo: 1 });
    expect(stats.api).toEqual({ calls: 10_000, unauthorized: 0 });
  }, 30_000);

  it('refreshes in the background before expiry: zero 401s over several lifetimes', async () => {
    const clock = new FakeClock();
    const idp = await sandbox({ tokenLifetime: 300, now: () => clock.wallNow() });
    // No jitter: the refresh is due exactly 65 s before expiry (5 s skew + the 60 s buffer), every ~235 s.
    const m = manager({ provider: demo(idp), clock, jitter: 0 });
    const events = record(m);
    const api = apiClient(idp, m, clock);
    await expect(api.get('/api/me').json()).resolves.toMatchObject({ sub: 'demo' });
    // 1 100 s: refreshes near 235, 470, 705 and 940 s; the end sits far from the next one (~1 175 s), so the
    // 25 ms steps settle() adds while a fetch is in flight cannot move a refresh across it.
    for (let t = 0; t < 1_100; t += 10) {
      await clock.advance(10_000);
      await settle(clock, m);
      expect((await api.get('/api/me')).status).toBe(200);
    }
    const stats = idp.stats();
    expect(stats.api.unauthorized).toBe(0);
    // One token per lifetime, never a stampede: the first one and four refreshes.
    expect(stats.tokensIssued).toEqual({ demo: 5 });
    expect(events.filter((e) => e.name === 'refreshed').length).toBe(4);
    const info = m.getTokenInfo()!;
    expect(info.state).toBe('valid');
    expect(JSON.stringify(info)).not.toContain('sbx_');
    await m.close();
    expect(clock.pending).toBe(0);
  });

  it('on a revoked token refetches once and repeats the call once, however many calls saw the 401', async () => {
    const idp = await sandbox();
    // Two revocations in a row on purpose: the interval between forced refreshes is tested on its own.
    const m = manager({ provider: demo(idp), forcedRefreshInterval: 0 });
    const events = record(m);
    const api = apiClient(idp, m);
    await api.get('/api/me');
    const first = m.getTokenInfo()!.fingerprint;
    const revoked = idp.issuedSecrets().find((t) => t.startsWith('sbx_access_'))!;
    expect(idp.revoke(revoked)).toBe(true);
    idp.resetStats();
    await expect(api.get('/api/me').json()).resolves.toMatchObject({ sub: 'demo' });
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
    expect(idp.stats().api).toEqual({ calls: 2, unauthorized: 1 });
    expect(m.getTokenInfo()!.fingerprint).not.toBe(first);
    expect(events.filter((e) => e.name === 'invalidated')).toHaveLength(1);

    // 50 concurrent calls all hitting the 401: still one refetch.
    idp.revoke(idp.issuedSecrets().filter((t) => t.startsWith('sbx_access_'))[1]!);
    idp.resetStats();
    const all = await Promise.all(Array.from({ length: 50 }, () => api.get('/api/me')));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
    expect(idp.stats().api.unauthorized).toBe(50);
    expect(idp.stats().api.calls).toBe(100);
  });

  it('does not repeat a non-idempotent or non-replayable call on 401, unless marked idempotent', async () => {
    const idp = await sandbox();
    const server = await startServer((req, res) => {
      if (req.headers.authorization === 'Bearer good') return sendJson(res, 200, { ok: true });
      sendJson(res, 401, { error: 'invalid_token' });
    });
    cleanup.push(() => server.close());
    let n = 0;
    const m = manager({
      provider: { id: 'custom', fetchToken: async () => ({ accessToken: n++ === 0 ? 'bad-one' : 'good' }) },
      forcedRefreshInterval: 0, // each case starts with a token the upstream rejects
    });
    const api = createClient({ baseUrl: server.url, policies: [tokenAuth(m)] });
    cleanup.push(() => api.close());
    const err = await api.post('/thing', { json: { a: 1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(server.requests).toHaveLength(1);
    // The token was invalidated anyway: the next call gets a new one.
    await expect(api.post('/thing', { json: { a: 1 } }).json()).resolves.toEqual({ ok: true });
    n = 0;
    m.clear();
    server.requests.length = 0;
    await expect(api.post('/thing', { json: { a: 1 }, idempotent: true }).json()).resolves.toEqual({
      ok: true,
    });
    expect(server.requests).toHaveLength(2);
    n = 0;
    m.clear();
    server.requests.length = 0;
    async function* stream() {
      yield new TextEncoder().encode('x');
    }
    const streamed = await api.put('/thing', { body: stream() }).catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(UnauthorizedError);
    expect(server.requests).toHaveLength(1);
    expect(idp.stats().tokensIssued).toEqual({});
  });

  it('keeps serving the current token while the IdP is down, until hard expiry', async () => {
    const clock = new FakeClock();
    const idp = await sandbox({ tokenLifetime: 300, now: () => clock.wallNow() });
    const m = manager({ provider: demo(idp), clock });
    const events = record(m);
    const api = apiClient(idp, m, clock);
    await api.get('/api/me');
    idp.setFault({ down: true });
    for (let t = 10; t <= 290; t += 10) {
      await clock.advance(10_000);
      await settle(clock, m);
      expect((await api.get('/api/me')).status).toBe(200);
    }
    const failed = events.filter((e) => e.name === 'failed').map((e) => e.payload as TokenEvents['failed']);
    expect(failed.length).toBeGreaterThan(2);
    expect(failed.every((f) => f.serving && f.retryIn !== undefined)).toBe(true);
    expect(m.getTokenInfo()!.state).toBe('stale');
    await clock.advance(10_000);
    await settle(clock, m);
    const err = await api.get('/api/me').catch((e: unknown) => e);
    expect(isTokenEndpointError(err) && err.status).toBe(503);
    expect(events.some((e) => e.name === 'expired')).toBe(true);
    idp.setFault({});
    expect((await api.get('/api/me')).status).toBe(200);
    expect(idp.stats().api.unauthorized).toBe(0);
  });

  it('never loses the session when refresh tokens rotate, across two processes sharing a store', async () => {
    const clock = new FakeClock();
    const idp = await sandbox({ tokenLifetime: 300, now: () => clock.wallNow() });
    const store = new MemoryTokenStore({ clock });
    const grant = () =>
      passwordGrant({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: 'demo-secret',
        authMethod: 'client_secret_post',
        username: 'demo-user',
        password: new Secret('demo-password'),
      });
    // No jitter: both processes find the refresh due at the same moment, ~235 s after each token was issued.
    const a = manager({ provider: grant(), clock, store, jitter: 0 });
    const b = manager({ provider: grant(), clock, store, jitter: 0 });
    const apiA = apiClient(idp, a, clock);
    const apiB = apiClient(idp, b, clock);
    // b waits for a's lease, polling on the fake clock: move it along.
    const first = Promise.all([apiA.get('/api/me'), apiB.get('/api/me')]);
    await settle(clock, a, b);
    await first;
    expect(idp.stats().grants).toEqual({ password: 1 });
    // 1 400 s: refreshes near 235, 470, 705, 940 and 1 175 s; the next (~1 410 s) lies beyond the end, far
    // enough that settle()'s 25 ms steps cannot pull it in.
    for (let t = 0; t < 1_400; t += 10) {
      await clock.advance(10_000);
      await settle(clock, a, b);
      const [ra, rb] = await Promise.all([apiA.get('/api/me'), apiB.get('/api/me')]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
    }
    const stats = idp.stats();
    expect(stats.grants.password).toBe(1);
    expect(stats.refused).toBe(0);
    expect(stats.api.unauthorized).toBe(0);
    // One refresh per lifetime across both processes.
    expect(stats.grants.refresh_token).toBe(5);
  });

  it('adopts a token another process rotated when its own refresh token gets invalid_grant', async () => {
    const clock = new FakeClock();
    const idp = await sandbox({ tokenLifetime: 300, now: () => clock.wallNow() });
    const store = new SwitchableStore(new MemoryTokenStore({ clock }));
    const grant = () =>
      passwordGrant({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: 'demo-secret',
        username: 'demo-user',
        password: 'demo-password',
      });
    const a = manager({ provider: grant(), clock, store, backgroundRefresh: false });
    const b = manager({ provider: grant(), clock, store, backgroundRefresh: false });
    await a.getToken();
    await b.getToken(); // adopts a's token from the store
    expect(idp.stats().grants).toEqual({ password: 1 });
    // a rotates the refresh token; b still holds the old one in memory.
    await a.invalidate();
    await a.getToken();
    expect(idp.stats().grants.refresh_token).toBe(1);
    // b cannot read the store nor take the lease, so it uses its stale refresh token: invalid_grant,
    // then it re-reads the store and adopts the token a rotated to.
    await clock.advance(300_000);
    const ta = await a.getToken();
    expect(idp.stats().grants.refresh_token).toBe(2);
    b.clear();
    const bEvents = record(b);
    store.fail.lease = true;
    store.failGets = 1;
    // The failed get puts the store in its outage cooldown (1 s, on the fake clock); it ends while b's refresh
    // is at the IdP, so b's re-read after invalid_grant reaches the store again.
    idp.setFault({ latencyMs: 100 });
    const pending = b.getToken();
    while (store.failGets > 0) await new Promise((r) => setTimeout(r, 1));
    await clock.advance(1_001);
    const tb = await pending;
    expect(tb.fingerprint()).toBe(ta.fingerprint());
    expect(idp.stats().grants).toEqual({ password: 1, refresh_token: 3 });
    expect(idp.stats().refused).toBe(1);
    expect(bEvents.some((e) => e.name === 'storeError')).toBe(true);
  });

  it('treats a failing or hanging store as a miss and keeps an in-process copy', async () => {
    const idp = await sandbox();
    const store = new SwitchableStore();
    store.fail = { get: true, set: true, lease: true };
    const m = manager({ provider: demo(idp), store, storeTimeout: 50 });
    const events = record(m);
    const api = apiClient(idp, m);
    await Promise.all(Array.from({ length: 20 }, () => api.get('/api/me')));
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
    expect(events.filter((e) => e.name === 'storeError').length).toBeGreaterThan(0);
    // The in-process copy serves while the store is down: no new fetch.
    m.clear();
    await api.get('/api/me');
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
    // A hanging store times out after storeTimeout and counts as a miss.
    const hanging = new SwitchableStore();
    hanging.hang = true;
    const m2 = manager({ provider: demo(idp), store: hanging, storeTimeout: 50 });
    const events2 = record(m2);
    await m2.getToken();
    expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
    const errs = events2
      .filter((e) => e.name === 'storeError')
      .map((e) => e.payload as TokenEvents['storeError']);
    expect(errs.some((e) => (e.error as { code?: string }).code === 'ERR_TIMEOUT')).toBe(true);
  });

  it('while the store is down, the in-process copy never serves a token rejected with 401', async () => {
    const idp = await sandbox();
    const store = new SwitchableStore();
    const m = manager({ provider: demo(idp), store });
    const api = apiClient(idp, m);
    await api.get('/api/me');
    store.fail = { get: true, set: true, lease: true };
    idp.revoke(idp.issuedSecrets().filter((t) => t.startsWith('sbx_access_'))[0]!);
    await expect(api.get('/api/me').json()).resolves.toMatchObject({ sub: 'demo' });
    expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
    // Forgotten in memory: the copy of the resilient wrapper serves the replacement, not the revoked token.
    m.clear();
    await expect(api.get('/api/me').json()).resolves.toMatchObject({ sub: 'demo' });
    expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
    expect(idp.stats().api.unauthorized).toBe(1);
  });

  it('fetches once across processes sharing a store (lease, re-read, waiters poll)', async () => {
    const idp = await sandbox({ fault: { latencyMs: 100 } });
    const store = new MemoryTokenStore();
    const managers = Array.from({ length: 4 }, () => manager({ provider: demo(idp), store }));
    const tokens = await Promise.all(
      managers.flatMap((m) => Array.from({ length: 100 }, () => m.getToken())),
    );
    expect(new Set(tokens.map((t) => t.fingerprint())).size).toBe(1);
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
  });

  it('waiters fetch themselves when the lease holder never writes', async () => {
    const idp = await sandbox();
    const clock = new FakeClock();
    const store = new MemoryTokenStore({ clock });
    const provider = demo(idp);
    let fetches = 0;
    const m = manager({
      provider: {
        id: provider.id,
        fetchToken: (ctx) => {
          fetches++;
          return provider.fetchToken(ctx);
        },
      },
      store,
      clock,
      waitTimeout: 100,
    });
    // Someone else holds the lease and died.
    await store.acquireLease(`reqforge:token:lease:${m.keyFor()}`, 10_000);
    const token = m.getToken();
    // Polls at 25 and 75 ms (the interval doubles), then waits out the rest of the 100 ms: no fetch before.
    await clock.advance(99);
    expect(fetches).toBe(0);
    await clock.advance(1);
    await token;
    expect(fetches).toBe(1);
    expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
  });

  it('honours refresh_in, JWT exp with the Date header offset, and does not loop on an unchanged token', async () => {
    const clock = new FakeClock();
    const skew = 3_600_000; // the IdP's clock is an hour ahead
    const idp = await sandbox({
      jwt: true,
      tokenLifetime: 600,
      refreshIn: 120,
      now: () => clock.wallNow() + skew,
    });
    const provider = demo(idp);
    const m = manager({
      provider: {
        id: provider.id,
        fetchToken: async (ctx) => {
          const init = await provider.fetchToken(ctx);
          // drop expires_in to exercise JWT exp + Date header
          return typeof init === 'object' && 'expiresIn' in init ? { ...init, expiresIn: undefined } : init;
        },
      },
      clock,
    });
    const token = await m.getToken();
    expect(token.expirySource).toBe('jwt');
    expect(Math.abs(token.expiresAt - (clock.wallNow() + 600_000))).toBeLessThan(2_000);
    expect(m.getTokenInfo()!.refreshAt - clock.wallNow()).toBe(120_000);

    let calls = 0;
    const same = manager({
      provider: {
        id: 'same',
        fetchToken: async () => {
          calls++;
          return { accessToken: 'same-token', expiresAt: Date.UTC(2026, 0, 1, 0, 10) };
        },
      },
      clock,
    });
    const events = record(same);
    await same.getToken();
    await clock.advance(9 * 60_000);
    for (let i = 0; i < 20; i++) {
      await same.getToken();
      await clock.advance(100);
      await settle(clock, same);
    }
    // The first fetch at 0 s, the refresh between 523 and 535 s (10 min lifetime − 5 s skew − a 60-72 s window);
    // it returns the same token, now with 65-77 s of lifetime, so the next refresh is due 20 % of that before
    // its end, at 580 s or later: beyond the 542 s this loop reaches, whatever the jitter.
    expect(calls).toBe(2);
    expect(
      events.some((e) => e.name === 'refreshed' && (e.payload as TokenEvents['refreshed']).unchanged),
    ).toBe(true);
  });

  it('turns token endpoint errors into typed errors', async () => {
    const idp = await sandbox();
    const wrong = manager({
      provider: clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'nope-nope' }),
    });
    await expect(wrong.getToken()).rejects.toMatchObject({
      code: 'ERR_INVALID_CLIENT',
      error: 'invalid_client',
      status: 401,
    });
    const scope = manager({ provider: demo(idp, { scopes: ['forbidden'] }) });
    await expect(scope.getToken()).rejects.toMatchObject({
      code: 'ERR_INVALID_SCOPE',
      error: 'invalid_scope',
    });
    const pw = manager({
      provider: passwordGrant({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: 'demo-secret',
        username: 'demo-user',
        password: 'wrong-password',
      }),
    });
    await expect(pw.getToken()).rejects.toMatchObject({ code: 'ERR_INVALID_GRANT', error: 'invalid_grant' });
    idp.setFault({ garbageNext: 1 });
    const garbage = manager({ provider: demo(idp) });
    await expect(garbage.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 200 });
    const empty = await startServer((_req, res) => sendJson(res, 200, { token_type: 'Bearer' }));
    cleanup.push(() => empty.close());
    const missing = manager({
      provider: clientCredentials({ tokenUrl: `${empty.url}/t`, clientId: 'x', clientSecret: 'y-secret' }),
    });
    await expect(missing.getToken()).rejects.toThrow(/without an access_token/);
    const down = manager({
      provider: clientCredentials({
        tokenUrl: 'http://127.0.0.1:1/t',
        clientId: 'x',
        clientSecret: 'y-secret',
      }),
    });
    await expect(down.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_ENDPOINT' });
  });

  it('keys tokens by scopes and audience', async () => {
    const idp = await sandbox();
    const m = manager({ provider: demo(idp, { scopes: ['read'] }) });
    const a = await m.getToken();
    const b = await m.getToken({ scopes: ['read', 'write'] });
    const c = await m.getToken({ scopes: ['write', 'read'] });
    const d = await m.getToken({ audience: 'billing' });
    expect(a.fingerprint()).not.toBe(b.fingerprint());
    expect(b.fingerprint()).toBe(c.fingerprint());
    expect(d.fingerprint()).not.toBe(a.fingerprint());
    expect(idp.stats().tokensIssued).toEqual({ demo: 3 });
    expect(m.listTokenInfo()).toHaveLength(3);
  });

  it('rejects invalid options at construction, naming the option', () => {
    const provider = { id: 'x', fetchToken: async () => 'tok' };
    const bad: [object, string][] = [
      [{ provider, refreshBuffer: -1 }, 'refreshBuffer'],
      [{ provider, refreshRatio: 0.7 }, 'refreshRatio'],
      [{ provider, leaseTtl: 0 }, 'leaseTtl'],
      [{ provider, storeTimeout: 'soon' }, 'storeTimeout'],
      [{ provider, refreshbuffer: 1 }, 'refreshbuffer'],
      [{ provider: {} }, 'provider'],
      [{ provider, store: {} }, 'store'],
      [
        { provider, store: new ResilientTokenStore(new MemoryTokenStore()), storeTimeout: 10 },
        'storeTimeout',
      ],
    ];
    for (const [options, name] of bad) {
      let err: unknown;
      try {
        new TokenManager(options as never);
      } catch (e) {
        err = e;
      }
      expect(isInvalidOptionError(err) && err.option).toBe(name);
      expect((err as Error).message).toContain(`"${name}"`);
    }
    expect(() => clientCredentials({ tokenUrl: 'ftp://x', clientId: 'a', clientSecret: 's' })).toThrow(
      /"tokenUrl"/,
    );
    expect(() => clientCredentials({ tokenUrl: 'http://x', clientId: '', clientSecret: 's' })).toThrow(
      /"clientId"/,
    );
    expect(() =>
      clientCredentials({ tokenUrl: 'http://x', clientId: 'a', authMethod: 'client_secret_post' }),
    ).toThrow(/"clientSecret"/);
    expect(() =>
      clientCredentials({
        tokenUrl: 'http://x',
        clientId: 'a',
        clientSecret: 's',
        authMethod: 'jwt' as never,
      }),
    ).toThrow(/"authMethod"/);
    expect(() => passwordGrant({ tokenUrl: 'http://x', clientId: 'a', username: 'u', password: '' })).toThrow(
      /"password"/,
    );
  });
});

describe('TokenManager options through the options layer', () => {
  const provider = { id: 'x', fetchToken: async () => 'tok' };
  it('refuses a misspelt key with a did-you-mean, and a wrong value without printing it', () => {
    expect(() => new TokenManager({ provider, refreshBufer: 1 } as never)).toThrow(
      /"refreshBufer": unknown option; did you mean "refreshBuffer"\?/,
    );
    let err: unknown;
    try {
      new TokenManager({ provider, keyPrefix: 42, leaseTtl: 'sk_live_secret' } as never);
    } catch (e) {
      err = e;
    }
    expect(isInvalidOptionError(err)).toBe(true);
    expect(String((err as Error).message)).not.toContain('sk_live_secret');
  });

  it('takes durations as milliseconds or strings', async () => {
    const clock = new FakeClock();
    let n = 0;
    const m = manager({
      provider: { id: 'd', fetchToken: async () => ({ accessToken: `t${++n}`, expiresIn: 3600 }) },
      clock,
      forcedRefreshInterval: '10s',
      expirySkew: '2s',
    });
    await m.getToken();
    expect(await m.invalidate()).toBe(true);
    await m.getToken();
    await clock.advance(9_000);
    expect(await m.invalidate()).toBe(false);
    await clock.advance(1_000);
    expect(await m.invalidate()).toBe(true);
  });
});

describe('TokenManager cache keys', () => {
  it('a request object changed in place gets the token of what it holds now, not of what it held', async () => {
    const clock = new FakeClock();
    const m = manager({
      clock,
      provider: {
        id: 'per-audience',
        fetchToken: async ({ request }) => ({
          accessToken: `token-for-${request.audience ?? 'none'}-${(request.scopes ?? []).join('+')}`,
          expiresIn: 3600,
        }),
      },
    });
    const request: { audience?: string; scopes?: string[] } = { audience: 'alice' };
    expect((await m.getToken(request)).value.reveal()).toBe('token-for-alice-');
    request.audience = 'bob';
    expect((await m.getToken(request)).value.reveal()).toBe('token-for-bob-');
    request.scopes = ['read'];
    expect((await m.getToken(request)).value.reveal()).toBe('token-for-bob-read');
    request.scopes.push('write');
    expect((await m.getToken(request)).value.reveal()).toBe('token-for-bob-read+write');
    // The same fields again: served from the cache (synchronously).
    expect(m.cachedToken(request)?.value.reveal()).toBe('token-for-bob-read+write');
  });
});

describe('token auth and aborts', () => {
  it('a 401 whose token invalidation hangs on the store still ends at the total timeout', async () => {
    const clock = new FakeClock();
    const store = new SwitchableStore();
    const m = manager({
      clock,
      store,
      provider: { id: 'hang-on-401', fetchToken: async () => ({ accessToken: 'abc', expiresIn: 3600 }) },
    });
    await m.getToken(); // cached (and stored) before the store goes quiet
    const transport = new MemoryTransport().route('GET', '/x', () => ({ status: 401 }));
    const authed = createClient({
      baseUrl: 'http://mem',
      transport,
      clock,
      policies: standardPolicies({
        retry: false,
        timeout: { total: 1_000, attempt: 1_000 },
        auth: tokenAuth(m),
      }),
    });
    store.hang = true;
    const call = authed.get('/x').catch((e: unknown) => e);
    await clock.advance(999);
    let settled = false;
    void call.then(() => {
      settled = true;
    });
    await clock.advance(0);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await call).toMatchObject({ code: 'ERR_TIMEOUT', scope: 'total' });
    store.hang = false;
  });
});

describe('TokenManager bounds', () => {
  it('keeps at most maxEntries token requests, forgetting the least recently used', async () => {
    let fetches = 0;
    const m = manager({
      clock: new FakeClock(),
      maxEntries: 3,
      provider: {
        id: 'obo',
        fetchToken: async ({ request }) => {
          fetches++;
          return { accessToken: `for-${request.audience}`, expiresIn: 3600 };
        },
      },
    });
    const users = ['u1', 'u2', 'u3'].map((audience) => ({ audience }));
    for (const u of users) await m.getToken(u);
    await m.getToken(users[0]); // u1 used again: u2 is now the least recently used
    await m.getToken({ audience: 'u4' });
    await m.getToken({ audience: 'u5' });
    expect(m.listTokenInfo().length).toBeLessThanOrEqual(3);
    expect(fetches).toBe(5);
    expect(m.cachedToken(users[0])?.value.reveal()).toBe('for-u1'); // kept
    expect(m.cachedToken(users[1])).toBeUndefined(); // forgotten
    expect((await m.getToken(users[1])).value.reveal()).toBe('for-u2'); // fetched again
    expect(fetches).toBe(6);
  });

  it('refuses a maxEntries below 1', () => {
    expect(
      () => new TokenManager({ provider: { id: 'x', fetchToken: async () => 't' }, maxEntries: 0 }),
    ).toThrow(/maxEntries/);
  });
});
