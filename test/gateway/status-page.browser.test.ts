// Issues 6 and 15: the gateway status page in a real browser. A sandbox OAuth2 server and sandbox upstreams sit
// behind a gateway with an OAuth2 upstream, a static-bearer upstream, an API-key upstream and a "chaos" upstream
// whose breaker upstream 500s open. Debian's headless Chromium (driven by playwright-core) logs in through the form,
// watches the numbers change without a reload, resets the open breaker and forces a token refresh with the page's
// buttons, is refused a POST without the CSRF token, saves screenshots at 1280 px and 390 px (no horizontal scroll
// on the phone), and no secret (client secret, issued tokens, API keys, static bearer token) reaches the page,
// /status.json, /metrics or the gateway's logs.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { createJsonLogger, logClientEvents } from '../../src/observability/logging.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';
import { withSystemTool } from '../helpers/system-tool.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = join(root, 'test-artifacts');

const hex = (n: number) => randomBytes(n).toString('hex');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Secrets that must never be shown. Distinctive prefixes make a leak easy to spot in a failure message. */
const secrets = {
  clientSecret: `cs_${hex(16)}`,
  inboundApiKey: `ik_${hex(16)}`,
  upstreamApiKey: `uk_${hex(16)}`,
  staticBearer: `bt_${hex(16)}`,
  queryApiKey: `qk_${hex(16)}`,
};
const clientId = `status_${hex(4)}`;

/** The browser globals the page functions use (tsconfig has no DOM lib). */
interface BrowserGlobals {
  getComputedStyle(element: unknown): { backgroundColor: string };
  document: { documentElement: { scrollWidth: number }; body: { dataset: Record<string, string> } };
  fetch(url: string, init: unknown): Promise<{ status: number; json(): Promise<{ type: string }> }>;
  reqforgeMarker?: number;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

function body(): void {
  let idp: OAuthServer;
  let sandbox: SandboxUpstream;
  let chaos: SandboxUpstream;
  let gateway: Gateway;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  const logLines: string[] = [];
  const auth = { 'x-api-key': secrets.inboundApiKey };

  beforeAll(async () => {
    idp = await startOAuthServer({ clients: { [clientId]: secrets.clientSecret } });
    sandbox = await startSandboxUpstream({ seed: 6 });
    // Every /api request fails with 500: the chaos upstream's breaker opens after three in a row.
    chaos = await startSandboxUpstream({ seed: 7, faults: { errorRate: 1, status: 500 } });
    const config = parseGatewayConfig(
      {
        metrics: { defaultMetrics: false },
        // The page polls every second (it never reloads itself).
        status: { refresh: '1s' },
        inbound: { apiKeys: [{ name: 'tests', sha256: sha256(secrets.inboundApiKey) }] },
        upstreams: {
          pets: {
            baseUrl: `${sandbox.url}/api`,
            retry: false,
            timeout: { attempt: '500ms', total: '1s' },
            rateLimit: { limit: 100, window: '1s' },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: the secret comes in through ${ENV}.
            auth: { type: 'oauth2', tokenUrl: idp.tokenUrl, clientId, clientSecret: '${CLIENT_SECRET}' },
          },
          bearer: {
            baseUrl: `${sandbox.url}/api`,
            retry: false,
            auth: { type: 'bearer', token: secrets.staticBearer },
          },
          keyed: {
            baseUrl: `${sandbox.url}/api`,
            retry: false,
            timeout: { attempt: '300ms', total: '600ms' },
            auth: { type: 'header', name: 'x-upstream-key', value: secrets.upstreamApiKey },
          },
          chaos: {
            baseUrl: `${chaos.url}/api`,
            retry: false,
            circuitBreaker: { consecutiveFailures: 3, openDuration: '60s' },
          },
        },
      },
      { env: { CLIENT_SECRET: secrets.clientSecret } },
    );
    const logger = createJsonLogger({
      level: 'debug',
      base: { service: 'reqforge-gateway' },
      stream: { write: (line: string) => logLines.push(line) },
    });
    gateway = await startGateway({ config, port: 0, logger });
    // What an operator running with debug logs would see: every upstream client's events as well.
    for (const upstream of gateway.upstreams.values()) {
      logClientEvents(upstream.client, logger, { logResponses: true });
    }

    // Traffic: successes, pass-through failures, timeouts that get logged, and an open breaker.
    const calls = await Promise.all([
      ...Array.from({ length: 5 }, () => get(`${gateway.url}/pets/pets?limit=2`, auth)),
      get(`${gateway.url}/pets/pets/999`, auth),
      get(`${gateway.url}/pets/headers?latency=1500&api_key=${secrets.queryApiKey}`, auth),
      get(`${gateway.url}/bearer/headers`, auth),
      get(`${gateway.url}/keyed/headers`, auth),
      get(`${gateway.url}/keyed/headers?latency=1000&access_token=${secrets.queryApiKey}`, auth),
      get(`${gateway.url}/pets/pets`),
    ]);
    expect(calls.map((c) => c.status)).toEqual([200, 200, 200, 200, 200, 404, 504, 200, 200, 504, 401]);
    // The upstreams did get their credentials (so the leak checks below look for values really in use).
    expect(JSON.parse(calls[7]!.text).headers.authorization).toBe(`Bearer ${secrets.staticBearer}`);
    expect(JSON.parse(calls[8]!.text).headers['x-upstream-key']).toBe(secrets.upstreamApiKey);
    for (let i = 0; i < 3; i++) {
      expect((await get(`${gateway.url}/chaos/pets?api_key=${secrets.queryApiKey}`, auth)).status).toBe(500);
    }
    const refused = await get(`${gateway.url}/chaos/pets?api_key=${secrets.queryApiKey}`, auth);
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.text).type).toBe('urn:reqforge:problem:circuit-open');
    expect(chaos.stats().requests).toBe(3);

    // playwright-core launches Chromium on a fresh temporary profile, removed when the browser closes.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  }, 30_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await gateway?.close({ grace: 0 });
    await Promise.all([sandbox?.close(), chaos?.close(), idp?.close()]);
  });

  it('logs in, updates live, resets the open breaker, refreshes the token, and shows no secret', async () => {
    if (!context) throw new Error(`${CHROMIUM} is missing`);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/favicon/i.test(message.location().url)) {
        problems.push(`console: ${message.text()}`);
      }
    });

    // With inbound keys, operations are protected (inbound.protectOperations): a browser gets the login form.
    const refused = await page.goto(`${gateway.url}/status`, { waitUntil: 'load' });
    expect(refused?.status()).toBe(401);
    problems.length = 0; // the browser logs that 401 as a console error; what follows must log none
    await page.getByLabel('API key').fill(secrets.inboundApiKey);
    await Promise.all([
      page.waitForURL(`${gateway.url}/status`),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    const cookies = await context.cookies(`${gateway.url}/status`);
    // Scoped to the status page: requests through the gateway to an upstream never carry it.
    expect(await context.cookies(`${gateway.url}/pets/pets`)).toEqual([]);
    expect(cookies).toEqual([
      expect.objectContaining({
        name: 'reqforge_ops',
        path: '/status',
        httpOnly: true,
        sameSite: 'Strict',
        secure: false,
      }),
    ]);
    expect(cookies[0]!.value).not.toContain(secrets.inboundApiKey);
    expect(await page.title()).toBe('reqforge gateway status');
    expect(await page.locator('#summary').textContent()).toMatch(/^Ready · up \d+s · updated /);

    const rows = page.locator('tbody tr[data-upstream]');
    expect(await rows.locator('th[scope="row"] .name').allTextContents()).toEqual([
      'pets',
      'bearer',
      'keyed',
      'chaos',
    ]);
    const headers = await page.locator('thead th').allTextContents();
    expect(headers).toEqual([
      'upstream',
      'req/s',
      'latency',
      'errors',
      'retries',
      'breaker',
      'limiter',
      'bulkhead',
      'token',
    ]);
    const row = (name: string) => page.locator(`tr[data-upstream="${name}"]`);
    const cell = (name: string, label: string) => row(name).locator(`td[data-label="${label}"]`);

    // The chaos upstream: 3 upstream 500s (counted as 5xx), then the open breaker refused the 4th call.
    const chaosBreaker = cell('chaos', 'breaker').locator('.breaker');
    expect(await chaosBreaker.locator('.state').textContent()).toBe('open');
    expect(await chaosBreaker.locator('code').textContent()).toBe(new URL(chaos.url).host);
    expect(await chaosBreaker.textContent()).toMatch(/half-open in \d+s/);
    const background = await chaosBreaker
      .locator('.state')
      .evaluate((el) => (globalThis as unknown as BrowserGlobals).getComputedStyle(el).backgroundColor);
    expect(background).toBe('rgb(249, 214, 213)');
    const errorCount = (name: string, cls: string) =>
      cell(name, 'errors').locator(`[data-class="${cls}"]`).getAttribute('data-count');
    expect(await errorCount('chaos', 'serverError')).toBe('3');
    expect(await errorCount('chaos', 'refused')).toBe('1');
    expect(await cell('chaos', 'errors').locator('[data-field="errors"]').textContent()).toBe('100.0 %');
    // pets: a 404 passed through, one timeout; keyed: one timeout.
    expect(await errorCount('pets', 'clientError')).toBe('1');
    expect(await errorCount('pets', 'network')).toBe('1');
    expect(await errorCount('keyed', 'network')).toBe('1');
    expect(await cell('pets', 'latency').locator('[data-field="p99"]').textContent()).toMatch(/^\d+ ms$/);
    expect(await cell('pets', 'limiter').locator('[data-field="queue"]').textContent()).toBe('0');
    expect(await cell('pets', 'bulkhead').textContent()).toMatch(/^0 \/ 256/);
    expect(await cell('pets', 'token').locator('.token').textContent()).toMatch(
      /^valid expires in \d+m \d+s$/,
    );
    expect(await cell('chaos', 'token').textContent()).toBe('–');

    // Live: traffic after the page loaded shows up without a reload.
    await page.evaluate(() => {
      (globalThis as unknown as BrowserGlobals).reqforgeMarker = 15;
    });
    const total = () => cell('bearer', 'req/s').locator('.small').textContent();
    expect(await total()).toMatch(/^1 total/);
    for (let i = 0; i < 6; i++) expect((await get(`${gateway.url}/bearer/headers`, auth)).status).toBe(200);
    await page.waitForFunction(
      () =>
        /^7 total/.test(
          String(
            (
              globalThis as unknown as { document: { querySelector(s: string): { textContent: string } } }
            ).document.querySelector('tr[data-upstream="bearer"] td[data-label="req/s"] .small')?.textContent,
          ),
        ),
      undefined,
      { timeout: 5_000 },
    );
    expect(await cell('bearer', 'req/s').locator('[data-field="rps"]').textContent()).toMatch(/^\d+\.\d\/s$/);
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).reqforgeMarker)).toBe(15);

    // A POST without the CSRF token is refused, even with the session cookie.
    const forged = await page.evaluate(async (upstream) => {
      const res = await (globalThis as unknown as BrowserGlobals).fetch('/status/actions/reset-breaker', {
        method: 'POST',
        body: new (globalThis as unknown as { URLSearchParams: new (x: unknown) => unknown }).URLSearchParams(
          { upstream, target: 'x' },
        ),
        headers: { accept: 'application/json' },
      });
      return { status: res.status, type: (await res.json()).type };
    }, 'chaos');
    expect(forged).toEqual({ status: 403, type: 'urn:reqforge:problem:csrf' });

    // Screenshots with the open breaker: 1280 px, and 390 px with no horizontal page scroll.
    await mkdir(ARTIFACTS, { recursive: true });
    const wide = await page.screenshot({ path: join(ARTIFACTS, 'status-page-1280.png'), fullPage: true });
    expect(wide.subarray(1, 4).toString('latin1')).toBe('PNG');
    await page.setViewportSize({ width: 390, height: 844 });
    const scrollWidth = await page.evaluate(
      () => (globalThis as unknown as BrowserGlobals).document.documentElement.scrollWidth,
    );
    expect(scrollWidth).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-390.png'), fullPage: true });
    expect(existsSync(join(ARTIFACTS, 'status-page-390.png'))).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });

    // Reset the breaker with its button: the upstream is healthy again, and the next call reaches it.
    chaos.setFaults({});
    await chaosBreaker.getByRole('button', { name: 'Reset breaker' }).click();
    await expect
      .poll(() => page.locator('#notice').textContent())
      .toMatch(/^Breaker of "chaos" for .* reset \(was open\)$/);
    await expect.poll(() => cell('chaos', 'breaker').locator('.state').textContent()).toBe('closed');
    const reached = chaos.stats().requests;
    expect((await get(`${gateway.url}/chaos/pets`, auth)).status).toBe(200);
    expect(chaos.stats().requests).toBe(reached + 1);

    // Force a token refresh: one more token from the IdP; a second click within the interval fetches none.
    const issuedBefore = idp.stats().tokensIssued[clientId];
    await cell('pets', 'token').getByRole('button', { name: 'Refresh token' }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toBe('Token of "pets" refreshed');
    expect(idp.stats().tokensIssued[clientId]).toBe(issuedBefore! + 1);
    await expect
      .poll(() => cell('pets', 'token').getByRole('button', { name: 'Refresh token' }).isEnabled())
      .toBe(true);
    await cell('pets', 'token').getByRole('button', { name: 'Refresh token' }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toMatch(/try again in \d+ s$/);
    expect(idp.stats().tokensIssued[clientId]).toBe(issuedBefore! + 1);

    // No secret in what the browser got, in what it rendered, in /status.json, /metrics, or the logs.
    const html = await page.content();
    const rendered = await page.locator('body').innerText();
    const statusJson = (await get(`${gateway.url}/status.json`, auth)).text;
    const liveJson = await page.evaluate(async () => {
      const res = await (globalThis as unknown as BrowserGlobals).fetch('/status/json', {});
      return JSON.stringify(await res.json());
    });
    expect(JSON.parse(statusJson)).toHaveProperty('upstreams');
    const metrics = await get(`${gateway.url}/metrics`, auth);
    expect(metrics.status).toBe(200);
    const logs = logLines.join('');
    const issued = idp.issuedSecrets();
    expect(issued).toHaveLength(2);
    const all = [...Object.values(secrets), ...issued];
    const where = { html, rendered, statusJson, liveJson, metrics: metrics.text, logs };
    const leaks = Object.entries(where).flatMap(([place, text]) =>
      all.filter((secret) => text.includes(secret)).map((secret) => `${place}: ${secret.slice(0, 3)}…`),
    );
    expect(leaks).toEqual([]);

    // The checks above looked at real material.
    expect(html).toContain('data-upstream="chaos"');
    expect(metrics.text).toMatch(/http_server_request_duration_seconds_count\{[^}]*route="chaos"/);
    const parsed = logLines.map((line) => JSON.parse(line) as { msg?: string; upstream?: string });
    expect(parsed.filter((l) => l.msg === 'upstream call failed').map((l) => l.upstream)).toEqual(
      expect.arrayContaining(['pets', 'keyed']),
    );
    expect(parsed.some((l) => l.msg === 'circuit breaker reset')).toBe(true);
    expect(parsed.some((l) => l.msg === 'token refresh forced')).toBe(true);
    expect(logs).toContain('[REDACTED]');

    // Logging out ends the session: the page asks for the key again.
    await Promise.all([
      page.waitForURL(`${gateway.url}/status`),
      page.getByRole('button', { name: 'Log out' }).click(),
    ]);
    expect(await page.locator('form.login').count()).toBe(1);
    problems.length = 0; // that 401 again
    expect(problems).toEqual([]);
    await page.close();
  });
}

describe('gateway status page in headless Chromium', () => {
  withSystemTool(CHROMIUM, 'chromium', body);
});
