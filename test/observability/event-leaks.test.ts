import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials } from '../../src/auth/oauth2.js';
import { tokenAuth } from '../../src/auth/policy.js';
import { apiKeyAuth, bearerAuth, headerAuth } from '../../src/auth/static.js';
import { TokenManager } from '../../src/auth/token-manager.js';
import { createClient } from '../../src/client/client.js';
import { isHttpError, isParseError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import type { ClientEvents } from '../../src/core/types.js';
import { createJsonLogger, logClientEvents } from '../../src/observability/logging.js';
import { circuitBreaker } from '../../src/policies/circuit-breaker.js';
import { rateLimit } from '../../src/policies/rate-limit.js';
import { retry } from '../../src/policies/retry.js';
import { startOAuthServer } from '../../src/sandbox/oauth.js';
import type { TokenStore } from '../../src/stores/types.js';
import { startServer, type TestServer } from '../helpers/server.js';

// Every value a caller or an auth policy sends that must never be printed.
const S = {
  bearer: 'tok-BEARER-7f3a9c',
  headerKey: 'key-HEADER-51d2e8',
  queryKey: 'key-QUERY-9b7c1d',
  customHeader: 'sig-CUSTOM-4e6f20',
  password: 'pw-BODY-83a1c5',
  nested: 'cs-NESTED-2d9e47',
  deep: 'tok-DEEP-5a5a5a',
  form: 'cs-FORM-6b0f13',
  queryToken: 'qt-QUERY-0c5a88',
  customParam: 'pin-CUSTOM-71e3aa',
  clientSecret: 'cs-IDP-3c8d61',
} as const;
const SECRETS = Object.values(S);

// Each event of the client: a new event without an entry here fails the type check, so it cannot go untested.
const CLIENT_EVENTS = {
  request: true,
  attempt: true,
  response: true,
  retry: true,
  breaker: true,
  rateLimit: true,
  error: true,
  token: true,
  storeError: true,
  bulkhead: true,
  retryBudgetExhausted: true,
} as const satisfies Record<keyof ClientEvents, true>;
const EVENT_NAMES = Object.keys(CLIENT_EVENTS) as (keyof ClientEvents)[];

function leaked(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

let server: TestServer;
let flaky = 0;
beforeAll(async () => {
  // An upstream that echoes what it received: headers and the URL with its query, as some do in errors.
  server = await startServer((req, res) => {
    const echo = `auth=${req.headers.authorization} key=${req.headers['x-api-key']} sig=${req.headers['x-sig']} url=${req.url}`;
    const path = (req.url ?? '').split('?')[0];
    if (path === '/flaky') {
      res.statusCode = flaky++ % 2 === 0 ? 503 : 200;
      res.end(echo);
    } else if (path === '/echo-fail') {
      res.statusCode = 400;
      res.setHeader('content-type', 'text/plain');
      res.setHeader('x-echo', String(req.headers.authorization));
      res.end(echo);
    } else if (path === '/problem') {
      res.statusCode = 422;
      res.setHeader('content-type', 'application/problem+json');
      res.end(
        JSON.stringify({
          title: 'Rejected',
          detail: `you sent ${req.headers.authorization}`,
          errors: { client_secret: 'server-side-secret-1', seen: { 'x-api-key': req.headers['x-api-key'] } },
        }),
      );
    } else if (path === '/bad-json') {
      res.setHeader('content-type', 'application/json');
      res.end(`${req.headers.authorization} is not JSON`);
    } else {
      res.statusCode = 500;
      res.end(echo);
    }
  });
});
afterAll(() => server.close());

function makeClient() {
  return createClient({
    baseUrl: server.url,
    redact: { headers: ['x-sig'], params: ['pin'] },
    policies: [
      retry({ retries: 1, baseDelay: 1, maxDelay: 2 }),
      circuitBreaker({ consecutiveFailures: 3, keyBy: 'route' }),
      rateLimit({ limit: 1000, window: 1000 }),
      bearerAuth(new Secret(S.bearer)),
      headerAuth('x-api-key', new Secret(S.headerKey)),
      apiKeyAuth({ query: 'api_key', key: new Secret(S.queryKey) }),
    ],
  });
}

const secretCall = {
  json: { user: 'ann', password: S.password, nested: { client_secret: S.nested, list: [{ token: S.deep }] } },
  query: { access_token: S.queryToken, page: 1, pin: S.customParam },
  headers: { 'x-sig': S.customHeader },
  idempotent: true,
} as const;

// A token store whose server is down: every operation fails, so the client's `storeError` event fires.
const deadStore: TokenStore = {
  name: 'dead',
  get: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
  set: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
  delete: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
  acquireLease: () =>
    Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
  close: () => Promise.resolve(),
};

/**
 * Token auth against the sandbox IdP through a dead store: a fetch, a cache hit, a revoked token's 401 and its
 * replacement make the `token` and `storeError` events fire, with the access tokens among the secrets.
 */
async function exerciseTokens(on: (api: ReturnType<typeof createClient>) => void): Promise<string[]> {
  const idp = await startOAuthServer({ clients: { 'leak-app': S.clientSecret } });
  const manager = new TokenManager({
    provider: clientCredentials({
      tokenUrl: idp.tokenUrl,
      clientId: 'leak-app',
      clientSecret: new Secret(S.clientSecret),
    }),
    store: deadStore,
  });
  const api = createClient({ baseUrl: `${idp.url}/api`, policies: [tokenAuth(manager)] });
  on(api);
  const tokens: string[] = [];
  try {
    await api.get('/me');
    await api.get('/me');
    const first = await manager.getToken();
    tokens.push(first.value.reveal());
    idp.revoke(first.value.reveal());
    await api.get('/me');
    tokens.push((await manager.getToken()).value.reveal());
  } finally {
    await api.close();
    await manager.close();
    await idp.close();
  }
  return tokens;
}

/** Runs calls that make every client event fire, with secrets in bodies, queries, forms and headers. */
async function exercise(api: ReturnType<typeof makeClient>): Promise<unknown[]> {
  const errors: unknown[] = [];
  const keep = (e: unknown) => {
    errors.push(e);
  };
  await api.post('/flaky', secretCall);
  await api
    .post('/echo-fail', { ...secretCall, json: undefined, form: { grant_type: 'x', client_secret: S.form } })
    .catch(keep);
  await api.get('/problem', { query: secretCall.query, headers: secretCall.headers }).catch(keep);
  await api.get('/bad-json', { query: secretCall.query }).json().catch(keep);
  for (let i = 0; i < 3; i++) await api.put('/down', secretCall).catch(keep);
  return errors;
}

describe('nothing a listener, a log line or an error prints carries a secret', () => {
  it('prints every client event payload redacted through util.inspect and JSON.stringify', async () => {
    const api = makeClient();
    const seen = new Map<string, number>();
    const printed: string[] = [];
    for (const name of EVENT_NAMES) {
      api.on(name, (payload) => {
        seen.set(name, (seen.get(name) ?? 0) + 1);
        printed.push(
          `${name} ${inspect(payload, { depth: Number.POSITIVE_INFINITY })}`,
          `${name} ${inspect(payload, { depth: Number.POSITIVE_INFINITY, showHidden: true })}`,
          `${name} ${JSON.stringify(payload)}`,
        );
        if ('request' in payload) printed.push(payload.request.toCurl());
      });
    }
    const errors = await exercise(api);
    await api.close();
    // The bulkhead event: two calls through one slot, the second waits.
    const queuedApi = createClient({ baseUrl: server.url, bulkhead: { maxConcurrent: 1, queueSize: 4 } });
    queuedApi.on('bulkhead', (payload) => {
      seen.set('bulkhead', (seen.get('bulkhead') ?? 0) + 1);
      printed.push(
        `bulkhead ${inspect(payload, { showHidden: true })}`,
        `bulkhead ${JSON.stringify(payload)}`,
      );
    });
    await Promise.all([
      queuedApi.get('/flaky').catch(() => undefined),
      queuedApi.get('/flaky').catch(() => undefined),
    ]);
    await queuedApi.close();
    // The retry budget's refusal: a budget with no room at all, and a secret-laden call that fails.
    const budgetApi = createClient({
      baseUrl: server.url,
      redact: { headers: ['x-sig'], params: ['pin'] },
      policies: [
        retry({ retries: 2, baseDelay: 1, budget: { ratio: 0, minRetries: 0 } }),
        bearerAuth(new Secret(S.bearer)),
      ],
    });
    budgetApi.on('retryBudgetExhausted', (payload) => {
      seen.set('retryBudgetExhausted', (seen.get('retryBudgetExhausted') ?? 0) + 1);
      printed.push(
        `retryBudgetExhausted ${inspect(payload, { depth: Number.POSITIVE_INFINITY, showHidden: true })}`,
        `retryBudgetExhausted ${JSON.stringify(payload)}`,
        payload.request.toCurl(),
      );
    });
    await budgetApi.put('/down', secretCall).catch(() => undefined);
    await budgetApi.close();
    const tokens = await exerciseTokens((tokenApi) => {
      for (const name of ['token', 'storeError'] as const) {
        tokenApi.on(name, (payload) => {
          seen.set(name, (seen.get(name) ?? 0) + 1);
          printed.push(
            `${name} ${inspect(payload, { depth: Number.POSITIVE_INFINITY, showHidden: true })}`,
            `${name} ${JSON.stringify(payload)}`,
          );
        });
      }
    });
    expect(new Set(tokens).size).toBe(2);
    for (const line of printed)
      for (const t of tokens) expect(line.includes(t), line.slice(0, 300)).toBe(false);

    // Every event really fired, so every payload kind was printed.
    expect(Object.fromEntries(EVENT_NAMES.map((n) => [n, (seen.get(n) ?? 0) > 0]))).toEqual(CLIENT_EVENTS);
    expect(errors).toHaveLength(6);
    for (const line of printed) expect(leaked(line), line.slice(0, 300)).toEqual([]);
    const all = printed.join('\n');
    // The payloads still say something: the call context's attempt and tags, the redacted request and body.
    expect(all).toContain('CallContext {');
    expect(all).toContain('"ctx":{"attempt":');
    expect(all).toContain('"route":"/flaky"');
    expect(all).toContain('password":"[REDACTED]');
    expect(all).toContain('"status":200');
  });

  it('keeps the credentials this client sent out of error excerpts, problems, headers and causes', async () => {
    const api = makeClient();
    const errors = await exercise(api);
    await api.close();
    for (const error of errors) {
      const shown = [
        inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
        JSON.stringify(error),
        String(error),
        (error as Error).message,
        (error as { request?: { toCurl(): string } }).request?.toCurl() ?? '',
      ].join('\n');
      expect(leaked(shown), shown.slice(0, 600)).toEqual([]);
    }
    const echoed = errors.find((e) => isHttpError(e) && e.status === 400);
    if (!isHttpError(echoed)) throw new Error('no 400 error');
    // The excerpt is kept, only the values are replaced (both `Bearer x` as a whole and a bare key).
    expect(echoed.bodyExcerpt).toMatch(
      /^auth=\[REDACTED\] key=\[REDACTED\] sig=\[REDACTED\] url=\/echo-fail\?/,
    );
    expect(echoed.bodyExcerpt).toContain('page=1');
    expect(echoed.headers['x-echo']).toBe('[REDACTED]');
    const problem = errors.find((e) => isHttpError(e) && e.status === 422);
    if (!isHttpError(problem)) throw new Error('no 422 error');
    expect(problem.problem).toEqual({
      title: 'Rejected',
      detail: 'you sent [REDACTED]',
      errors: { client_secret: '[REDACTED]', seen: { 'x-api-key': '[REDACTED]' } },
    });
    expect(problem.message).toContain('Rejected (you sent [REDACTED])');
    const parse = errors.find(isParseError);
    expect(parse?.bodyExcerpt).toBe('[REDACTED] is not JSON');
  });

  it('writes no secret to log lines, through pino and the built-in JSON logger', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const api = makeClient();
    logClientEvents(api, pino({ level: 'debug' }, stream), { logResponses: true });
    logClientEvents(
      api,
      createJsonLogger({ level: 'debug', stream: { write: (l: string) => lines.push(l) } }),
    );
    await exercise(api);
    await api.close();
    const text = lines.join('');
    expect(leaked(text)).toEqual([]);
    for (const msg of ['request completed', 'request failed', 'retrying', 'circuit breaker changed state']) {
      expect(text).toContain(msg);
    }
    expect(text).toContain('auth=[REDACTED]');
  });
});
