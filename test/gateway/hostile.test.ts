// Hostile callers against a real gateway on loopback: each test reproduces one attack from issue 12 with raw
// requests and asserts the secure outcome (what the upstream saw, the breaker's state, the statuses).
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { MINIMAL_WIRING } from '../../src/gateway/wiring.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let upstream: TestServer | undefined;
let gateway: Gateway | undefined;
let seen: Seen[] = [];

afterEach(async () => {
  await gateway?.close({ grace: 50 });
  await upstream?.close();
  gateway = undefined;
  upstream = undefined;
  seen = [];
});

/** An upstream that records what it saw and echoes it, and a gateway in front (upstream `up`). */
async function rig(
  upstreamConfig: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
  handler?: Parameters<typeof startServer>[0],
): Promise<Gateway> {
  upstream = await startServer(
    handler ??
      ((req, res, body) => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: body.toString(),
        });
        sendJson(res, 200, { url: req.url });
      }),
  );
  const config = parseGatewayConfig({
    metrics: { defaultMetrics: false },
    ...extra,
    upstreams: { up: { baseUrl: `${upstream.url}/base`, retry: false, ...upstreamConfig } },
  });
  gateway = await startGateway({ config, port: 0, wiring: MINIMAL_WIRING });
  return gateway;
}

/** Sends raw bytes; resolves with the whole answer once the gateway closes or `wait` ms pass. */
function raw(url: string, chunks: readonly string[], gap = 0, wait = 3000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let out = '';
    const socket = connect(Number(port), hostname, async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) break;
        socket.write(chunk);
        if (gap) await new Promise((r) => setTimeout(r, gap));
      }
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      out += d;
    });
    socket.on('close', () => resolve(out));
    socket.on('error', (error) => (out ? resolve(out) : reject(error)));
    setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, wait).unref();
  });
}

const statusOf = (answer: string): number => Number(answer.slice(9, 12));

function breakerState(g: Gateway): string {
  const row = g.upstreams.get('up')?.status();
  const breakers = row?.state.circuitBreaker.breakers ?? [];
  // One breaker per upstream host; none yet means nothing was counted.
  return breakers[0]?.state ?? 'closed';
}

const BREAKER = { consecutiveFailures: 2, minimumCalls: 100, openDuration: '30s' };

describe('item 1: only what the upstream did counts against its breaker', () => {
  it('oversized chunked bodies get 413 and never open the breaker', async () => {
    const g = await rig({ circuitBreaker: BREAKER, maxBodySize: '1kb' });
    const big = 'x'.repeat(4096);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await raw(g.url, [
        'POST /up/upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n',
        `${big.length.toString(16)}\r\n${big}\r\n`,
        '0\r\n\r\n',
      ]);
      statuses.push(statusOf(answer));
    }
    expect(statuses).toEqual([413, 413, 413, 413, 413]);
    const after = await fetch(`${g.url}/up/ok`);
    expect(after.status).toBe(200);
    expect(breakerState(g)).toBe('closed');
  });

  it('a trickled caller body that outlasts the attempt timeout is the caller’s 408, not the upstream’s 504', async () => {
    const g = await rig({ circuitBreaker: BREAKER, timeout: { attempt: '300ms', total: '5s' } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const chunks = ['POST /up/slow HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\n\r\n'];
      for (let c = 0; c < 20; c++) chunks.push('x');
      statuses.push(statusOf(await raw(g.url, chunks, 40, 2000)));
    }
    expect(statuses).toEqual([408, 408, 408]);
    expect(breakerState(g)).toBe('closed');
    expect((await fetch(`${g.url}/up/ok`)).status).toBe(200);
  });

  it("the gateway's own limiter refusals (drop) never open the breaker", async () => {
    const g = await rig({
      circuitBreaker: BREAKER,
      rateLimit: { limit: 1, window: '10s', burst: 1, strategy: 'drop' },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await fetch(`${g.url}/up/x`)).status);
    expect(statuses).toEqual([200, 429, 429, 429, 429, 429, 429, 429]);
    expect(breakerState(g)).toBe('closed');
    expect(seen).toHaveLength(1);
  });

  it('what the upstream did still counts: two 500s open the breaker', async () => {
    const g = await rig({ circuitBreaker: BREAKER }, {}, (_req, res) => sendJson(res, 500, {}));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${g.url}/up/x`)).status);
    expect(statuses).toEqual([500, 500, 503]);
    expect(breakerState(g)).toBe('open');
  });
});

describe('item 2: dot segments any mainstream server could resolve, and control characters, are refused', () => {
  const forms: [string, string][] = [
    ['..; (Tomcat, Spring)', '/up/..;/x'],
    ['.; ', '/up/.;/x'],
    ['%2e%2e;', '/up/%2e%2e;/x'],
    ['..;jsessionid=1', '/up/..;jsessionid=1/x'],
    ['CR LF', '/up/a%0d%0aX-Injected:%201'],
    ['tab', '/up/a%09b'],
    ['fullwidth dots', '/up/%EF%BC%8E%EF%BC%8E/x'],
    ['one-dot leaders', '/up/%E2%80%A4%E2%80%A4/x'],
    ['triple-encoded dots', '/up/%25252e%25252e/x'],
    ['double-encoded CR', '/up/a%250d'],
    ['double-encoded slash', '/up/a%252fb'],
  ];
  it.each(forms)('%s: 400 problem, the upstream sees nothing', async (_form, target) => {
    const g = await rig();
    const answer = await raw(g.url, [`GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`]);
    expect(statusOf(answer)).toBe(400);
    expect(answer).toContain('urn:reqforge:problem:bad-request-target');
    expect(seen).toHaveLength(0);
  });

  it('/narrow/allowed/..;/secret cannot escape a paths: allow-list', async () => {
    const g = await rig({ paths: ['/allowed/**'] });
    const answer = await raw(g.url, [
      'GET /up/allowed/..;/secret HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    ]);
    expect(statusOf(answer)).toBe(400);
    expect(seen).toHaveLength(0);
  });

  it('ordinary paths with dots, semicolons and encoded percent signs still pass', async () => {
    const g = await rig();
    for (const path of ['/up/a.b/..c/c..;v=1/.well-known', '/up/100%25/x', '/up/file%252ejson']) {
      expect((await fetch(`${g.url}${path}`)).status).toBe(200);
    }
    expect(seen.map((s) => s.url)).toEqual([
      '/base/a.b/..c/c..;v=1/.well-known',
      '/base/100%25/x',
      '/base/file%252ejson',
    ]);
  });
});

describe('item 3: configured headers win over the caller’s', () => {
  it('a caller cannot switch a configured tenant or version header', async () => {
    const g = await rig({ headers: { 'X-Tenant': 'acme', 'api-version': '2024-01-01' } });
    const response = await fetch(`${g.url}/up/x`, {
      headers: { 'x-tenant': 'evil', 'API-Version': '1999-01-01', 'x-other': 'kept' },
    });
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers['x-tenant']).toBe('acme');
    expect(seen[0]?.headers['api-version']).toBe('2024-01-01');
    expect(seen[0]?.headers['x-other']).toBe('kept');
  });
});

describe('item 6: smaller gaps', () => {
  it('a 429 from a drop limiter carries Retry-After', async () => {
    const g = await rig({ rateLimit: { limit: 1, window: '10s', burst: 1, strategy: 'drop' } });
    expect((await fetch(`${g.url}/up/x`)).status).toBe(200);
    const refused = await fetch(`${g.url}/up/x`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
  });

  it('an unparseable request gets a full problem: instance, request id, security headers', async () => {
    const g = await rig({}, { hsts: { maxAge: '8760h' } });
    const answer = await raw(g.url, ['GET /up/x HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n']);
    expect(statusOf(answer)).toBe(400);
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    expect(head).toMatch(/x-content-type-options: nosniff/i);
    expect(head).toMatch(/strict-transport-security: max-age=31536000/i);
    expect(head).toMatch(/x-request-id: [0-9a-f-]{36}/i);
    const problem = JSON.parse(body);
    expect(problem.instance).toBe('/up/x');
    expect(problem.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('CONNECT and gateway problems carry the security headers and HSTS when configured', async () => {
    const g = await rig({}, { hsts: { maxAge: '24h', includeSubDomains: true } });
    const connect = await raw(g.url, ['CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n']);
    expect(statusOf(connect)).toBe(400);
    expect(connect).toMatch(/x-frame-options: DENY/i);
    expect(connect).toMatch(/strict-transport-security: max-age=86400; includeSubDomains/i);
    const missing = await fetch(`${g.url}/nope/x`);
    expect(missing.headers.get('strict-transport-security')).toBe('max-age=86400; includeSubDomains');
    const health = await fetch(`${g.url}/health`);
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
    expect(health.headers.get('strict-transport-security')).toBe('max-age=86400; includeSubDomains');
  });

  it('by default the gateway writes Forwarded-style headers itself; trustProxy keeps a trusted proxy’s', async () => {
    const g = await rig();
    const forged = {
      forwarded: 'for=1.2.3.4;host=evil',
      'x-real-ip': '1.2.3.4',
      'x-forwarded-for': '1.2.3.4',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
    };
    await fetch(`${g.url}/up/x`, { headers: forged });
    const headers = seen[0]?.headers ?? {};
    expect(headers.forwarded).toBeUndefined();
    expect(headers['x-real-ip']).toBeUndefined();
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-host']).toBe(new URL(g.url).host);
    expect(headers['x-forwarded-proto']).toBe('http');
    await gateway?.close({ grace: 50 });
    await upstream?.close();
    seen = [];
    const trusting = await rig({}, { trustProxy: true });
    await fetch(`${trusting.url}/up/x`, { headers: forged });
    const kept = seen[0]?.headers ?? {};
    expect(kept.forwarded).toBe('for=1.2.3.4;host=evil');
    expect(kept['x-real-ip']).toBe('1.2.3.4');
    expect(kept['x-forwarded-for']).toBe('1.2.3.4, 127.0.0.1');
    expect(kept['x-forwarded-host']).toBe('evil.example');
    expect(kept['x-forwarded-proto']).toBe('https');
  });

  it('response-header policy: Server and X-Powered-By removed, Location rewritten or dropped, cookies kept', async () => {
    const g = await rig({}, {}, (req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
      const own = `http://${req.headers.host}`;
      const location =
        req.url === '/base/own'
          ? `${own}/base/next?a=1`
          : req.url === '/base/outside'
            ? `${own}/admin`
            : 'https://evil.example/';
      res.writeHead(302, {
        server: 'Apache/2.4.1',
        'x-powered-by': 'PHP/5',
        'set-cookie': 'session=1; HttpOnly',
        location,
      });
      res.end();
    });
    const own = await fetch(`${g.url}/up/own`, { redirect: 'manual' });
    expect(own.status).toBe(302);
    expect(own.headers.get('location')).toBe('/up/next?a=1');
    expect(own.headers.get('server')).toBeNull();
    expect(own.headers.get('x-powered-by')).toBeNull();
    expect(own.headers.get('set-cookie')).toBe('session=1; HttpOnly');
    const foreign = await fetch(`${g.url}/up/foreign`, { redirect: 'manual' });
    expect(foreign.status).toBe(302);
    expect(foreign.headers.get('location')).toBeNull();
    const outside = await fetch(`${g.url}/up/outside`, { redirect: 'manual' });
    expect(outside.headers.get('location')).toBeNull();
    // The gateway never follows a redirect itself: one upstream request per call.
    expect(seen.map((s) => s.url)).toEqual(['/base/own', '/base/foreign', '/base/outside']);
  });

  it('responseHeaders can remove Set-Cookie and keep Location as it is', async () => {
    const g = await rig(
      { responseHeaders: { remove: ['set-cookie'], location: 'keep' } },
      {},
      (_req, res) => {
        res.writeHead(302, { server: 'x', 'set-cookie': 'a=1', location: 'https://elsewhere.example/' });
        res.end();
      },
    );
    const response = await fetch(`${g.url}/up/x`, { redirect: 'manual' });
    expect(response.headers.get('set-cookie')).toBeNull();
    expect(response.headers.get('server')).toBe('x');
    expect(response.headers.get('location')).toBe('https://elsewhere.example/');
  });

  it('a baseUrl with a query string is refused at config time', () => {
    expect(() =>
      parseGatewayConfig({ upstreams: { up: { baseUrl: 'http://127.0.0.1:1/api?key=secret-value' } } }),
    ).toThrow(/upstreams\.up\.baseUrl/);
    try {
      parseGatewayConfig({ upstreams: { up: { baseUrl: 'http://127.0.0.1:1/api?key=secret-value' } } });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('secret-value');
    }
  });
});

describe('item 8: operations and enumeration', () => {
  const sha = (key: string) => createHash('sha256').update(key).digest('hex');
  const inbound = { apiKeys: [{ name: 'app', sha256: sha('right-key') }] };

  it('with API keys, /metrics and /status are protected by default; /health and /ready stay open', async () => {
    const g = await rig({}, { inbound });
    expect((await fetch(`${g.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${g.url}/status.json`)).status).toBe(401);
    expect((await fetch(`${g.url}/health`)).status).toBe(200);
    expect((await fetch(`${g.url}/ready`)).status).toBe(200);
    expect((await fetch(`${g.url}/metrics`, { headers: { 'x-api-key': 'right-key' } })).status).toBe(200);
  });

  it('an unauthenticated caller gets the same 401 for every path and method, known upstream or not', async () => {
    const g = await rig({}, { inbound });
    const answers: { status: number; auth: string | null; type: string; title: string; detail: string }[] =
      [];
    for (const [method, path] of [
      ['GET', '/up/x'],
      ['GET', '/nonexistent/x'],
      ['POST', '/up/x'],
      ['DELETE', '/other/y'],
      ['GET', '/status'],
    ] as const) {
      const response = await fetch(`${g.url}${path}`, { method });
      const problem = (await response.json()) as Record<string, string>;
      answers.push({
        status: response.status,
        auth: response.headers.get('www-authenticate'),
        type: problem.type ?? '',
        title: problem.title ?? '',
        detail: problem.detail ?? '',
      });
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]?.status).toBe(401);
    expect(answers[0]?.auth).toBe('ApiKey header="x-api-key"');
    expect(seen).toHaveLength(0);
  });

  it('failed key attempts are throttled per client address; a valid key is never locked out', async () => {
    const g = await rig({}, { inbound: { ...inbound, failedKeyLimit: { limit: 5, window: '1m' } } });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await fetch(`${g.url}/up/x`, { headers: { 'x-api-key': `guess-${i}` } })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    const valid = await fetch(`${g.url}/up/x`, { headers: { 'x-api-key': 'right-key' } });
    expect(valid.status).toBe(200);
    expect(seen).toHaveLength(1);
  });
});

describe('item 7: limits a sidecar needs', () => {
  it('limits.maxConnections: connections beyond it are closed at once', async () => {
    const g = await rig({}, { limits: { maxConnections: 3 } });
    const { hostname, port } = new URL(g.url);
    const open = await Promise.all(
      Array.from(
        { length: 3 },
        () =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const s = connect(Number(port), hostname, () => resolve(s));
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    // The fourth connection is accepted by the kernel and closed by the gateway without an answer.
    const answer = await raw(g.url, ['GET /up/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'], 0, 2000);
    expect(answer).toBe('');
    expect(seen).toHaveLength(0);
    for (const s of open) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${g.url}/up/x`)).status).toBe(200);
  });
});

describe('item 10: retries through the gateway', () => {
  const flaky = (): Parameters<typeof startServer>[0] => {
    let calls = 0;
    return (req, res, body) => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: body.toString(),
      });
      calls++;
      if (calls === 1) return sendJson(res, 503, {});
      sendJson(res, 200, { ok: true });
    };
  };
  const retry = { retries: 2, baseDelay: '1ms', maxDelay: '1ms', budget: false };

  it('a POST with an Idempotency-Key and a small body is buffered and retried', async () => {
    const g = await rig({ retry }, {}, flaky());
    const response = await fetch(`${g.url}/up/pay`, {
      method: 'POST',
      headers: { 'idempotency-key': 'k-1', 'content-type': 'application/json' },
      body: '{"amount":5}',
    });
    expect(response.status).toBe(200);
    expect(seen.map((s) => s.body)).toEqual(['{"amount":5}', '{"amount":5}']);
  });

  it('a PUT body is buffered and retried', async () => {
    const g = await rig({ retry }, {}, flaky());
    expect((await fetch(`${g.url}/up/r`, { method: 'PUT', body: 'abc' })).status).toBe(200);
    expect(seen.map((s) => s.body)).toEqual(['abc', 'abc']);
  });

  it('a POST without a key is never repeated', async () => {
    const g = await rig({ retry }, {}, flaky());
    expect((await fetch(`${g.url}/up/pay`, { method: 'POST', body: 'once' })).status).toBe(503);
    expect(seen).toHaveLength(1);
  });

  it('bodies over retry.bufferSize keep streaming and are sent once', async () => {
    const g = await rig({ retry, retryBodySize: '1kb' }, {}, flaky());
    const body = 'x'.repeat(4096);
    expect((await fetch(`${g.url}/up/r`, { method: 'PUT', body })).status).toBe(503);
    expect(seen).toHaveLength(1);
  });
});

describe('item 8: operations.listen', () => {
  it('serves operations on their own address only, and nothing else there', async () => {
    const g = await rig({}, { operations: { listen: { host: '127.0.0.1', port: 0 } } });
    const ops = g.operationsUrl ?? '';
    expect(ops).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ops).not.toBe(g.url);
    expect((await fetch(`${ops}/metrics`)).status).toBe(200);
    expect((await fetch(`${ops}/health`)).status).toBe(200);
    expect((await fetch(`${g.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${g.url}/status.json`)).status).toBe(404);
    expect((await fetch(`${ops}/up/x`)).status).toBe(404);
    expect((await fetch(`${g.url}/up/x`)).status).toBe(200);
    expect(seen).toHaveLength(1);
  });
});
