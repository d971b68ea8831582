import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  clearDiscoveryCache,
  clientCredentials,
  createSession,
  discoverIssuer,
  TokenManager,
  wellKnownUrls,
} from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import { type StartOAuthServerOptions, startOAuthServer } from '../../src/sandbox/oauth.js';
import { startServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
beforeEach(() => clearDiscoveryCache());
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function idp(options: StartOAuthServerOptions = {}) {
  const s = await startOAuthServer(options);
  cleanup.push(() => s.close());
  return s;
}

const demo = { clientId: 'demo', clientSecret: new Secret('demo-secret') };

describe('issuer discovery', () => {
  it('reads the token endpoint from the issuer once, for every provider of that issuer', async () => {
    const server = await idp();
    const providers = [0, 1, 2].map((i) =>
      clientCredentials({ issuer: server.issuer, ...demo, scopes: [`s${i}`] }),
    );
    const managers = providers.map((provider) => new TokenManager({ provider }));
    cleanup.push(() => Promise.all(managers.map((m) => m.close())));
    const tokens = await Promise.all(managers.map((m) => m.getToken()));
    expect(tokens.every((t) => t.value.reveal().startsWith('sbx_access_'))).toBe(true);
    expect(server.stats().discovery).toBe(1);
    expect(server.stats().tokensIssued).toEqual({ demo: 3 });
    const meta = await providers[0]!.metadata();
    expect(meta).toMatchObject({
      issuer: server.issuer,
      tokenEndpoint: server.tokenUrl,
      revocationEndpoint: `${server.url}/oauth/revoke`,
      source: `${server.url}/.well-known/openid-configuration`,
    });
  });

  it('falls back to RFC 8414 metadata when there is no openid-configuration', async () => {
    const server = await idp({ discovery: 'oauth' });
    const meta = await discoverIssuer(server.issuer);
    expect(meta.source).toBe(`${server.url}/.well-known/oauth-authorization-server`);
    expect(meta.tokenEndpoint).toBe(server.tokenUrl);
    expect(server.stats().discovery).toBe(1);
  });

  it('puts the well-known segment where each specification says for an issuer with a path', () => {
    expect(wellKnownUrls('https://idp.example.com/tenants/acme/')).toEqual([
      'https://idp.example.com/tenants/acme/.well-known/openid-configuration',
      'https://idp.example.com/.well-known/oauth-authorization-server/tenants/acme',
    ]);
  });

  it('refuses metadata that names another issuer, and sends no credentials anywhere', async () => {
    const server = await idp({ issuer: 'https://evil.example.com' });
    const provider = clientCredentials({ issuer: server.url, ...demo });
    cleanup.push(() => provider.close());
    const error = await provider.metadata().catch((e: unknown) => e);
    expect(isInvalidOptionError(error) && error.option).toBe('issuer');
    expect(String((error as Error).message)).toMatch(
      /names the issuer "https:\/\/evil.example.com", which is not the configured one/,
    );
    const manager = new TokenManager({ provider });
    await expect(manager.getToken()).rejects.toBeTruthy();
    expect(server.stats().grants).toEqual({});
  });

  it('chooses a client authentication method the issuer supports, and refuses one it does not', async () => {
    const seen: { auth: string | undefined; form: string }[] = [];
    const issuer = await startServer((req, res, body) => {
      const base = `http://${req.headers.host}`;
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') {
        res.end(
          JSON.stringify({
            issuer: base,
            token_endpoint: `${base}/token`,
            token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_post'],
          }),
        );
        return;
      }
      seen.push({ auth: req.headers.authorization, form: body.toString() });
      res.end(JSON.stringify({ access_token: 'tok', expires_in: 60 }));
    });
    cleanup.push(() => issuer.close());
    const post = new TokenManager({ provider: clientCredentials({ issuer: issuer.url, ...demo }) });
    cleanup.push(() => post.close());
    await post.getToken();
    expect(seen[0]!.auth).toBeUndefined();
    expect(new URLSearchParams(seen[0]!.form).get('client_secret')).toBe('demo-secret');
    const basic = clientCredentials({ issuer: issuer.url, ...demo, authMethod: 'client_secret_basic' });
    cleanup.push(() => basic.close());
    expect((await basic.metadata())?.tokenEndpointAuthMethods).toEqual([
      'private_key_jwt',
      'client_secret_post',
    ]);
    const error = await basic
      .fetchToken({ request: {} } as never)
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(isInvalidOptionError(error) && error.message).toMatch(
      /the issuer does not support 'client_secret_basic' \(it supports 'private_key_jwt', 'client_secret_post'\)/,
    );
    expect(seen).toHaveLength(1);
  });

  it('revokes a token at the revocation endpoint of the metadata', async () => {
    const server = await idp();
    const provider = clientCredentials({ issuer: server.issuer, ...demo });
    const manager = new TokenManager({ provider });
    cleanup.push(() => manager.close());
    const token = await manager.getToken();
    const api = createClient({ baseUrl: server.url, throwHttpErrors: false });
    cleanup.push(() => api.close());
    const bearer = { authorization: new Secret(`Bearer ${token.value.reveal()}`) };
    expect((await api.get('/api/me', { headers: bearer })).status).toBe(200);
    await provider.revoke(token, 'access_token');
    expect(server.stats().revoked).toBe(1);
    expect((await api.get('/api/me', { headers: bearer })).status).toBe(401);
  });

  it('configures a session from an issuer', async () => {
    const server = await idp();
    const session = createSession({
      issuer: server.issuer,
      clients: { demo: 'demo-secret' },
      services: { me: { baseUrl: server.url } },
    });
    cleanup.push(() => session.close());
    const me = await session.client('me').get('/api/me').json<{ client_id: string }>();
    expect(me.client_id).toBe('demo');
    expect(server.stats().discovery).toBe(1);
    expect(() =>
      createSession({
        issuer: server.issuer,
        tokenUrl: server.tokenUrl,
        clients: { demo: 'demo-secret' },
        services: {},
      }),
    ).toThrow(/give tokenUrl or issuer, not both/);
  });

  it('forgets a failed discovery so the next request asks again', async () => {
    const server = await idp({ discovery: false });
    const error = await discoverIssuer(server.issuer).catch((e: unknown) => e);
    expect(String((error as Error).message)).toMatch(/found no metadata/);
    await expect(discoverIssuer(server.issuer)).rejects.toThrow(/found no metadata/);
  });
});
