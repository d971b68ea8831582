import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, TokenManager, tokenAuth } from '../../src/auth/index.js';
import { createClient } from '../../src/client/client.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import type { TokenStore } from '../../src/stores/types.js';
import { runId } from './services.js';

/** What the contract suite needs from a backend. */
export interface StoreHarness {
  /** The store under test. */
  readonly store: TokenStore;
  /** A second, independent instance on the same backend (another connection or "process"). */
  readonly other: TokenStore;
  /**
   * Moves the time the backend judges expiry by: a FakeClock's advance where the store uses the client
   * clock, or a real sleep where the server's clock decides (Redis, PostgreSQL, MySQL).
   */
  advance(ms: number): Promise<void>;
  /** True when {@link StoreHarness.advance} sleeps for real; the suite then keeps TTLs short. */
  readonly realTime: boolean;
  /** Closes both instances and removes what the run created. */
  cleanup(): Promise<void>;
}

const HOSTILE_KEYS = [
  '../../etc/passwd',
  '..\\..\\windows',
  'a key with spaces',
  `quotes ' " \` and ; -- DROP TABLE x`,
  'k'.repeat(300),
  'ключ/🔑/トークン',
  'line\nbreak\ttab',
  '%00%2F*?[]{}',
];

function bigValue(): string {
  // 64 KiB of mixed one-, two-, three- and four-byte characters.
  const unit = 'aé€🚀';
  return unit.repeat(Math.ceil(65_536 / unit.length)).slice(0, 65_536);
}

/** A replica: a TokenManager over one store instance and a client calling the sandbox API with its tokens. */
function replica(idp: OAuthServer, store: TokenStore, keyPrefix: string) {
  const tokens = new TokenManager({
    store,
    keyPrefix,
    provider: clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: 'demo-secret' }),
  });
  const api = createClient({ baseUrl: idp.url, policies: [tokenAuth(tokens)] });
  return {
    tokens,
    api,
    me: () => api.get('/api/me').json<{ sub: string }>(),
    close: async () => {
      await api.close();
      await tokens.close();
    },
  };
}

/** The access token the sandbox issued last. */
function lastIssued(idp: OAuthServer): string {
  return idp
    .issuedSecrets()
    .filter((t) => t.startsWith('sbx_access_'))
    .at(-1)!;
}

/**
 * The TokenStore contract, run against every backend: values, TTL, hostile keys, lease semantics
 * (exclusive, expiring, compare-and-delete release, one winner among 20 concurrent acquirers), and revocation
 * through TokenManagers sharing the store (a token rejected with 401 is never served again; one new token).
 */
export function runStoreContract(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`${name} store contract`, () => {
    let h: StoreHarness;
    let n = 0;
    const key = (label: string) => `${label}-${++n}`;

    beforeAll(async () => {
      h = await factory();
    });
    afterAll(async () => {
      await h?.cleanup();
    });

    it('misses an unknown key', async () => {
      expect(await h.store.get(key('missing'))).toBeUndefined();
    });

    it('sets, gets, overwrites and deletes', async () => {
      const k = key('basic');
      await h.store.set(k, 'one', 60_000);
      expect(await h.store.get(k)).toBe('one');
      expect(await h.other.get(k)).toBe('one');
      await h.store.set(k, 'two', 60_000);
      expect(await h.store.get(k)).toBe('two');
      await h.store.delete(k);
      expect(await h.store.get(k)).toBeUndefined();
      await h.store.delete(k); // deleting a missing key is fine
    });

    it('expires values after their TTL', async () => {
      const k = key('ttl');
      const ttl = h.realTime ? 150 : 60_000;
      await h.store.set(k, 'short', ttl);
      expect(await h.store.get(k)).toBe('short');
      await h.advance(ttl + 100);
      expect(await h.store.get(k)).toBeUndefined();
      expect(await h.other.get(k)).toBeUndefined();
    });

    it('treats a TTL of zero or less as a delete', async () => {
      const k = key('zero');
      await h.store.set(k, 'x', 60_000);
      await h.store.set(k, 'y', 0);
      expect(await h.store.get(k)).toBeUndefined();
    });

    it('keeps unicode and 64 KiB values intact', async () => {
      const small = key('unicode');
      const value = 'héllo ✓ 🚀 "quoted" \'single\' \\ newline\n end';
      await h.store.set(small, value, 60_000);
      expect(await h.store.get(small)).toBe(value);
      const big = key('big');
      const large = bigValue();
      await h.store.set(big, large, 60_000);
      expect(await h.other.get(big)).toBe(large);
    });

    it('stores hostile keys separately and safely', async () => {
      const suffix = key('hostile');
      await Promise.all(HOSTILE_KEYS.map((k, i) => h.store.set(k + suffix, `value-${i}`, 60_000)));
      const back = await Promise.all(HOSTILE_KEYS.map((k) => h.other.get(k + suffix)));
      expect(back).toEqual(HOSTILE_KEYS.map((_, i) => `value-${i}`));
      await Promise.all(HOSTILE_KEYS.map((k) => h.store.delete(k + suffix)));
      expect(await h.store.get(HOSTILE_KEYS[0]! + suffix)).toBeUndefined();
    });

    it('keeps leases apart from values', async () => {
      const k = key('apart');
      await h.store.set(k, 'v', 60_000);
      const lease = await h.store.acquireLease(k, 5_000);
      expect(lease).toBeDefined();
      expect(await h.store.get(k)).toBe('v');
      await lease?.release();
      expect(await h.store.get(k)).toBe('v');
    });

    it('grants a lease to one holder at a time', async () => {
      const k = key('lease');
      const first = await h.store.acquireLease(k, 10_000);
      expect(first).toBeDefined();
      expect(first?.key).toBe(k);
      expect(await h.store.acquireLease(k, 10_000)).toBeUndefined();
      expect(await h.other.acquireLease(k, 10_000)).toBeUndefined();
      await first?.release();
      await first?.release(); // twice is safe
      const second = await h.other.acquireLease(k, 10_000);
      expect(second).toBeDefined();
      expect(second?.owner).not.toBe(first?.owner);
      await second?.release();
    });

    it('lets another holder take an expired lease', async () => {
      const k = key('expiry');
      const ttl = h.realTime ? 150 : 30_000;
      const first = await h.store.acquireLease(k, ttl);
      expect(first).toBeDefined();
      await h.advance(ttl + 100);
      const second = await h.other.acquireLease(k, 10_000);
      expect(second).toBeDefined();
      await second?.release();
    });

    it('release is compare-and-delete: an expired holder cannot free the new holder', async () => {
      const k = key('cad');
      const ttl = h.realTime ? 150 : 30_000;
      const old = await h.store.acquireLease(k, ttl);
      expect(old).toBeDefined();
      await h.advance(ttl + 100);
      const current = await h.other.acquireLease(k, 10_000);
      expect(current).toBeDefined();
      await old?.release();
      expect(await h.store.acquireLease(k, 10_000)).toBeUndefined();
      await current?.release();
      const next = await h.store.acquireLease(k, 10_000);
      expect(next).toBeDefined();
      await next?.release();
    });

    it('gives exactly one of 20 concurrent acquirers the lease', async () => {
      const k = key('race');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? h.store : h.other).acquireLease(k, 10_000)),
      );
      const winners = results.filter((l) => l !== undefined);
      expect(winners).toHaveLength(1);
      await winners[0]?.release();
    });

    it('revocation: a token rejected with 401 is never served again, by any replica sharing the store', async () => {
      const idp = await startOAuthServer();
      const prefix = `${runId('revoke')}:`;
      const a = replica(idp, h.store, prefix);
      const b = replica(idp, h.other, prefix);
      try {
        await a.me();
        await b.me(); // adopts a's token from the store
        expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
        idp.revoke(lastIssued(idp));
        // What tokenAuth does on the 401 of a call it may not repeat: drop the token, fetch nothing yet.
        expect(await a.tokens.invalidate(undefined, undefined, 'unauthorized')).toBe(true);
        expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
        // A replica starting now does not adopt the revoked token from the store: it fetches a new one.
        const c = replica(idp, h.other, prefix);
        try {
          await c.me();
        } finally {
          await c.close();
        }
        expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
        // b still holds the revoked token: one 401, then it adopts c's token from the store without fetching.
        await b.me();
        await a.me();
        expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
        expect(idp.stats().api.unauthorized).toBe(1);
        // Nothing sends the revoked token again.
        await Promise.all([a.me(), b.me(), a.me(), b.me()]);
        expect(idp.stats().api.unauthorized).toBe(1);
      } finally {
        await a.close();
        await b.close();
        await idp.close();
      }
    });

    it('revocation: replicas that all see the 401 fetch one new token between them', async () => {
      const idp = await startOAuthServer();
      const prefix = `${runId('revoke-one')}:`;
      const replicas = [replica(idp, h.store, prefix), replica(idp, h.other, prefix)];
      try {
        await Promise.all(replicas.map((r) => r.me()));
        expect(idp.stats().tokensIssued).toEqual({ demo: 1 });
        idp.revoke(lastIssued(idp));
        const answers = await Promise.all(replicas.flatMap((r) => Array.from({ length: 10 }, () => r.me())));
        expect(answers.every((me) => me.sub === 'demo')).toBe(true);
        expect(idp.stats().tokensIssued).toEqual({ demo: 2 });
      } finally {
        await Promise.all(replicas.map((r) => r.close()));
        await idp.close();
      }
    });

    it('gives exactly one of 20 concurrent acquirers an expired lease', async () => {
      const k = key('race-stale');
      const ttl = h.realTime ? 150 : 30_000;
      expect(await h.store.acquireLease(k, ttl)).toBeDefined();
      await h.advance(ttl + 100);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? h.store : h.other).acquireLease(k, 10_000)),
      );
      expect(results.filter((l) => l !== undefined)).toHaveLength(1);
    });
  });
}
