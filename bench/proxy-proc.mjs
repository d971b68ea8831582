// A proxy under test, in its own process: `gateway` (reqforge with OAuth2 token injection, the standard
// policies and metrics, tokens from an in-process sandbox OAuth2 server), `fastify` (a bare
// @fastify/http-proxy) or `minimal` (node:http + an undici Pool, the least a streaming proxy can do: the
// DESIGN's yardstick). Argument 2 is the upstream origin; argument 3, for `gateway`, another build's `dist`
// directory (`gateway.mjs --baseline`). Prints the proxy's origin on stdout.

import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { Pool } from 'undici';

const [role, upstream, build] = process.argv.slice(2);
// The build under test: this checkout's dist, or the baseline's (it was ignored before, so both rows ran this one).
const dist = build ? pathToFileURL(`${resolve(build)}/`).href : new URL('../dist/', import.meta.url).href;
const { parseGatewayConfig } = await import(`${dist}gateway/config.js`);
const { startGateway } = await import(`${dist}gateway/server.js`);
const { startOAuthServer } = await import(`${dist}sandbox/oauth.js`);
let url;
if (role === 'fastify') {
  const app = Fastify({ logger: false });
  await app.register(proxy, { upstream, prefix: '/bench' });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
} else if (role === 'minimal') {
  url = await minimalProxy(upstream);
} else {
  const idp = await startOAuthServer();
  const config = parseGatewayConfig({
    listen: { host: '127.0.0.1', port: 0 },
    store: { type: 'memory' },
    upstreams: {
      bench: {
        baseUrl: upstream,
        auth: { type: 'oauth2', tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'demo-secret' },
        rateLimit: { limit: 1_000_000, window: '1s', burst: 1_000_000 },
      },
    },
  });
  const gateway = await startGateway({ config, port: 0 });
  url = gateway.url;
}
process.stdout.write(`${url}\n`);
process.on('message', (m) => {
  if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() });
});
process.on('disconnect', () => process.exit(0));

// Strips the `/bench` prefix and hop-by-hop headers, streams both bodies: no auth, policies or metrics.
async function minimalProxy(origin) {
  const pool = new Pool(origin, { connections: 128 });
  const hop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade', 'te', 'trailer']);
  const server = createServer(async (req, res) => {
    const headers = {};
    for (const key in req.headers) if (!hop.has(key)) headers[key] = req.headers[key];
    try {
      const hasBody =
        req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
      const up = await pool.request({
        method: req.method,
        path: req.url.slice('/bench'.length) || '/',
        headers,
        body: hasBody ? req : undefined,
      });
      const out = {};
      for (const key in up.headers) if (!hop.has(key)) out[key] = up.headers[key];
      res.writeHead(up.statusCode, out);
      up.body.pipe(res);
    } catch {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${server.address().port}`;
}
