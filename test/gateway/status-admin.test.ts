// The status page over plain HTTP: the login cookie's attributes, CSRF and key checks on admin POSTs, the breaker
// reset and the forced token refresh (at most one extra IdP fetch), the failed-login throttle, and the exact counts
// per outcome class in /status.json after a known sequence of upstream answers.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';
import { login as loginWith, post, send } from './ops-client.js';

const hex = (n: number) => randomBytes(n).toString('hex');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const API_KEY = `ik_${hex(16)}`;
const CLIENT_SECRET = `cs_${hex(16)}`;
const CLIENT_ID = `admin_${hex(4)}`;

const login = (url: string, headers: Record<string, string> = {}) => loginWith(url, API_KEY, headers);

describe('status page admin over HTTP', () => {
  let idp: OAuthServer;
  let sandbox: SandboxUpstream;
  let gateway: Gateway;
  let host: string;

  beforeAll(async () => {
    idp = await startOAuthServer({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
    sandbox = await startSandboxUpstream({ seed: 15 });
    host = new URL(sandbox.url).host;
    const config = parseGatewayConfig({
      metrics: { defaultMetrics: false },
      inbound: { apiKeys: [{ name: 'ops', sha256: sha256(API_KEY) }] },
      upstreams: {
        pets: {
          baseUrl: `${sandbox.url}/api`,
          retry: false,
          circuitBreaker: { consecutiveFailures: 3, openDuration: '60s' },
          auth: { type: 'oauth2', tokenUrl: idp.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        },
        plain: {
          baseUrl: `${sandbox.url}/api`,
          retry: false,
          circuitBreaker: false,
          methods: ['GET'],
          timeout: { attempt: '300ms', total: '300ms' },
        },
        retrying: {
          baseUrl: `${sandbox.url}/api`,
          retry: { retries: 2, baseDelay: '1ms', maxDelay: '2ms' },
          circuitBreaker: false,
        },
      },
    });
    gateway = await startGateway({ config, port: 0 });
  });
  afterAll(async () => {
    await gateway?.close({ grace: 0 });
    await Promise.all([sandbox?.close(), idp?.close()]);
  });

  it('answers a browser without a session with the login form, under a nonce CSP', async () => {
    const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
    const res = await send(`${gateway.url}/status`, { headers: html });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('ApiKey header="x-api-key"');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('<form class="login" method="post" action="/status/login">');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]+'; style-src 'nonce-/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.text).not.toMatch(/\son[a-z]+=/i);
    // A program (not asking for HTML) gets the same 401 problem as on every other path.
    const program = await send(`${gateway.url}/status`);
    expect(program.status).toBe(401);
    expect(program.json().type).toBe('urn:reqforge:problem:unauthorized');
    // The JSON needs a key or a session.
    expect((await send(`${gateway.url}/status.json`)).status).toBe(401);
    expect((await send(`${gateway.url}/status/json`)).status).toBe(401);
  });

  it('login sets an HttpOnly, SameSite=Strict cookie scoped to /status, and the session reads the page', async () => {
    const { cookie, setCookie } = await login(gateway.url);
    expect(setCookie).toMatch(
      /^reqforge_ops=[A-Za-z0-9_-]{43}; Path=\/status; Max-Age=43200; HttpOnly; SameSite=Strict$/,
    );
    expect(setCookie).not.toContain(API_KEY);
    const json = await send(`${gateway.url}/status/json`, { headers: { cookie } });
    expect(json.status).toBe(200);
    expect(json.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(json.json().upstreams.map((u: { name: string }) => u.name)).toEqual(['pets', 'plain', 'retrying']);
    // A nonce per response.
    const a = await send(`${gateway.url}/status`, { headers: { cookie } });
    const b = await send(`${gateway.url}/status`, { headers: { cookie } });
    expect(a.headers['content-security-policy']).not.toBe(b.headers['content-security-policy']);
    // The cookie is worth nothing on the proxied paths: they still want the key.
    expect((await send(`${gateway.url}/pets/pets`, { headers: { cookie } })).status).toBe(401);
    // A made-up session id is no session.
    const forged = await send(`${gateway.url}/status/json`, {
      headers: { cookie: `reqforge_ops=${hex(32)}` },
    });
    expect(forged.status).toBe(401);
  });

  it('refuses an admin POST without a key or session (401) and a session POST without its CSRF token (403)', async () => {
    const anonymous = await post(`${gateway.url}/status/actions/reset-breaker`, {
      upstream: 'pets',
      target: host,
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json().type).toBe('urn:reqforge:problem:unauthorized');
    const { cookie, csrf } = await login(gateway.url);
    const form = { upstream: 'pets', target: host };
    const missing = await post(`${gateway.url}/status/actions/reset-breaker`, form, { cookie });
    expect(missing.status).toBe(403);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(missing.json().type).toBe('urn:reqforge:problem:csrf');
    const wrong = await post(
      `${gateway.url}/status/actions/reset-breaker`,
      { ...form, csrf: `${csrf.slice(1)}x` },
      {
        cookie,
      },
    );
    expect(wrong.status).toBe(403);
    // Another session's token is no good either: the token is bound to its session.
    const other = await login(gateway.url);
    const foreign = await post(
      `${gateway.url}/status/actions/reset-breaker`,
      { ...form, csrf: other.csrf },
      {
        cookie,
      },
    );
    expect(foreign.status).toBe(403);
  });

  it('resets a breaker the upstream opened: the next request reaches the upstream again', async () => {
    const key = { 'x-api-key': API_KEY };
    for (let i = 0; i < 3; i++) {
      expect((await send(`${gateway.url}/pets/pets?fault=500`, { headers: key })).status).toBe(500);
    }
    const refused = await send(`${gateway.url}/pets/pets`, { headers: key });
    expect(refused.json().type).toBe('urn:reqforge:problem:circuit-open');
    const before = (await send(`${gateway.url}/status.json`, { headers: key })).json();
    const row = before.upstreams.find((u: { name: string }) => u.name === 'pets');
    expect(row.state.circuitBreaker.breakers).toEqual([
      expect.objectContaining({ target: host, state: 'open' }),
    ]);
    expect(row.actions).toEqual(['reset-breaker', 'refresh-token']);

    const { cookie, csrf } = await login(gateway.url);
    const unknown = await post(
      `${gateway.url}/status/actions/reset-breaker`,
      { upstream: 'pets', target: 'elsewhere:1', csrf },
      { cookie, accept: 'application/json' },
    );
    expect(unknown.status).toBe(404);
    const reset = await post(
      `${gateway.url}/status/actions/reset-breaker`,
      { upstream: 'pets', target: host, csrf },
      { cookie, accept: 'application/json' },
    );
    expect(reset.status).toBe(200);
    expect(reset.json()).toEqual({
      ok: true,
      message: `Breaker of "pets" for ${host} reset (was open)`,
      upstream: 'pets',
      target: host,
      was: 'open',
    });
    const after = (await send(`${gateway.url}/status.json`, { headers: key })).json();
    expect(after.upstreams[0].state.circuitBreaker.breakers[0].state).toBe('closed');
    const reached = sandbox.stats().requests;
    expect((await send(`${gateway.url}/pets/pets`, { headers: key })).status).toBe(200);
    expect(sandbox.stats().requests).toBe(reached + 1);
    // Without JavaScript the form post comes back to the page.
    const plain = await post(
      `${gateway.url}/status/actions/reset-breaker`,
      { upstream: 'pets', target: host, csrf },
      {
        cookie,
      },
    );
    expect(plain.status).toBe(303);
    expect(plain.headers.location).toBe('/status');
  });

  it('forces a token refresh once; more within the minimum interval are refused and fetch nothing', async () => {
    const key = { 'x-api-key': API_KEY };
    expect((await send(`${gateway.url}/pets/pets`, { headers: key })).status).toBe(200);
    const issued = idp.stats().tokensIssued[CLIENT_ID]!;
    expect(issued).toBeGreaterThanOrEqual(1);
    // A program with the key in the header needs no CSRF token. Five at once: one refresh.
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        post(
          `${gateway.url}/status/actions/refresh-token`,
          { upstream: 'pets' },
          { ...key, accept: 'application/json' },
        ),
      ),
    );
    expect(idp.stats().tokensIssued[CLIENT_ID]).toBe(issued + 1);
    expect(answers.filter((a) => a.status === 200)).not.toHaveLength(0);
    const again = await post(`${gateway.url}/status/actions/refresh-token`, { upstream: 'pets' }, key);
    expect(again.status).toBe(429);
    expect(again.json().type).toBe('urn:reqforge:problem:refresh-too-soon');
    const wait = Number(again.headers['retry-after']);
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(30);
    expect(idp.stats().tokensIssued[CLIENT_ID]).toBe(issued + 1);
    const json = (await send(`${gateway.url}/status.json`, { headers: key })).text;
    for (const secret of [...idp.issuedSecrets(), CLIENT_SECRET, API_KEY]) expect(json).not.toContain(secret);
    const noToken = await post(`${gateway.url}/status/actions/refresh-token`, { upstream: 'plain' }, key);
    expect(noToken.status).toBe(409);
  });

  it('counts each upstream answer in its class: 404s and 500s are errors', async () => {
    const key = { 'x-api-key': API_KEY };
    const get = (path: string) => send(`${gateway.url}/plain${path}`, { headers: key });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await get('/pets')).status);
    for (let i = 0; i < 53; i++) statuses.push((await get('/pets/999')).status);
    for (let i = 0; i < 12; i++) statuses.push((await get('/pets?fault=500')).status);
    for (let i = 0; i < 2; i++) statuses.push((await get('/pets?latency=1000')).status);
    for (let i = 0; i < 3; i++) {
      statuses.push((await send(`${gateway.url}/plain/pets`, { method: 'DELETE', headers: key })).status);
    }
    expect(statuses.filter((s) => s === 404)).toHaveLength(53);
    expect(statuses.filter((s) => s === 504)).toHaveLength(2);
    expect(statuses.filter((s) => s === 405)).toHaveLength(3);
    expect((await send(`${gateway.url}/retrying/pets?fault=503`, { headers: key })).status).toBe(503);

    const doc = (await send(`${gateway.url}/status.json`, { headers: key })).json();
    const plain = doc.upstreams.find((u: { name: string }) => u.name === 'plain');
    const counts = {
      requests: 77,
      ok: 7,
      clientError: 53,
      serverError: 12,
      network: 2,
      refused: 3,
      aborted: 0,
      retries: 0,
    };
    expect(plain.live.window).toEqual(counts);
    expect(plain.live.totals).toEqual(counts);
    expect(plain.requests).toBe(74);
    expect(plain.errors).toBe(70);
    expect(plain.live.errorPercent).toEqual({
      clientError: 68.83,
      serverError: 15.58,
      network: 2.6,
      refused: 3.9,
    });
    expect(plain.live.requestsPerSecond).toBeGreaterThan(0);
    // The two timeouts are the slowest of 74 timed requests: p99 is one of them.
    expect(plain.live.latencyMs.p99).toBeGreaterThanOrEqual(280);
    expect(plain.live.latencyMs.p50).toBeLessThan(100);
    const retrying = doc.upstreams.find((u: { name: string }) => u.name === 'retrying');
    expect(retrying.live.window).toMatchObject({ requests: 1, serverError: 1, retries: 2 });
  });
});

describe('status page login: throttle and Secure cookie', () => {
  it('counts failed logins toward the failed-key throttle and sets Secure behind TLS (hsts)', async () => {
    const sandbox = await startSandboxUpstream({ seed: 16 });
    const config = parseGatewayConfig({
      metrics: { defaultMetrics: false },
      hsts: { maxAge: '4320h' },
      status: { session: { maxAge: '1h' } },
      inbound: {
        apiKeys: [{ name: 'ops', sha256: sha256(API_KEY) }],
        failedKeyLimit: { limit: 3, window: '60s' },
      },
      upstreams: { pets: { baseUrl: `${sandbox.url}/api` } },
    });
    const gateway = await startGateway({ config, port: 0 });
    try {
      const ok = await post(`${gateway.url}/status/login`, { key: API_KEY });
      expect(String(ok.headers['set-cookie'])).toMatch(
        /^reqforge_ops=[A-Za-z0-9_-]{43}; Path=\/status; Max-Age=3600; HttpOnly; SameSite=Strict; Secure$/,
      );
      const wrong = [];
      for (let i = 0; i < 4; i++) wrong.push(await post(`${gateway.url}/status/login`, { key: `nope-${i}` }));
      expect(wrong.map((w) => w.status)).toEqual([401, 401, 401, 429]);
      expect(wrong[3]!.headers['retry-after']).toMatch(/^\d+$/);
      expect(wrong[0]!.text).toContain('That key is not valid.');
      expect(wrong.every((w) => w.headers['set-cookie'] === undefined)).toBe(true);
      // The same throttle as a wrong key in the header; a right key is never refused.
      expect((await send(`${gateway.url}/pets/pets`, { headers: { 'x-api-key': 'nope' } })).status).toBe(429);
      expect((await post(`${gateway.url}/status/login`, { key: API_KEY })).status).toBe(303);

      // Logout ends the session and clears the cookie.
      const { cookie, csrf } = await login(gateway.url);
      const out = await post(`${gateway.url}/status/logout`, { csrf }, { cookie });
      expect(out.status).toBe(303);
      expect(String(out.headers['set-cookie'])).toMatch(/^reqforge_ops=; Path=\/status; Max-Age=0; HttpOnly/);
      expect((await send(`${gateway.url}/status/json`, { headers: { cookie } })).status).toBe(401);
    } finally {
      await gateway.close({ grace: 0 });
      await sandbox.close();
    }
  });
});
