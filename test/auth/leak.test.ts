import { format, inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  clientCredentials,
  createSession,
  fromHeader,
  fromJsonBody,
  passwordGrant,
  type TokenEvents,
  TokenManager,
  TokenPipeline,
  tokenAuth,
} from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { Secret } from '../../src/core/secret.js';
import type { ClientEvents, Policy } from '../../src/core/types.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { FakeClock } from '../../src/testing.js';
import { settle } from './helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
  vi.restoreAllMocks();
});

const TOKEN_EVENTS: (keyof TokenEvents)[] = [
  'acquired',
  'refreshed',
  'failed',
  'invalidated',
  'expired',
  'cacheHit',
  'cacheMiss',
  'storeError',
];
const CLIENT_EVENTS: (keyof ClientEvents)[] = ['request', 'attempt', 'response', 'error'];

describe('no secret leaks', () => {
  it('never shows a client secret, password, access or refresh token in logs, errors, events or curl lines', async () => {
    const out: string[] = [];
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        out.push(format(...args));
      });
    }
    // A user who logs everything: every event, every error, every request as curl.
    const log = (what: unknown) => console.log(what);
    const logError = (error: unknown) => {
      console.error(error);
      console.error(JSON.stringify(error));
      console.error(String(error), (error as Error).message);
      out.push(inspect(error, { depth: 10, showHidden: true }));
    };
    const watchManager = (m: TokenManager) => {
      for (const name of TOKEN_EVENTS)
        m.events.on(name, (p) => {
          log({ event: name, ...p });
          out.push(inspect(p, { depth: 10 }), JSON.stringify(p));
        });
    };
    const curl: Policy = {
      name: 'curl',
      wrap: (next) => async (req, ctx) => {
        log(req.toCurl());
        log(req);
        log(JSON.stringify(req));
        return next(req, ctx);
      },
    };
    const watchClient = (c: ReturnType<typeof createClient>) => {
      for (const name of CLIENT_EVENTS)
        c.on(name, (p) => {
          log({ event: name, ...p });
          out.push(JSON.stringify(p));
        });
    };

    const clock = new FakeClock();
    const idp: OAuthServer = await startOAuthServer({ tokenLifetime: 300, now: () => clock.wallNow() });
    cleanup.push(() => idp.close());

    // 1. client credentials (basic and post), a revoked token, an outage, refresh over lifetimes.
    for (const authMethod of ['client_secret_basic', 'client_secret_post'] as const) {
      const tokenClient = createClient({ policies: [curl], throwHttpErrors: false });
      watchClient(tokenClient);
      cleanup.push(() => tokenClient.close());
      const m = new TokenManager({
        provider: clientCredentials({
          tokenUrl: idp.tokenUrl,
          clientId: 'demo',
          clientSecret: new Secret('demo-secret'),
          authMethod,
          client: tokenClient,
        }),
        clock,
      });
      cleanup.push(() => m.close());
      watchManager(m);
      const api = createClient({ baseUrl: idp.url, policies: [tokenAuth(m), curl], clock });
      watchClient(api);
      cleanup.push(() => api.close());
      await api.get('/api/me');
      idp.revoke(idp.issuedSecrets().at(-1)!);
      await api.get('/api/me');
      log(m.getTokenInfo());
      log(m);
      log(await m.getToken());
      idp.setFault({ down: true });
      for (let t = 0; t < 320; t += 20) {
        await clock.advance(20_000);
        await settle(clock, m);
        await api.get('/api/me').catch(logError);
      }
      idp.setFault({});
      await api.get('/api/me');
    }

    // 2. password grant with rotation across two managers sharing a store.
    const store = new MemoryTokenStore({ clock });
    const grant = () =>
      passwordGrant({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: 'demo-secret',
        username: 'demo-user',
        password: 'demo-password',
      });
    const a = new TokenManager({ provider: grant(), clock, store });
    const b = new TokenManager({ provider: grant(), clock, store });
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    watchManager(a);
    watchManager(b);
    const first = Promise.all([a.getToken(), b.getToken()]);
    await settle(clock, a, b);
    log(await first);
    for (let t = 0; t < 700; t += 20) {
      await clock.advance(20_000);
      await settle(clock, a, b);
    }
    await b.invalidate();
    await b.getToken();

    // 3. token endpoint errors.
    const failures = [
      clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'demo-secret-wrong' }),
      passwordGrant({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: 'demo-secret',
        authMethod: 'client_secret_post',
        username: 'demo-user',
        password: 'demo-password-wrong',
      }),
      clientCredentials({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: 'demo-secret',
        scopes: ['forbidden'],
      }),
      clientCredentials({
        tokenUrl: 'http://127.0.0.1:1/oauth/token',
        clientId: 'demo',
        clientSecret: 'demo-secret',
      }),
    ];
    for (const provider of failures) {
      const m = new TokenManager({ provider, clock });
      watchManager(m);
      cleanup.push(() => m.close());
      await m.getToken().catch(logError);
    }
    idp.setFault({ garbageNext: 1 });
    await new TokenManager({
      provider: clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'demo-secret' }),
    })
      .getToken()
      .catch(logError);

    // 4. a pipeline and a session.
    const pipeline = new TokenPipeline({
      clock,
      client: createClient({ policies: [curl] }),
      steps: {
        device: {
          fetch: fromJsonBody({
            url: `${idp.url}/chain/device`,
            form: () => ({ client_id: 'demo', client_secret: 'demo-secret' }),
            tokenPath: 'device_token',
          }),
        },
        app: {
          deps: ['device'],
          fetch: fromJsonBody({
            url: `${idp.url}/chain/app`,
            headers: (d) => ({ 'x-device-token': d.device!.value }),
            tokenPath: 'data.app_token',
          }),
        },
        user: {
          deps: ['app'],
          fetch: fromHeader({
            url: `${idp.url}/chain/user`,
            headers: (d) => ({ authorization: `Bearer ${d.app!.value.reveal()}` }),
            form: () => ({ username: 'demo-user', password: 'demo-password' }),
            header: 'x-user-token',
          }),
        },
      },
    });
    for (const name of ['fetched', 'invalidated'] as const) pipeline.events.on(name, log);
    const pm = new TokenManager({ provider: pipeline, clock });
    watchManager(pm);
    cleanup.push(() => pm.close());
    const papi = createClient({ baseUrl: idp.url, policies: [tokenAuth(pm), curl], clock });
    watchClient(papi);
    cleanup.push(() => papi.close());
    await papi.get('/api/me');
    pipeline.invalidate('device');
    await papi.get('/api/me', { headers: { 'x-trace': '1' } }).catch(logError);
    log(pipeline.stats());
    const session = createSession({
      tokenUrl: idp.tokenUrl,
      clients: { demo: 'demo-secret' },
      clock,
      services: { s: { baseUrl: idp.url, timeout: false } },
    });
    cleanup.push(() => session.close());
    const s = session.client('s');
    watchClient(s);
    await s.get('/api/me');
    await s.get('/nope').catch(logError);
    log(session.status());
    log(session);

    const text = out.join('\n');
    const secrets = [
      'demo-secret',
      'demo-password',
      Buffer.from('demo:demo-secret').toString('base64'),
      ...idp.issuedSecrets(),
    ];
    // Enough issued tokens that the scan means something; the exact count depends on how refreshes race under load.
    expect(idp.issuedSecrets().length).toBeGreaterThanOrEqual(10);
    expect(text.length).toBeGreaterThan(10_000);
    for (const secret of secrets) {
      if (text.includes(secret)) throw new Error(`leaked a secret of kind ${secret.slice(0, 8)}…`);
    }
    expect(text).toContain('[REDACTED]');
    // The scenarios really produced what is checked.
    for (const expected of [
      'ERR_INVALID_CLIENT',
      'ERR_INVALID_GRANT',
      'ERR_INVALID_SCOPE',
      'curl -X POST',
      'client_secret=[REDACTED]',
      'authorization: [REDACTED]',
      'refreshed',
      'expired',
    ]) {
      expect(text).toContain(expected);
    }
  }, 30_000);
});
