import { afterEach, describe, expect, it } from 'vitest';
import {
  clientCredentials,
  compositeAuth,
  createSession,
  headerAuth,
  TokenManager,
  tokenAuth,
} from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { Secret } from '../../src/core/secret.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { standardPolicies } from '../../src/policies/standard.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function sandbox(): Promise<OAuthServer> {
  const idp = await startOAuthServer({ clients: { other: 'other-secret' } });
  cleanup.push(() => idp.close());
  return idp;
}

function series(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{upstream="[^"]*",outcome="(\\w+)"\\} (\\d+)$`, 'gm')))
    out[m[1]!] = Number(m[2]);
  return out;
}

describe('token events reach client events, session events and metrics without wiring (issue 11, defect 10)', () => {
  it('a client with TokenManager auth + createMetrics().instrument(client) records the token series', async () => {
    const idp = await sandbox();
    const manager = new TokenManager({
      provider: clientCredentials({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: new Secret('demo-secret'),
      }),
    });
    cleanup.push(() => manager.close());
    const api = createClient({ baseUrl: idp.url, policies: standardPolicies({ auth: tokenAuth(manager) }) });
    cleanup.push(() => api.close());
    const metrics = createMetrics();
    metrics.instrument(api);
    const kinds: string[] = [];
    api.on('token', (e) => kinds.push(e.kind));

    for (let i = 0; i < 3; i++) await api.get('/api/me');
    expect(series(await metrics.registry.metrics(), 'reqforge_token_requests_total')).toEqual({
      fetch: 1,
      hit: 2,
    });

    await manager.invalidate();
    await api.get('/api/me');
    expect(series(await metrics.registry.metrics(), 'reqforge_token_requests_total')).toEqual({
      fetch: 1,
      hit: 2,
      invalidated: 1,
      refresh: 1,
    });
    expect(kinds).toEqual(['acquired', 'cacheHit', 'cacheHit', 'invalidated', 'refreshed']);
    expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
  });

  it('token auth inside compositeAuth still reaches the client events', async () => {
    const idp = await sandbox();
    const auth = tokenAuth(
      clientCredentials({
        tokenUrl: idp.tokenUrl,
        clientId: 'demo',
        clientSecret: new Secret('demo-secret'),
      }),
    );
    cleanup.push(() => auth.manager.close());
    const api = createClient({
      baseUrl: idp.url,
      policies: [compositeAuth(headerAuth('x-tenant', 't1'), auth)],
    });
    cleanup.push(() => api.close());
    const kinds: string[] = [];
    api.on('token', (e) => kinds.push(e.kind));
    await api.get('/api/me');
    await api.get('/api/me');
    expect(kinds).toEqual(['acquired', 'cacheHit']);
  });

  it('a refused token request is an error in the metrics and a failed event on the client', async () => {
    const idp = await sandbox();
    const auth = tokenAuth(
      clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: new Secret('wrong') }),
    );
    cleanup.push(() => auth.manager.close());
    const api = createClient({ baseUrl: idp.url, policies: [auth] });
    cleanup.push(() => api.close());
    const metrics = createMetrics();
    metrics.instrument(api);
    const failed: unknown[] = [];
    api.on('token', (e) => {
      if (e.kind === 'failed') failed.push(e);
    });
    await expect(api.get('/api/me')).rejects.toThrow();
    expect(failed).toHaveLength(1);
    expect(JSON.stringify(failed)).not.toContain('wrong');
    expect(series(await metrics.registry.metrics(), 'reqforge_token_requests_total')).toEqual({ error: 1 });
  });

  it("a session's events receive the token events of every client, and closed clients stop receiving them", async () => {
    const idp = await sandbox();
    const session = createSession({
      tokenUrl: idp.tokenUrl,
      clients: { demo: new Secret('demo-secret'), other: new Secret('other-secret') },
      defaultClientId: 'demo',
      services: { one: { baseUrl: idp.url }, two: { baseUrl: idp.url, clientId: 'other' } },
    });
    cleanup.push(() => session.close());
    const seen: string[] = [];
    session.events.on('token', (e) => seen.push(`${e.kind}:${e.provider}`));
    const one = session.client('one');
    const two = session.client('two');
    const oneKinds: string[] = [];
    one.on('token', (e) => oneKinds.push(`${e.kind}:${e.provider}`));
    await one.get('/api/me');
    await two.get('/api/me');
    await one.get('/api/me');
    expect(seen).toEqual(['acquired:demo', 'acquired:other']);
    expect(oneKinds).toEqual(['acquired:demo', 'cacheHit:demo']);

    await one.close();
    await session.tokenManager('demo').invalidate();
    expect(seen).toEqual(['acquired:demo', 'acquired:other', 'invalidated:demo']);
    expect(oneKinds).toEqual(['acquired:demo', 'cacheHit:demo']);
  });
});
