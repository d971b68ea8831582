// Hostile callers against a real gateway's status page on loopback: login CSRF from another site, forged,
// replayed and logged-out cookies, CSRF tokens of other sessions, session-table flooding, CSP on every
// operations answer (errors included), forced-refresh hammering, hostile upstream names, and secrets in the
// debug and access logs.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { createGatewayLogger } from '../../src/gateway/logger.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';
import { raw } from './helpers.js';
import { login as loginWith, post, send } from './ops-client.js';

const hex = (n: number) => randomBytes(n).toString('hex');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const API_KEY = `ik_${hex(16)}`;
const CLIENT_SECRET = `cs_${hex(16)}`;
const CLIENT_ID = `atk_${hex(4)}`;
const SESSIONS_MAX = 4;

const login = (url: string, headers: Record<string, string> = {}) => loginWith(url, API_KEY, headers);

describe('operations under attack', () => {
  let idp: OAuthServer;
  let sandbox: SandboxUpstream;
  let gateway: Gateway;
  let url: string;
  const lines: string[] = [];

  beforeAll(async () => {
    idp = await startOAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
    sandbox = await startSandboxUpstream({ seed: 16 });
    const config = parseGatewayConfig({
      metrics: { defaultMetrics: false },
      logging: { level: 'debug', access: true },
      inbound: { apiKeys: [{ name: 'ops', sha256: sha256(API_KEY) }] },
      status: { session: { max: SESSIONS_MAX } },
      upstreams: {
        pets: {
          baseUrl: `${sandbox.url}/api`,
          retry: false,
          circuitBreaker: { consecutiveFailures: 3, openDuration: '60s' },
          auth: { type: 'oauth2', tokenUrl: idp.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        },
        // Retried (a PUT is idempotent), so small bodies are buffered and the debug line shows their first bytes.
        files: { baseUrl: `${sandbox.url}/api` },
      },
    });
    const logger = createGatewayLogger({
      level: 'debug',
      stream: { write: (line: string) => lines.push(line) },
    });
    gateway = await startGateway({ config, port: 0, logger });
    url = gateway.url;
  });
  afterAll(async () => {
    await gateway?.close({ grace: 0 });
    await Promise.all([sandbox?.close(), idp?.close()]);
  });

  it('holds: twenty concurrent forced refreshes make one IdP fetch', async () => {
    const s = await login(url);
    const before = idp.stats().grants.client_credentials ?? 0;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        post(
          `${url}/status/actions/refresh-token`,
          { upstream: 'pets', csrf: s.csrf },
          { cookie: s.cookie, accept: 'application/json' },
        ),
      ),
    );
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThanOrEqual(17);
    expect((idp.stats().grants.client_credentials ?? 0) - before).toBe(1);
  });

  it('refuses a login another site makes a browser post (login CSRF): no session is created', async () => {
    const attempts: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { 'sec-fetch-site': 'same-site', origin: 'http://evil.localhost' },
      { origin: 'https://evil.example' },
      { origin: 'null' },
    ];
    for (const headers of attempts) {
      const res = await post(`${url}/status/login`, { key: API_KEY }, headers);
      expect(res.status).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(JSON.parse(res.text).type).toBe('urn:reqforge:problem:cross-site');
      expect(res.text).not.toContain(API_KEY);
    }
    // The page's own form (same origin), a typed request and a program without these headers still log in.
    const host = new URL(url).host;
    expect((await post(`${url}/status/login`, { key: API_KEY }, { origin: `http://${host}` })).status).toBe(
      303,
    );
    expect(
      (await post(`${url}/status/login`, { key: API_KEY }, { 'sec-fetch-site': 'same-origin' })).status,
    ).toBe(303);
    expect((await post(`${url}/status/login`, { key: API_KEY })).status).toBe(303);
  });

  it('refuses an admin POST from another site even with the right cookie and CSRF token', async () => {
    const s = await login(url);
    const res = await post(
      `${url}/status/actions/refresh-token`,
      { upstream: 'pets', csrf: s.csrf },
      { cookie: s.cookie, 'sec-fetch-site': 'cross-site' },
    );
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).type).toBe('urn:reqforge:problem:cross-site');
  });

  it('puts the operations CSP on every operations error', async () => {
    const s = await login(url);
    const errors = [
      await send(`${url}/status.json`),
      await send(`${url}/metrics`),
      await post(`${url}/status/actions/reset-breaker`, { upstream: 'pets' }, { cookie: s.cookie }),
      await post(
        `${url}/status/actions/reset-breaker`,
        { upstream: 'nope', csrf: s.csrf },
        { cookie: s.cookie },
      ),
      await send(`${url}/status/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `key=${'x'.repeat(9000)}`,
      }),
      await post(`${url}/status/login`, { key: API_KEY }, { 'sec-fetch-site': 'cross-site' }),
    ];
    expect(errors.map((e) => e.status)).toEqual([401, 401, 403, 404, 415, 403]);
    for (const e of errors) {
      expect(e.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(e.headers['x-frame-options']).toBe('DENY');
    }
  });

  it("holds: forged, logged-out and other sessions' tokens get nothing; flooding keeps the table bounded", async () => {
    const forged = await send(`${url}/status.json`, {
      headers: { cookie: `reqforge_ops=${'A'.repeat(43)}` },
    });
    expect(forged.status).toBe(401);
    const a = await login(url);
    const b = await login(url);
    const foreign = await post(
      `${url}/status/actions/reset-breaker`,
      { upstream: 'pets', target: 'x', csrf: b.csrf },
      { cookie: a.cookie },
    );
    expect(foreign.status).toBe(403);
    // A GET (with a method override header) never runs an action: it is not an operations route.
    const get = await send(`${url}/status/actions/refresh-token?upstream=pets&csrf=${b.csrf}`, {
      headers: { cookie: b.cookie, 'x-http-method-override': 'POST' },
    });
    expect(get.status).toBe(401);
    expect((await post(`${url}/status/logout`, { csrf: a.csrf }, { cookie: a.cookie })).status).toBe(303);
    expect((await send(`${url}/status.json`, { headers: { cookie: a.cookie } })).status).toBe(401);
    for (let i = 0; i < 5 * SESSIONS_MAX; i++) await post(`${url}/status/login`, { key: API_KEY });
    // The oldest sessions are evicted, but a new login always works.
    const again = await login(url);
    expect((await send(`${url}/status.json`, { headers: { cookie: again.cookie } })).status).toBe(200);
  });

  it('holds: secrets in headers, query strings and JSON bodies stay out of the access and debug logs', async () => {
    await send(`${url}/pets/pets?api_key=QSECRET123&x=1`, {
      headers: { 'x-api-key': API_KEY, cookie: 'sid=COOKIESECRET', authorization: 'Bearer AUTHSECRET' },
    });
    await send(`${url}/pets/pets`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'PWSECRET1', token: 'TOKSECRET1' }),
    });
    const joined = lines.join('\n');
    expect(joined).toContain('"msg":"request"');
    expect(joined).toContain('"msg":"upstream request"');
    for (const secret of [
      'QSECRET123',
      'COOKIESECRET',
      'AUTHSECRET',
      'PWSECRET1',
      'TOKSECRET1',
      API_KEY,
      CLIENT_SECRET,
    ]) {
      expect(joined).not.toContain(secret);
    }
  });

  it('redacts a secret JSON value the debug excerpt cuts in the middle (a space in it included)', async () => {
    // The debug line shows the first 4096 bytes: pad so that the cut falls inside the password's value.
    const head = '{"a":"';
    const field = '","password":"';
    const pad = 'p'.repeat(4096 - head.length - field.length - 'TRUNC QXZLE'.length);
    const body = `${head}${pad}${field}TRUNC QXZLEAKZZZ"}`;
    const res = await send(`${url}/files/pets`, {
      method: 'PUT',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBeLessThan(500);
    const line = lines.find((l) => l.includes('"upstream request"') && l.includes('"bodyTruncated":true'));
    expect(line).toBeDefined();
    expect(line).toContain('\\"password\\":\\"[REDACTED]\\"');
    expect(line).not.toContain('QXZL');
    expect(line).not.toContain('TRUNC');
  });
});

describe('a slow login body', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    const config = parseGatewayConfig({
      metrics: { defaultMetrics: false },
      limits: { headersTimeout: '400ms' },
      inbound: { apiKeys: [{ name: 'ops', sha256: sha256(API_KEY) }] },
      upstreams: { pets: { baseUrl: 'http://127.0.0.1:9/api' } },
    });
    gateway = await startGateway({ config, port: 0 });
  });
  afterAll(async () => {
    await gateway?.close({ grace: 0 });
  });

  it('is answered 408 and its connection closed after limits.headersTimeout, not limits.requestTimeout', async () => {
    const started = Date.now();
    const host = new URL(gateway.url).host;
    const answer = await raw(
      gateway.url,
      `POST /status/login HTTP/1.1\r\nHost: ${host}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\nkey=ik_`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('urn:reqforge:problem:request-timeout');
    // raw() gives up after 3 s; the answer and the close came well before.
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
