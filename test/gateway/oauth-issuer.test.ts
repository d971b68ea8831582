import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { clearDiscoveryCache } from '../../src/auth/discovery.js';
import { isConfigError, parseGatewayConfig } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { startOAuthServer } from '../../src/sandbox/oauth.js';
import { startSandboxUpstream } from '../../src/sandbox/upstream.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
  clearDiscoveryCache();
});

describe('gateway OAuth2 upstreams configured from an issuer', () => {
  it('reads the token endpoint from the issuer metadata once, and injects the token', async () => {
    const idp = await startOAuthServer({ discovery: 'oauth' });
    cleanup.push(() => idp.close());
    const sandbox = await startSandboxUpstream();
    cleanup.push(() => sandbox.close());
    const auth = { type: 'oauth2', issuer: idp.issuer, clientId: 'demo', clientSecret: 'demo-secret' };
    const config = parseGatewayConfig(
      {
        metrics: { defaultMetrics: false },
        defaults: { retry: false, auth },
        upstreams: { a: { baseUrl: `${sandbox.url}/api` }, b: { baseUrl: `${sandbox.url}/api` } },
      },
      { env: {} },
    );
    const gateway = await startGateway({ config, port: 0 });
    cleanup.push(() => gateway.close({ grace: 0 }));
    for (const name of ['a', 'b', 'a']) {
      const res = await request(`${gateway.url}/${name}/headers`);
      const body = (await res.body.json()) as { headers: Record<string, string> };
      expect(body.headers.authorization).toMatch(/^Bearer sbx_access_/);
    }
    // RFC 8414 metadata (no openid-configuration here), read once for both upstreams.
    expect(idp.stats().discovery).toBe(1);
  });

  it('needs exactly one of tokenUrl and issuer', () => {
    const issues = (auth: Record<string, unknown>) => {
      try {
        parseGatewayConfig(
          {
            upstreams: {
              a: {
                baseUrl: 'http://127.0.0.1:1',
                auth: { type: 'oauth2', clientId: 'c', clientSecret: 's', ...auth },
              },
            },
          },
          { env: {} },
        );
      } catch (error) {
        return isConfigError(error) ? error.issues : error;
      }
      return [];
    };
    expect(issues({})).toEqual([
      {
        path: 'upstreams.a.auth.tokenUrl',
        message: 'required (the token endpoint), unless an issuer is given',
      },
    ]);
    expect(issues({ tokenUrl: 'http://x/t', issuer: 'http://x' })).toEqual([
      { path: 'upstreams.a.auth.issuer', message: 'give tokenUrl or issuer, not both' },
    ]);
  });
});
