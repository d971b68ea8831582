import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientCredentials,
  type OAuth2ClientOptions,
  passwordGrant,
  refreshTokenGrant,
  TokenManager,
  type TokenProvider,
  type TokenRequest,
} from '../../src/auth/index.js';
import { Secret } from '../../src/core/secret.js';
import type { TokenStore } from '../../src/stores/types.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';
import type { StoreHarness } from './contract.js';

/** One side of a pair: a provider built against the test IdP, and the request a caller makes. */
interface Side {
  readonly provider: (tokenUrl: (path: string) => string) => TokenProvider;
  readonly request?: TokenRequest;
}

const base: OAuth2ClientOptions = {
  tokenUrl: '',
  clientId: 'demo',
  clientSecret: new Secret('demo-secret'),
  scopes: ['read'],
  audience: 'api://one',
};
const cc =
  (extra: Partial<OAuth2ClientOptions> = {}, path = '/a/token') =>
  (url: (path: string) => string) =>
    clientCredentials({ ...base, tokenUrl: url(path), ...extra });
const pw = (username: string) => (url: (path: string) => string) =>
  passwordGrant({ ...base, tokenUrl: url('/a/token'), username, password: new Secret('pw-secret') });

/** Pairs of credentials that differ in exactly one part of their identity. */
const PAIRS: readonly (readonly [string, Side, Side])[] = [
  ['token endpoint', { provider: cc() }, { provider: cc({}, '/b/token') }],
  [
    'grant type',
    { provider: cc() },
    {
      provider: (url) =>
        refreshTokenGrant({ ...base, tokenUrl: url('/a/token'), refreshToken: new Secret('rt-initial') }),
    },
  ],
  ['client id', { provider: cc() }, { provider: cc({ clientId: 'demo-2' }) }],
  ['scopes', { provider: cc() }, { provider: cc({ scopes: ['write'] }) }],
  ['audience', { provider: cc() }, { provider: cc({ audience: 'api://two' }) }],
  ['resource', { provider: cc() }, { provider: cc({ resource: 'https://api.example/r1' }) }],
  [
    'resource value',
    { provider: cc({ resource: 'https://api.example/r1' }) },
    { provider: cc({ resource: ['https://api.example/r1', 'https://api.example/r2'] }) },
  ],
  ['custom parameters', { provider: cc() }, { provider: cc({ extraParams: { tenant: 't-1' } }) }],
  [
    'custom parameter value (resource in extraParams)',
    { provider: cc({ extraParams: { resource: 'https://api.example/r1' } }) },
    { provider: cc({ extraParams: { resource: 'https://api.example/r2' } }) },
  ],
  ['subject (user)', { provider: pw('alice') }, { provider: pw('bob') }],
  [
    'subject token',
    { provider: cc(), request: { subjectToken: new Secret('user-token-1') } },
    { provider: cc(), request: { subjectToken: new Secret('user-token-2') } },
  ],
];

/** Values that must never appear in a key, since keys are written to stores and events in plain text. */
const SECRETS = ['demo-secret', 'pw-secret', 'alice', 'bob', 'rt-initial', 't-1', 'user-token-1'];

/**
 * Key isolation, run against every backend on its real server: two managers whose credentials differ in any one
 * part of their identity never share a token through the store, while a third manager with the first one's
 * configuration (on another connection) does adopt it (so the store really is shared).
 */
export function describeKeyIsolation(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`${name} store: credential identity (key isolation)`, () => {
    let h: StoreHarness;
    let idp: TestServer;
    let issued = 0;
    const prefix = `reqforge:test:${randomBytes(6).toString('hex')}:`;
    const managers: TokenManager[] = [];

    beforeAll(async () => {
      h = await factory();
      idp = await startServer((_req, res) => {
        issued++;
        sendJson(res, 200, { access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600 });
      });
    });
    afterAll(async () => {
      await Promise.allSettled(managers.map((m) => m.close()));
      await idp?.close();
      await h?.cleanup();
    });

    // One key prefix per case: each case starts from an empty store.
    const manager = (side: Side, store: TokenStore, keyPrefix: string) => {
      const m = new TokenManager({
        provider: side.provider((path) => `${idp.url}${path}`),
        store,
        keyPrefix,
        backgroundRefresh: false,
      });
      managers.push(m);
      return m;
    };

    for (const [i, [part, left, right]] of PAIRS.entries()) {
      it(`managers differing only in ${part} never share a token`, async () => {
        const a = manager(left, h.store, `${prefix}${i}:`);
        const b = manager(right, h.other, `${prefix}${i}:`);
        const again = manager(left, h.other, `${prefix}${i}:`);
        const before = idp.requests.length;
        const first = await a.getToken(left.request);
        const second = await b.getToken(right.request);
        expect(second.fingerprint()).not.toBe(first.fingerprint());
        expect(idp.requests.length - before).toBe(2);
        // The same configuration on another connection adopts the first token from the store: no request.
        expect((await again.getToken(left.request)).fingerprint()).toBe(first.fingerprint());
        expect(idp.requests.length - before).toBe(2);
        const keys = [a.keyFor(left.request), b.keyFor(right.request)];
        expect(keys[0]).not.toBe(keys[1]);
        for (const key of keys) for (const secret of SECRETS) expect(key).not.toContain(secret);
      });
    }
  });
}
