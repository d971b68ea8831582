import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';
import { sendJson, startServer } from '../helpers/server.js';

let idpA: OAuthServer;
let idpB: OAuthServer;
let sandbox: SandboxUpstream;
let gateway: Gateway;
let dir: string;

beforeAll(async () => {
  idpA = await startOAuthServer();
  idpB = await startOAuthServer();
  sandbox = await startSandboxUpstream();
  dir = await mkdtemp(join(tmpdir(), 'reqforge-gw-identity-'));
  const auth = (tokenUrl: string, clientSecret: string) => ({
    type: 'oauth2' as const,
    tokenUrl,
    clientId: 'demo',
    clientSecret,
  });
  const config = parseGatewayConfig({
    metrics: { enabled: false },
    // A shared store: the one place where two upstreams' tokens could meet.
    store: { type: 'file', path: dir },
    upstreams: {
      good: { baseUrl: `${sandbox.url}/api`, retry: false, auth: auth(idpA.tokenUrl, 'demo-secret') },
      wrong: { baseUrl: `${sandbox.url}/api`, retry: false, auth: auth(idpB.tokenUrl, 'not-the-secret') },
    },
  });
  gateway = await startGateway({ config, port: 0 });
});
afterAll(async () => {
  await gateway?.close({ grace: 0 });
  await sandbox?.close();
  await idpA?.close();
  await idpB?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('gateway: one client id on two token endpoints (issue 11, defect 3)', () => {
  it('the upstream with a wrong secret fails; the other works with its own IdP token', async () => {
    const ok = await request(`${gateway.url}/good/headers`);
    expect(ok.statusCode).toBe(200);
    const sent = ((await ok.body.json()) as { headers: Record<string, string> }).headers.authorization;
    expect(idpA.issuedSecrets()).toContain(sent?.replace(/^Bearer /, ''));

    const refused = await request(`${gateway.url}/wrong/headers`);
    expect(refused.statusCode).toBe(502);
    await refused.body.dump();
    expect(idpB.stats().tokensIssued).toEqual({});
    expect(idpA.stats().tokensIssued).toEqual({ demo: 1 });

    // The good upstream is unaffected.
    const again = await request(`${gateway.url}/good/headers`);
    expect(again.statusCode).toBe(200);
    await again.body.dump();
    expect(idpA.stats().tokensIssued).toEqual({ demo: 1 });
  });
});

describe('gateway oauth2 auth: resource (issue 11, defect 9)', () => {
  const upstream = (resource: unknown) => ({
    upstreams: {
      api: {
        baseUrl: 'http://127.0.0.1:1/api',
        auth: {
          type: 'oauth2',
          tokenUrl: 'http://127.0.0.1:1/token',
          clientId: 'demo',
          clientSecret: 's',
          resource,
        },
      },
    },
  });
  it('sends the configured resources to the token endpoint, each as its own form field', async () => {
    const idp = await startServer((_req, res) =>
      sendJson(res, 200, { access_token: 'tok-r', expires_in: 3600 }),
    );
    const config = parseGatewayConfig({
      metrics: { enabled: false },
      upstreams: {
        api: {
          baseUrl: `${sandbox.url}/api`,
          retry: false,
          auth: {
            type: 'oauth2',
            tokenUrl: `${idp.url}/token`,
            clientId: 'demo',
            clientSecret: 'demo-secret',
            audience: 'https://auth0.example/api',
            resource: ['https://api.example/a', 'https://api.example/b'],
          },
        },
      },
    });
    const gw = await startGateway({ config, port: 0 });
    try {
      const res = await request(`${gw.url}/api/headers`);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      expect(idp.requests).toHaveLength(1);
      const form = new URLSearchParams(idp.requests[0]!.body.toString());
      expect(form.getAll('resource')).toEqual(['https://api.example/a', 'https://api.example/b']);
      expect(form.get('audience')).toBe('https://auth0.example/api');
    } finally {
      await gw.close({ grace: 0 });
      await idp.close();
    }
  });

  it('accepts one resource or a list, and refuses anything else naming the path', () => {
    expect(() => parseGatewayConfig(upstream('https://api.example'))).not.toThrow();
    expect(() => parseGatewayConfig(upstream(['https://a.example', 'https://b.example']))).not.toThrow();
    expect(() => parseGatewayConfig(upstream(5))).toThrow(/upstreams\.api\.auth\.resource/);
  });
});
