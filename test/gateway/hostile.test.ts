// Hostile callers against a real gateway on loopback: each test reproduces one attack from issue 12 with raw
// requests and asserts the secure outcome (what the upstream saw, the breaker's state, the statuses).
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
  const breakers = (row?.policies.circuitBreaker ?? []) as { state: string }[];
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
