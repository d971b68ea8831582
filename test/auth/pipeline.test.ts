import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fromHeader,
  fromJsonBody,
  isTokenEndpointError,
  type TokenEndpointError,
  TokenManager,
  TokenPipeline,
  tokenAuth,
} from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { FakeClock } from '../../src/testing.js';
import { sendJson, startServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** The sandbox's device → app → user chain as a pipeline. */
function chain(idp: OAuthServer, clock: FakeClock, cascade = true): TokenPipeline {
  const basic = `Basic ${Buffer.from('demo:demo-secret').toString('base64')}`;
  const pipeline = new TokenPipeline({
    clock,
    cascade,
    steps: {
      device: {
        ttl: 300_000,
        fetch: fromJsonBody({
          url: `${idp.url}/chain/device`,
          headers: () => ({ authorization: basic }),
          tokenPath: 'device_token',
        }),
      },
      app: {
        deps: ['device'],
        ttl: 120_000,
        fetch: fromJsonBody({
          url: `${idp.url}/chain/app`,
          headers: (deps) => ({ 'x-device-token': deps.device!.value }),
          tokenPath: 'data.app_token',
        }),
      },
      user: {
        deps: ['app'],
        ttl: 60_000,
        fetch: fromHeader({
          url: `${idp.url}/chain/user`,
          headers: (deps) => ({ authorization: `Bearer ${deps.app!.value.reveal()}` }),
          form: () => ({ username: 'demo-user', password: 'demo-password' }),
          header: 'x-user-token',
          expiresInHeader: 'x-user-token-expires-in',
        }),
      },
    },
  });
  cleanup.push(() => pipeline.close());
  return pipeline;
}

describe('token pipelines', () => {
  it('fetches each step once per TTL and the user token works upstream', async () => {
    const clock = new FakeClock();
    const idp = await startOAuthServer({ now: () => clock.wallNow(), chainLifetime: 600 });
    cleanup.push(() => idp.close());
    const pipeline = chain(idp, clock);
    const tokens = await Promise.all(Array.from({ length: 100 }, () => pipeline.getToken()));
    expect(new Set(tokens.map((t) => t.fingerprint())).size).toBe(1);
    expect(idp.stats().chain).toEqual({ device: 1, app: 1, user: 1 });
    for (let s = 0; s < 600; s += 5) {
      await clock.advance(5_000);
      await pipeline.getToken();
    }
    // 10 minutes: user every 60 s, app every 120 s; device (300 s) only when app needs it: at 0 and 360 s.
    const stats = idp.stats().chain;
    expect(stats.user).toBe(11);
    expect(stats.app).toBe(6);
    expect(stats.device).toBe(2);
    expect(pipeline.stats().user!.fetches).toBe(11);

    const manager = new TokenManager({ provider: pipeline, clock });
    cleanup.push(() => manager.close());
    const api = createClient({ baseUrl: idp.url, policies: [tokenAuth(manager)], clock });
    cleanup.push(() => api.close());
    await expect(api.get('/api/me').json()).resolves.toMatchObject({ sub: 'demo-user' });
  });

  it('cascading invalidation refetches only the dependent steps; non-cascading only the step', async () => {
    const clock = new FakeClock();
    const idp = await startOAuthServer({ now: () => clock.wallNow() });
    cleanup.push(() => idp.close());
    const pipeline = chain(idp, clock);
    await pipeline.getToken();
    expect(pipeline.invalidate('app')).toEqual(['app', 'user']);
    await pipeline.getToken();
    expect(idp.stats().chain).toEqual({ device: 1, app: 2, user: 2 });
    expect(pipeline.invalidate('device', { cascade: false })).toEqual(['device']);
    await pipeline.getToken();
    expect(idp.stats().chain).toEqual({ device: 1, app: 2, user: 2 });
    await pipeline.getToken('device');
    expect(idp.stats().chain).toEqual({ device: 2, app: 2, user: 2 });

    const flat = chain(idp, clock, false);
    await flat.getToken();
    idp.resetStats();
    expect(flat.invalidate('device')).toEqual(['device']);
    await flat.getToken();
    expect(idp.stats().chain).toEqual({ device: 0, app: 0, user: 0 });
  });

  it('drops a dependency whose token is refused and retries the step once', async () => {
    const clock = new FakeClock();
    const idp = await startOAuthServer({ now: () => clock.wallNow() });
    cleanup.push(() => idp.close());
    const pipeline = chain(idp, clock);
    await pipeline.getToken();
    idp.revoke(idp.issuedSecrets().find((t) => t.startsWith('sbx_app_'))!);
    pipeline.invalidate('user');
    await pipeline.getToken();
    expect(idp.stats().chain).toEqual({ device: 1, app: 2, user: 2 });
  });

  it('rejects cycles, missing dependencies and bad steps at construction, naming the step', () => {
    const f = async () => 'x';
    const cases: [object, string, RegExp][] = [
      [
        { steps: { a: { deps: ['b'], fetch: f }, b: { deps: ['a'], fetch: f } } },
        'steps.a.deps',
        /cycle: a → b → a/,
      ],
      [{ steps: { a: { deps: ['a'], fetch: f } } }, 'steps.a.deps', /itself/],
      [{ steps: { a: { deps: ['nope'], fetch: f } } }, 'steps.a.deps', /"nope"/],
      [{ steps: { a: { fetch: 'no' } } }, 'steps.a.fetch', /fetcher/],
      [{ steps: { a: { fetch: f, ttl: -5 } } }, 'steps.a.ttl', /≥/],
      [{ steps: { a: { fetch: f }, b: { fetch: f } } }, 'output', /a, b/],
      [{ steps: { a: { fetch: f } }, output: 'z' }, 'output', /"z"/],
      [{ steps: {} }, 'steps', /at least one/],
    ];
    for (const [options, option, message] of cases) {
      let err: unknown;
      try {
        new TokenPipeline(options as never);
      } catch (e) {
        err = e;
      }
      expect(isInvalidOptionError(err) && err.option).toBe(option);
      expect((err as Error).message).toMatch(message);
    }
  });

  it("scrubs the endpoint's error field: credentials it echoes, secret JSON fields, CR/LF", async () => {
    const device = 'dev-token-7f3a9c1e';
    const password = 'hunter2-pass';
    // Each call answers 400 with the next error field: all three echo what the step sent, or look like secrets.
    const answers = [
      `invalid_token ${device}`,
      `bad_login password=${password}\r\nx-injected: 1`,
      '{"access_token":"at-leaked-5d1e"}',
    ];
    const seen: string[] = [];
    const idp = await startServer((req, res) => {
      seen.push(String(req.headers['x-device-token']));
      sendJson(res, 400, { error: answers[seen.length - 1] });
    });
    cleanup.push(() => idp.close());
    const fields: (string | undefined)[] = [];
    for (let i = 0; i < answers.length; i++) {
      const p = new TokenPipeline({
        steps: {
          device: { fetch: async () => device },
          app: {
            deps: ['device'],
            fetch: fromJsonBody({
              url: `${idp.url}/app`,
              headers: (deps) => ({ 'x-device-token': deps.device!.value }),
              form: () => ({ username: 'demo-user', password }),
              tokenPath: 'app_token',
            }),
          },
        },
      });
      cleanup.push(() => p.close());
      const error = await p.getToken().then(
        () => undefined,
        (e: unknown) => e,
      );
      const cause = (error as { cause?: TokenEndpointError }).cause;
      expect(isTokenEndpointError(cause)).toBe(true);
      fields.push(cause?.error);
      for (const text of [inspect(error, { depth: 5 }), JSON.stringify(error), JSON.stringify(cause)]) {
        for (const secret of [device, password, 'at-leaked-5d1e']) expect(text).not.toContain(secret);
      }
      expect(cause?.message).not.toMatch(/[\r\n]/);
      expect((error as Error).message).toBe(
        `Token pipeline step "app" failed: The "app" endpoint answered status 400 (${cause?.error})`,
      );
    }
    expect(seen).toEqual([device, device, device]);
    // Scrubbed before it is cut to 64 characters; what is left outside RFC 6749's error charset becomes "?".
    expect(fields).toEqual([
      'invalid_token [REDACTED]',
      'bad_login password=[REDACTED]??x-injected: 1',
      '{?access_token?:?[REDACTED]?}',
    ]);
  });

  it('wraps a failing step in TokenStepError naming it', async () => {
    const p = new TokenPipeline({
      steps: {
        a: { fetch: async () => 'a-token' },
        b: { deps: ['a'], fetch: async () => Promise.reject(new Error('boom')) },
      },
    });
    cleanup.push(() => p.close());
    await expect(p.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_STEP', step: 'b' });
  });
});
