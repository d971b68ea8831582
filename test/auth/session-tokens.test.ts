import { afterEach, describe, expect, it } from 'vitest';
import { createSession } from '../../src/auth/index.js';
import { isInvalidOptionError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { startServer } from '../helpers/server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function idp(): Promise<OAuthServer> {
  const s = await startOAuthServer({ clients: { fortiztp: 'ztp-secret' } });
  cleanup.push(() => s.close());
  return s;
}

describe('session tokens', () => {
  it('getToken(clientId) and getTokenInfo(clientId), shared with the clients of that client id', async () => {
    const server = await idp();
    const session = createSession({
      tokenUrl: server.tokenUrl,
      clients: { assetmanagement: 'demo-secret', fortiztp: new Secret('ztp-secret') },
      defaultClientId: 'assetmanagement',
      services: { care: { baseUrl: server.url }, ztp: { baseUrl: server.url, clientId: 'fortiztp' } },
    });
    cleanup.push(() => session.close());
    // 'assetmanagement' is not a sandbox client: only the default id must fail, the other works.
    await expect(session.getToken()).rejects.toMatchObject({ code: 'ERR_INVALID_CLIENT' });
    expect(session.getTokenInfo('fortiztp')).toBeUndefined();
    const token = await session.getToken('fortiztp');
    expect(token.value.reveal()).toMatch(/^sbx_access_/);
    const info = session.getTokenInfo('fortiztp');
    expect(info).toMatchObject({ state: 'valid', fingerprint: token.fingerprint() });
    expect(info!.expiresIn).toBeGreaterThan(3_500_000);
    expect(JSON.stringify(info)).not.toContain(token.value.reveal());
    // The client of that client id sends the same token: one token issued in all.
    const me = await session.client('ztp').get('/api/me').json<{ client_id: string }>();
    expect(me.client_id).toBe('fortiztp');
    expect(server.stats().tokensIssued).toEqual({ fortiztp: 1 });
    expect(() => session.getTokenInfo('nope')).toThrow(/unknown client id "nope"/);
    await expect(session.getToken('nope')).rejects.toSatisfy(isInvalidOptionError);
  });

  it('client entries carry resource, scopes, audience and extra token parameters', async () => {
    const forms: URLSearchParams[] = [];
    const issuer = await startServer((_req, res, body) => {
      forms.push(new URLSearchParams(body.toString()));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `t${forms.length}`, expires_in: 3600, token_type: 'Bearer' }));
    });
    cleanup.push(() => issuer.close());
    const api = await startServer((req, res) => {
      res.end(JSON.stringify({ auth: req.headers.authorization }));
    });
    cleanup.push(() => api.close());
    const session = createSession({
      tokenUrl: `${issuer.url}/token`,
      clients: {
        graph: {
          clientSecret: new Secret('graph-secret'),
          authMethod: 'client_secret_post',
          resource: 'https://graph.example.com',
          scopes: ['read', 'write'],
          extraParams: { tenant: 'acme' },
        },
      },
      services: {
        graph: { baseUrl: api.url },
        audit: { baseUrl: api.url, resource: ['https://audit.example.com', 'https://logs.example.com'] },
      },
    });
    cleanup.push(() => session.close());
    const body = await session.client('graph').get('/').json<{ auth: string }>();
    expect(body.auth).toBe('Bearer t1');
    const first = forms[0]!;
    expect(first.getAll('resource')).toEqual(['https://graph.example.com']);
    expect(first.get('scope')).toBe('read write');
    expect(first.get('tenant')).toBe('acme');
    expect(first.get('client_secret')).toBe('graph-secret');
    // A service's own resource asks for another token (cached apart); the entry's scopes still apply.
    await session.client('audit').get('/');
    expect(forms[1]!.getAll('resource')).toEqual(['https://audit.example.com', 'https://logs.example.com']);
    expect(forms[1]!.get('scope')).toBe('read write');
    expect(forms).toHaveLength(2);
    expect(session.getTokenInfo('graph')?.key).toContain('https://graph.example.com');
  });

  it('refuses a misspelt client entry key with a did-you-mean, never printing the secret', () => {
    let error: unknown;
    try {
      createSession({
        tokenUrl: 'http://127.0.0.1:9/token',
        clients: { a: { clientSecret: 'sec-r3t', resorce: 'x' } as never },
        services: { s: { baseUrl: 'http://127.0.0.1:9' } },
      });
    } catch (e) {
      error = e;
    }
    expect(isInvalidOptionError(error) && error.option).toBe('clients.a.resorce');
    expect(String((error as Error).message)).toMatch(/did you mean "resource"/);
    expect(String((error as Error).message)).not.toContain('sec-r3t');
  });
});
