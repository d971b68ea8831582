import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { MINIMAL_WIRING } from '../../src/gateway/wiring.js';
import { startServer } from '../helpers/server.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const zipped = gzipSync(Buffer.from(JSON.stringify({ hello: 'world', n: [1, 2, 3] })));

async function rig() {
  const elsewhere = await startServer((_req, res) => {
    res.end('you should not be here');
  });
  const upstream = await startServer((req, res) => {
    if (req.url === '/moved') {
      res.writeHead(302, { location: `${elsewhere.url}/inside` });
      res.end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': zipped.length,
    });
    res.end(zipped);
  });
  const gateway = await startGateway({
    config: parseGatewayConfig({
      metrics: { defaultMetrics: false },
      upstreams: {
        // `keep` passes the foreign Location through as it is (the default rewrites or drops it).
        up: {
          baseUrl: upstream.url,
          retry: false,
          circuitBreaker: false,
          responseHeaders: { location: 'keep' },
        },
      },
    }),
    port: 0,
    wiring: MINIMAL_WIRING,
  });
  cleanup.push(
    () => elsewhere.close(),
    () => upstream.close(),
    () => gateway.close({ grace: 100 }),
  );
  return { elsewhere, upstream, gateway };
}

describe('gateway relay (issue 14)', () => {
  it('never follows a redirect: the 302 and its Location go back to the caller, the other host sees nothing', async () => {
    const { elsewhere, gateway } = await rig();
    const res = await request(`${gateway.url}/up/moved`);
    await res.body.dump();
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${elsewhere.url}/inside`);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it("relays a compressed body byte for byte and sends the caller's own Accept-Encoding, adding none", async () => {
    const { upstream, gateway } = await rig();
    const res = await request(`${gateway.url}/up/data`, { headers: { 'accept-encoding': 'gzip' } });
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(body.equals(zipped)).toBe(true);
    expect(upstream.requests[0]?.headers['accept-encoding']).toBe('gzip');

    const bare = await request(`${gateway.url}/up/data`);
    await bare.body.dump();
    expect(upstream.requests[1]?.headers['accept-encoding']).toBeUndefined();
  });
});
