// Issue 12 item 7: a default per-upstream bulkhead with fair queuing per inbound key, against a real gateway on
// loopback with a slow upstream. One caller floods; another caller's single call must be served after one turn.
import { createHash } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { MINIMAL_WIRING } from '../../src/gateway/wiring.js';
import { startServer, type TestServer } from '../helpers/server.js';

let upstream: TestServer | undefined;
let gateway: Gateway | undefined;
/** Paths in the order the upstream received them. */
let arrived: string[] = [];
/** Held upstream responses, oldest first. */
const held: Array<() => void> = [];

afterEach(async () => {
  for (const release of held.splice(0)) release();
  await gateway?.close({ grace: 50 });
  await upstream?.close();
  gateway = undefined;
  upstream = undefined;
  arrived = [];
});

/** A slow upstream (each call held until released) behind a gateway (upstream `up`). */
async function rig(upstreamConfig: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  upstream = await startServer((req, res) => {
    arrived.push((req.url ?? '').replace('/base/', ''));
    held.push(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  const config = parseGatewayConfig({
    metrics: { defaultMetrics: false },
    ...extra,
    upstreams: { up: { baseUrl: `${upstream.url}/base`, retry: false, ...upstreamConfig } },
  });
  gateway = await startGateway({ config, port: 0, wiring: MINIMAL_WIRING });
  return gateway;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

// Undici-free client: node:http pools per local address, so one agent serves every 127.0.0.x caller.
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
/** A GET through the gateway from `localAddress` (127.0.0.x: distinct client addresses on loopback). */
function get(g: Gateway, path: string, localAddress = '127.0.0.1', headers: Record<string, string> = {}) {
  const url = new URL(`${g.url}${path}`);
  return new Promise<Answer>((resolve) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, localAddress, agent, headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    // A call cut off when a test ends is status 0, not an unhandled rejection.
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end();
  });
}

/** The upstream's bulkhead as `client.state()` shows it, without `enabled`; undefined when it has none. */
const bulkheadOf = (g: Gateway) => {
  const state = g.upstreams.get('up')?.status().state.bulkhead;
  if (!state?.enabled) return undefined;
  const { enabled: _on, ...rest } = state;
  return rest;
};
/** The states of the upstream's breakers (one per host once a call was recorded). */
const breakerOf = (g: Gateway) =>
  (g.upstreams.get('up')?.status().state.circuitBreaker.breakers ?? []).map((b) => b.state);

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function releaseOne(): Promise<void> {
  const before = arrived.length;
  held.shift()?.();
  await until('the next call to reach the upstream', () => arrived.length > before);
}

describe('gateway bulkhead: fair queuing per inbound key', () => {
  it('per client address: B is served after one turn although A queued 200 slow calls; the breaker stays closed', async () => {
    const g = await rig({ bulkhead: { maxConcurrent: 2, queueSize: 500 } });
    const flood = Array.from({ length: 200 }, (_, i) => get(g, `/up/a${i}`, '127.0.0.1'));
    await until('A to fill the bulkhead', () => bulkheadOf(g)?.queued === 198);
    expect(arrived).toEqual(['a0', 'a1']);
    const b = get(g, '/up/b', '127.0.0.2');
    await until('B to queue', () => bulkheadOf(g)?.queued === 199);
    await releaseOne(); // one turn of A …
    await releaseOne(); // … then B
    expect(arrived.slice(0, 4)).toEqual(['a0', 'a1', 'a2', 'b']);
    held.splice(held.length - 1, 1)[0]?.();
    expect(await b).toMatchObject({ status: 200, body: 'ok' });
    while (held.length > 0 || arrived.length < 201) {
      held.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    const answers = await Promise.all(flood);
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    expect(arrived).toHaveLength(201);
    expect(breakerOf(g)).toEqual(['closed']);
  });

  it('per API key when keys are configured (same client address)', async () => {
    const sha = (k: string) => createHash('sha256').update(k).digest('hex');
    const g = await rig(
      { bulkhead: { maxConcurrent: 1, queueSize: 100 } },
      {
        inbound: {
          apiKeys: [
            { name: 'alpha', sha256: sha('key-a') },
            { name: 'beta', sha256: sha('key-b') },
          ],
        },
      },
    );
    const flood = Array.from({ length: 20 }, (_, i) =>
      get(g, `/up/a${i}`, '127.0.0.1', { 'x-api-key': 'key-a' }),
    );
    await until('A to fill the bulkhead', () => bulkheadOf(g)?.queued === 19);
    const b = get(g, '/up/b', '127.0.0.1', { 'x-api-key': 'key-b' });
    await until('B to queue', () => bulkheadOf(g)?.queued === 20);
    await releaseOne();
    await releaseOne();
    expect(arrived.slice(0, 3)).toEqual(['a0', 'a1', 'b']);
    while (arrived.length < 21 || held.length > 0) {
      held.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect((await b).status).toBe(200);
    expect((await Promise.all(flood)).every((a) => a.status === 200)).toBe(true);
  });

  it("a caller's full queue is its own 429 with Retry-After; a queue timeout is 503; neither reaches the upstream or its breaker", async () => {
    const g = await rig({
      bulkhead: { maxConcurrent: 1, queueSize: 2, queueTimeout: '200ms' },
      circuitBreaker: { consecutiveFailures: 2 },
    });
    const first = get(g, '/up/a0');
    await until('the slot to be taken', () => arrived.length === 1);
    const queued = [get(g, '/up/a1'), get(g, '/up/a2')];
    await until('two queued', () => bulkheadOf(g)?.queued === 2);
    const refused = await Promise.all([get(g, '/up/a3'), get(g, '/up/a4'), get(g, '/up/a5')]);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.headers['retry-after']).toBe('1');
      expect(JSON.parse(r.body)).toMatchObject({ type: expect.stringContaining('too-many-in-flight') });
    }
    // Another address still queues while A's queue is full.
    const other = get(g, '/up/b', '127.0.0.2');
    const timedOut = await Promise.all([...queued, other]);
    for (const r of timedOut) {
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('1');
      expect(JSON.parse(r.body)).toMatchObject({ type: expect.stringContaining('overloaded') });
    }
    expect(arrived).toEqual(['a0']);
    expect(breakerOf(g)).toEqual(['closed']);
    held.shift()?.();
    expect((await first).status).toBe(200);
    const after = get(g, '/up/after');
    await until(
      "'after' to reach the upstream (bulkhead and breaker let it through)",
      () => arrived.length === 2,
    );
    held.shift()?.();
    expect((await after).status).toBe(200);
    expect(arrived).toEqual(['a0', 'after']);
    expect(breakerOf(g)).toEqual(['closed']);
  });

  it('the default applies when nothing is configured, and bulkhead: false removes it', async () => {
    const g = await rig();
    expect(bulkheadOf(g)).toEqual({ inFlight: 0, queued: 0, maxConcurrent: 256, queueSize: 64 });
    await gateway?.close({ grace: 50 });
    await upstream?.close();
    const off = await rig({ bulkhead: false, http: { connections: 512 } });
    expect(bulkheadOf(off)).toBeUndefined();
    const calls = Array.from({ length: 300 }, (_, i) => get(off, `/up/c${i}`));
    await until('all 300 calls to reach the upstream at once', () => arrived.length === 300);
    for (const release of held.splice(0)) release();
    expect((await Promise.all(calls)).every((a) => a.status === 200)).toBe(true);
  });

  it('the default bulkhead binds at 256 calls in flight', async () => {
    const g = await rig({ http: { connections: 512 } });
    const calls = Array.from({ length: 260 }, (_, i) => get(g, `/up/c${i}`));
    await until('the bulkhead to fill', () => bulkheadOf(g)?.queued === 4);
    expect(arrived).toHaveLength(256);
    for (let i = 0; i < 4; i++) await releaseOne();
    for (const release of held.splice(0)) release();
    expect((await Promise.all(calls)).every((a) => a.status === 200)).toBe(true);
  });

  it('with trustProxy, the key is the address the trusted proxy saw (X-Forwarded-For), not the proxy itself', async () => {
    const g = await rig({ bulkhead: { maxConcurrent: 1, queueSize: 50 } }, { trustProxy: true });
    const xff = (ip: string) => ({ 'x-forwarded-for': `203.0.113.9, ${ip}` });
    const flood = Array.from({ length: 10 }, (_, i) => get(g, `/up/a${i}`, '127.0.0.1', xff('198.51.100.1')));
    await until('A to fill the bulkhead', () => bulkheadOf(g)?.queued === 9);
    const b = get(g, '/up/b', '127.0.0.1', xff('198.51.100.2'));
    await until('B to queue', () => bulkheadOf(g)?.queued === 10);
    await releaseOne();
    await releaseOne();
    expect(arrived.slice(0, 3)).toEqual(['a0', 'a1', 'b']);
    while (arrived.length < 11 || held.length > 0) {
      held.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect((await b).status).toBe(200);
    expect((await Promise.all(flood)).every((a) => a.status === 200)).toBe(true);
  });

  it('bad bulkhead settings are refused with the option path, never accepted and ignored', () => {
    const errorOf = (bulkhead: unknown) => {
      try {
        parseGatewayConfig({ upstreams: { up: { baseUrl: 'http://127.0.0.1:1', bulkhead } } });
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(errorOf({ maxConcurent: 2 })).toContain(
      'upstreams.up.bulkhead.maxConcurent: unknown key; did you mean "maxConcurrent"?',
    );
    expect(errorOf(true)).toContain('upstreams.up.bulkhead: expected one of: false | an object');
    expect(errorOf({ maxConcurrent: 0 })).toContain(
      'upstreams.up.bulkhead.maxConcurrent: expected a number >= 1',
    );
    expect(errorOf({ queueSize: 8 })).toBe('accepted');
  });
});
