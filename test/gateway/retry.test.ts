// Issue 12 item 10: retries through the gateway. A real gateway in front of a loopback upstream that fails the
// first attempt of each request: bodies of requests that may be retried (idempotent methods, or an
// `Idempotency-Key`) are kept up to `limits.retryBodySize` and sent again byte for byte; a POST without a key is
// never repeated; a larger body streams and is not retried; `retry.budget` from YAML caps retries.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig, parseGatewayConfigText } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { MINIMAL_WIRING } from '../../src/gateway/wiring.js';
import { startServer, type TestServer } from '../helpers/server.js';

const open: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** An upstream answering 503 to the first attempt of each request (by `x-test-id`), 200 with the body after. */
async function flakyUpstream(): Promise<TestServer> {
  const seen = new Map<string, number>();
  const server = await startServer((req, res, body) => {
    const id = String(req.headers['x-test-id']);
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    res.writeHead(n === 1 ? 503 : 200, { 'content-type': 'application/octet-stream' });
    res.end(body);
  });
  open.push(server);
  return server;
}

async function gatewayFor(config: ReturnType<typeof parseGatewayConfig>): Promise<Gateway> {
  const gateway = await startGateway({ config, port: 0, wiring: MINIMAL_WIRING });
  open.push({ close: () => gateway.close({ grace: 50 }) });
  return gateway;
}

async function rig(limits: Record<string, unknown> = {}) {
  const upstream = await flakyUpstream();
  const gateway = await gatewayFor(
    parseGatewayConfig({
      metrics: { enabled: false },
      limits,
      upstreams: {
        api: {
          baseUrl: upstream.url,
          circuitBreaker: false,
          retry: { retries: 2, backoff: 'constant', baseDelay: '1ms' },
        },
      },
    }),
  );
  return { upstream, gateway };
}

function send(
  gateway: Gateway,
  method: string,
  id: string,
  body: string,
  headers: Record<string, string> = {},
) {
  return fetch(`${gateway.url}/api/things/${id}`, {
    method,
    body,
    headers: { 'x-test-id': id, 'content-type': 'application/octet-stream', ...headers },
  });
}

const seenBy = (upstream: TestServer, id: string) =>
  upstream.requests.filter((r) => r.headers['x-test-id'] === id);

describe('retries through the gateway', () => {
  it('retries a PUT with a body, and the upstream gets the identical body twice', async () => {
    const { upstream, gateway } = await rig();
    const body = `put-body-${'x'.repeat(1000)}-end`;
    const res = await send(gateway, 'PUT', 'put-1', body);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
    const seen = seenBy(upstream, 'put-1');
    expect(seen.map((r) => r.method)).toEqual(['PUT', 'PUT']);
    expect(seen.map((r) => r.body.toString())).toEqual([body, body]);
    expect(seen.map((r) => r.headers['content-length'])).toEqual([String(body.length), String(body.length)]);
  });

  it('retries a POST that carries an Idempotency-Key, with the same key and body', async () => {
    const { upstream, gateway } = await rig();
    const res = await send(gateway, 'POST', 'post-key', '{"amount":5}', { 'idempotency-key': 'k-123' });
    expect(res.status).toBe(200);
    const seen = seenBy(upstream, 'post-key');
    expect(seen).toHaveLength(2);
    expect(seen.map((r) => r.headers['idempotency-key'])).toEqual(['k-123', 'k-123']);
    expect(seen.map((r) => r.body.toString())).toEqual(['{"amount":5}', '{"amount":5}']);
  });

  it('never repeats a POST without an Idempotency-Key', async () => {
    const { upstream, gateway } = await rig();
    const res = await send(gateway, 'POST', 'post-nokey', '{"amount":5}');
    expect(res.status).toBe(503);
    await res.text();
    await sleep(50);
    expect(seenBy(upstream, 'post-nokey')).toHaveLength(1);
  });

  it('streams a body over limits.retryBodySize and does not retry it', async () => {
    const { upstream, gateway } = await rig({ retryBodySize: '1kb' });
    const small = 'a'.repeat(1024);
    const large = 'b'.repeat(1025);
    const ok = await send(gateway, 'PUT', 'put-small', small);
    expect(ok.status).toBe(200);
    await ok.text();
    const res = await send(gateway, 'PUT', 'put-large', large);
    expect(res.status).toBe(503);
    await res.text();
    await sleep(50);
    expect(seenBy(upstream, 'put-small')).toHaveLength(2);
    const seen = seenBy(upstream, 'put-large');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body.toString()).toBe(large);
  });

  it('keeps limits.retryBodySize at 64 KiB by default, takes 0 and refuses a bad value', () => {
    expect(parseGatewayConfig({ upstreams: {} }).limits.retryBodySize).toBe(64 * 1024);
    expect(parseGatewayConfig({ limits: { retryBodySize: 0 }, upstreams: {} }).limits.retryBodySize).toBe(0);
    expect(() => parseGatewayConfig({ limits: { retryBodySize: 'lots' }, upstreams: {} })).toThrow(
      /limits\.retryBodySize/,
    );
  });
});

describe('retry.budget from YAML', () => {
  /** A YAML gateway over an upstream that answers 503 after `delay` ms to everything. */
  async function failing(budget: string, delay = 0) {
    const upstream = await startServer(async (_req, res) => {
      if (delay > 0) await sleep(delay);
      res.writeHead(503).end();
    });
    open.push(upstream);
    const yaml = `
metrics: { enabled: false }
upstreams:
  api:
    baseUrl: ${upstream.url}
    circuitBreaker: false
    retry:
      retries: 3
      backoff: constant
      baseDelay: 1ms
      budget: ${budget}
`;
    return { upstream, gateway: await gatewayFor(parseGatewayConfigText(yaml)) };
  }

  it('a zero budget allows no retry at all; budget: false allows every one', async () => {
    const none = await failing('{ ratio: 0, minRetries: 0 }');
    const res = await fetch(`${none.gateway.url}/api/x`);
    expect(res.status).toBe(503);
    await res.text();
    expect(none.upstream.requests).toHaveLength(1);

    const unlimited = await failing('false');
    const again = await fetch(`${unlimited.gateway.url}/api/x`);
    expect(again.status).toBe(503);
    await again.text();
    expect(unlimited.upstream.requests).toHaveLength(4);
  });

  it('minRetries caps the retries in flight: 4 concurrent GETs, 2 retry slots', async () => {
    const { upstream, gateway } = await failing('{ ratio: 0, minRetries: 2 }', 300);
    // The 4 first attempts fail together after 300 ms; only 2 get a retry slot (each held while the upstream
    // takes 300 ms), and those 2 go on to all 3 retries: 4 + 2 × 3 = 10 requests upstream.
    const statuses = await Promise.all(
      [1, 2, 3, 4].map(async (i) => {
        const res = await fetch(`${gateway.url}/api/c${i}`);
        await res.text();
        return res.status;
      }),
    );
    expect(statuses).toEqual([503, 503, 503, 503]);
    expect(upstream.requests).toHaveLength(10);
  });
});
