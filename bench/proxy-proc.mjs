// A proxy under test, in its own process: `gateway` (reqforge with OAuth2 token injection, the standard
// policies and metrics, tokens from an in-process sandbox OAuth2 server) or `fastify` (a bare
// @fastify/http-proxy). Argument 2 is the upstream origin. Prints the proxy's origin on stdout.

import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { parseGatewayConfig } from '../dist/gateway/config.js';
import { startGateway } from '../dist/gateway/server.js';
import { startOAuthServer } from '../dist/sandbox/oauth.js';

const [role, upstream] = process.argv.slice(2);
let url;
if (role === 'fastify') {
  const app = Fastify({ logger: false });
  await app.register(proxy, { upstream, prefix: '/bench' });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
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
