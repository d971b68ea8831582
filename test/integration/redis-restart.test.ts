// Issue 5: a token store outage is never an outage of the client. A TokenManager over a Redis store
// (built by createTokenStore, so wrapped in the resilient wrapper) serves steady OAuth2-authenticated
// traffic while its private redis-server is SIGKILLed and restarted. Short-lived tokens make the manager
// refresh through the store every ~0.5 s, so the outage hits the token path, not just an idle connection.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { clientCredentials } from '../../src/auth/oauth2.js';
import { tokenAuth } from '../../src/auth/policy.js';
import { TokenManager } from '../../src/auth/token-manager.js';
import { createClient } from '../../src/client/client.js';
import { EventHub } from '../../src/core/events.js';
import { startOAuthServer } from '../../src/sandbox/oauth.js';
import { createTokenStore } from '../../src/stores/connect.js';
import { ResilientTokenStore, type StoreEvents } from '../../src/stores/resilient.js';
import { freePort, haveRedisServer, killed, startRedis } from '../helpers/redis-server.js';
import { IN_CI, runId } from '../stores/services.js';

describe.skipIf(!haveRedisServer && !IN_CI)(
  `Redis killed and restarted under OAuth2 traffic${haveRedisServer ? '' : ' [skipped: redis-server is not installed; CI=true fails instead]'}`,
  () => {
    const children: ChildProcess[] = [];
    const cleanup: (() => Promise<unknown>)[] = [];
    afterAll(async () => {
      for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
      await Promise.all(children.map(killed));
    });

    it('serves every call while the store is down, and reports the outage', async () => {
      const port = await freePort();
      children.push(await startRedis(port));

      const clientId = runId('restart');
      const clientSecret = randomBytes(16).toString('hex');
      // 1 s tokens: the manager refreshes every ~0.5 s (half the lifetime), through the store.
      const idp = await startOAuthServer({ clients: { [clientId]: clientSecret }, tokenLifetime: 1 });
      cleanup.push(() => idp.close());

      const storeEvents = new EventHub<StoreEvents>();
      const timeline: string[] = [];
      let storeErrors = 0;
      storeEvents.on('store:down', (e) => timeline.push(`down(${e.operation}:${e.error})`));
      storeEvents.on('store:up', () => timeline.push('up'));
      storeEvents.on('store:error', () => storeErrors++);
      const store = await createTokenStore({
        type: 'redis',
        url: `redis://127.0.0.1:${port}`,
        keyPrefix: `${runId('restart')}:`,
        resilient: { timeoutMs: 250, retryAfterMs: 100 },
        events: storeEvents,
      });
      cleanup.push(() => store.close());
      expect(store).toBeInstanceOf(ResilientTokenStore);
      const inner = (store as ResilientTokenStore).inner;

      const tokens = new TokenManager({
        store,
        provider: clientCredentials({ tokenUrl: idp.tokenUrl, clientId, clientSecret }),
        refreshBuffer: 500,
        expirySkew: 100,
      });
      cleanup.push(() => tokens.close());
      const tokenStoreErrors: string[] = [];
      const tokenFailures: string[] = [];
      let refreshed = 0;
      tokens.events.on('storeError', (e) => tokenStoreErrors.push(e.operation));
      tokens.events.on('failed', (e) => tokenFailures.push(String(e.error)));
      tokens.events.on('refreshed', () => refreshed++);
      const api = createClient({ baseUrl: idp.url, policies: [tokenAuth(tokens)], http: { connections: 8 } });
      cleanup.push(() => api.close());
      const storeKey = `reqforge:token:${tokens.keyFor()}`;

      // Steady traffic: 8 loops, each one call at a time with a short pause.
      let phase: 'before' | 'outage' | 'after' = 'before';
      const calls = { before: 0, outage: 0, after: 0 };
      const failures: string[] = [];
      let stop = false;
      const loop = async () => {
        while (!stop) {
          const during = phase;
          try {
            const me = await api.get('/api/me').json<{ client_id: string }>();
            if (me.client_id === clientId) calls[during]++;
            else failures.push(`unexpected body ${JSON.stringify(me)}`);
          } catch (error) {
            failures.push(String(error));
          }
          await sleep(5);
        }
      };
      const traffic = Array.from({ length: 8 }, loop);

      await sleep(1_000);
      expect(await inner.get(storeKey)).toBeDefined(); // the token went through Redis before the outage
      const issuedBefore = idp.stats().tokensIssued[clientId] ?? 0;
      phase = 'outage';
      await killed(children[0]!);
      await sleep(1_200);
      const issuedDuring = (idp.stats().tokensIssued[clientId] ?? 0) - issuedBefore;
      children.push(await startRedis(port)); // same port, empty: nothing survived the kill
      phase = 'after';
      // Wait for the wrapper to see Redis again and for a refresh to write the token into the new server.
      const deadline = Date.now() + 5_000;
      while (
        Date.now() < deadline &&
        !(timeline.at(-1) === 'up' && (await inner.get(storeKey).catch(() => undefined)))
      )
        await sleep(50);
      await sleep(300);
      stop = true;
      await Promise.all(traffic);

      const total = calls.before + calls.outage + calls.after;
      console.info(
        `[redis-restart] calls=${total} (before ${calls.before}, outage ${calls.outage}, after ${calls.after}) ` +
          `failed=${failures.length} tokensIssued=${idp.stats().tokensIssued[clientId]} (during outage ${issuedDuring}) ` +
          `refreshed=${refreshed} 401s=${idp.stats().api.unauthorized} store:error=${storeErrors} ` +
          `timeline=${timeline.join(' → ')}`,
      );
      expect(failures).toEqual([]);
      expect(tokenFailures).toEqual([]);
      expect(calls.before).toBeGreaterThan(50);
      expect(calls.outage).toBeGreaterThan(50);
      expect(calls.after).toBeGreaterThan(20);
      // Tokens kept being refreshed while Redis was gone: in-process fallback, degraded lease, direct fetch.
      expect(issuedDuring).toBeGreaterThan(0);
      // The outage is visible: down first, up at the end, failures counted.
      expect(timeline[0]).toMatch(/^down/);
      expect(timeline.at(-1)).toBe('up');
      expect(storeErrors).toBeGreaterThan(0);
      // The wrapper absorbed every failure: the manager never saw a store error.
      expect(tokenStoreErrors).toEqual([]);
      // Traffic reaches the restarted server again: the current token was written to it.
      expect((store as ResilientTokenStore).down).toBe(false);
      expect(await inner.get(storeKey)).toBeDefined();
    }, 20_000);
  },
);
