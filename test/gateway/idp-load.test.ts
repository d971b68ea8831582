// Issue 12 item 4 ("Callers can make the gateway hammer the IdP"), through a real gateway on loopback: an upstream
// that answers every token with 401 must not turn callers' requests into token requests.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';

let idp: OAuthServer;
let upstream: TestServer;
let gateway: Gateway;

beforeAll(async () => {
  idp = await startOAuthServer();
  upstream = await startServer((_req, res) => sendJson(res, 401, { error: 'invalid_token' }));
  const config = parseGatewayConfig({
    metrics: { defaultMetrics: false },
    upstreams: {
      api: {
        baseUrl: upstream.url,
        retry: false,
        circuitBreaker: false,
        auth: { type: 'oauth2', tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'demo-secret' },
      },
    },
  });
  gateway = await startGateway({ config, port: 0 });
});
afterAll(async () => {
  await gateway?.close({ grace: 0 });
  await upstream?.close();
  await idp?.close();
});

async function call(method: 'GET' | 'POST'): Promise<number> {
  const res = await request(`${gateway.url}/api/thing`, {
    method,
    ...(method === 'POST' ? { body: '{"a":1}', headers: { 'content-type': 'application/json' } } : {}),
  });
  await res.body.dump();
  return res.statusCode;
}

describe('an upstream that rejects every token, behind the gateway', () => {
  it('20 sequential GETs, 100 GETs 20-parallel and 10 POSTs: the IdP issues 2 tokens, each sent once', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await call('GET'));
    for (let round = 0; round < 5; round++) {
      statuses.push(...(await Promise.all(Array.from({ length: 20 }, () => call('GET')))));
    }
    for (let i = 0; i < 10; i++) statuses.push(await call('POST'));
    expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
    // The first call saw the upstream's 401 (with the repeat); the others failed fast without reaching it.
    expect(statuses[0]).toBe(401);
    expect(new Set(statuses.slice(1))).toEqual(new Set([502])); // upstream-auth-failed, nothing sent upstream
    const sent = upstream.requests.map((r) => r.headers.authorization);
    expect(sent).toHaveLength(2);
    expect(new Set(sent).size).toBe(2);
  });
});
