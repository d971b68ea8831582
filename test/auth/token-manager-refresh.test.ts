// `TokenManager.refresh()` and `storedTokenInfo()`: what `reqforge token` uses to read a shared store without
// fetching, and to replace the stored token through the store's lease. Two managers share one real store, as two
// processes share Redis; the IdP is the sandbox on loopback and counts every grant.
import { describe, expect, it } from 'vitest';
import { clientCredentials } from '../../src/auth/index.js';
import { Secret } from '../../src/core/secret.js';
import type { OAuthServer } from '../../src/sandbox/oauth.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { FakeClock } from '../../src/testing.js';
import { closedAfterEach, demoPasswordGrant } from './helpers.js';

const { sandbox, manager } = closedAfterEach();

const demo = (idp: OAuthServer, clientId = 'demo') =>
  clientCredentials({
    tokenUrl: idp.tokenUrl,
    clientId,
    clientSecret: new Secret(clientId === 'demo' ? 'demo-secret' : 'other-secret'),
    scopes: ['read'],
  });

const grants = (idp: OAuthServer) => idp.stats().grants.client_credentials ?? 0;

describe('TokenManager.storedTokenInfo', () => {
  it("reads another manager's stored token without fetching or caching it, and never shows the token", async () => {
    const idp = await sandbox();
    const store = new MemoryTokenStore();
    const gateway = manager({ provider: demo(idp), store });
    const token = await gateway.getToken();
    const cli = manager({ provider: demo(idp), store });
    const before = Date.now();
    const info = await cli.storedTokenInfo();
    expect(info).toEqual({
      key: gateway.keyFor(),
      fingerprint: token.fingerprint(),
      tokenType: 'Bearer',
      issuedAt: token.issuedAt,
      expiresAt: token.expiresAt,
      expirySource: 'expires_in',
      expiresIn: expect.any(Number),
      state: 'valid',
      scope: 'read',
      hasRefreshToken: false,
      refreshExpiresAt: undefined,
    });
    expect(info!.expiresIn).toBeLessThanOrEqual(token.expiresAt - before);
    expect(info!.expiresIn).toBeGreaterThan(3_500_000);
    expect(grants(idp)).toBe(1);
    expect(cli.listTokenInfo()).toEqual([]);
    for (const secret of idp.issuedSecrets()) expect(JSON.stringify(info)).not.toContain(secret);
  });

  it('is undefined when the store holds nothing for that credential, or without a store; nothing is fetched', async () => {
    const idp = await sandbox();
    const store = new MemoryTokenStore();
    await manager({ provider: demo(idp), store }).getToken();
    const other = manager({ provider: demo(idp, 'other'), store });
    expect(await other.storedTokenInfo()).toBeUndefined();
    expect(await manager({ provider: demo(idp) }).storedTokenInfo()).toBeUndefined();
    expect(grants(idp)).toBe(1);
  });
});

describe('TokenManager.refresh', () => {
  it('replaces the stored token through the store, so every manager sharing it reads the new one', async () => {
    const clock = new FakeClock();
    const idp = await sandbox({ now: () => clock.wallNow() });
    const store = new MemoryTokenStore({ clock });
    const gateway = manager({ provider: demo(idp), store, clock });
    const first = await gateway.getToken();
    const cli = manager({ provider: demo(idp), store, clock });
    const second = await cli.refresh();
    expect(grants(idp)).toBe(2);
    expect(second.fingerprint()).not.toBe(first.fingerprint());
    expect((await gateway.storedTokenInfo())?.fingerprint).toBe(second.fingerprint());
    // The replaced token is not revoked: the gateway keeps serving it until its own refresh.
    expect(gateway.cachedToken()?.fingerprint()).toBe(first.fingerprint());

    // A forced refresh sooner than forcedRefreshInterval (30 s) returns the cached token without asking.
    expect((await cli.refresh()).fingerprint()).toBe(second.fingerprint());
    expect(grants(idp)).toBe(2);
    await clock.advance(30_000);
    const third = await cli.refresh();
    expect(grants(idp)).toBe(3);
    expect((await gateway.storedTokenInfo())?.fingerprint).toBe(third.fingerprint());
  });

  it('fetches once when nothing is stored', async () => {
    const idp = await sandbox();
    const store = new MemoryTokenStore();
    const cli = manager({ provider: demo(idp), store });
    const token = await cli.refresh();
    expect(grants(idp)).toBe(1);
    expect((await cli.storedTokenInfo())?.fingerprint).toBe(token.fingerprint());
  });

  it('two managers refreshing the same stored token at once cause one fetch (the lease); both get the new token', async () => {
    const idp = await sandbox({ fault: { latencyMs: 100 } });
    const store = new MemoryTokenStore();
    await manager({ provider: demo(idp), store }).getToken();
    const a = manager({ provider: demo(idp), store });
    const b = manager({ provider: demo(idp), store });
    const [ta, tb] = await Promise.all([a.refresh(), b.refresh()]);
    expect(grants(idp)).toBe(2);
    expect(ta.fingerprint()).toBe(tb.fingerprint());
  });

  it("uses the stored token's refresh token when the grant has one", async () => {
    const idp = await sandbox();
    const store = new MemoryTokenStore();
    const grant = () => demoPasswordGrant(idp);
    await manager({ provider: grant(), store }).getToken();
    const stored = await manager({ provider: grant(), store }).storedTokenInfo();
    expect(stored?.hasRefreshToken).toBe(true);
    await manager({ provider: grant(), store }).refresh();
    expect(idp.stats().grants).toEqual({ password: 1, refresh_token: 1 });
  });
});
