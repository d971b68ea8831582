// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configs under test use ${ENV} interpolation.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';

let idp: OAuthServer;
let sandbox: SandboxUpstream;
let gateway: Gateway;

beforeAll(async () => {
  idp = await startOAuthServer();
  sandbox = await startSandboxUpstream();
  const config = parseGatewayConfig(
    {
      metrics: { defaultMetrics: false },
      upstreams: {
        pets: {
          baseUrl: `${sandbox.url}/api`,
          retry: false,
          auth: { type: 'oauth2', tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: '${DEMO_SECRET}' },
        },
      },
    },
    { env: { DEMO_SECRET: 'demo-secret' } },
  );
  gateway = await startGateway({ config, port: 0 });
});
afterAll(async () => {
  await gateway.close({ grace: 0 });
  await sandbox.close();
  await idp.close();
});

describe('gateway with OAuth2 upstream auth', () => {
  it('injects one token for many calls and never shows it', async () => {
    const seen: string[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const res = await request(`${gateway.url}/pets/headers`);
        seen.push(
          ((await res.body.json()) as { headers: Record<string, string> }).headers.authorization ?? '',
        );
      }),
    );
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]).toMatch(/^Bearer \S+/);
    expect(idp.stats().tokensIssued.demo).toBe(1);
    const page = await (await request(`${gateway.url}/status`)).body.text();
    const json = await (await request(`${gateway.url}/status.json`)).body.text();
    const metrics = await (await request(`${gateway.url}/metrics`)).body.text();
    for (const token of idp.issuedSecrets()) {
      expect(page).not.toContain(token);
      expect(json).not.toContain(token);
      expect(metrics).not.toContain(token);
    }
    expect(page).not.toContain('demo-secret');
    expect(page).toContain('expiresAt');
    expect(metrics).toMatch(/reqforge_token_requests_total\{upstream="[\w-]+",outcome="fetch"\} 1/);
  });

  it('maps a failing token endpoint to a 502 problem', async () => {
    const down = await startOAuthServer({ fault: { down: true } });
    const config = parseGatewayConfig({
      metrics: { enabled: false },
      upstreams: {
        pets: {
          baseUrl: `${sandbox.url}/api`,
          retry: false,
          auth: { type: 'oauth2', tokenUrl: down.tokenUrl, clientId: 'demo', clientSecret: 'demo-secret' },
        },
      },
    });
    const gw = await startGateway({ config, port: 0 });
    try {
      const res = await request(`${gw.url}/pets/headers`);
      expect(res.statusCode).toBe(502);
      const body = (await res.body.json()) as { type: string; detail: string };
      expect(body.type).toBe('urn:reqforge:problem:upstream-auth-failed');
      expect(body.detail).not.toContain('demo-secret');
    } finally {
      await gw.close({ grace: 0 });
      await down.close();
    }
  });
});
