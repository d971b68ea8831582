import { afterEach } from 'vitest';
import { passwordGrant, TokenManager, type TokenManagerOptions } from '../../src/auth/index.js';
import { type OAuthServer, startOAuthServer } from '../../src/sandbox/oauth.js';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import type { Lease, TokenStore } from '../../src/stores/types.js';
import type { FakeClock } from '../../src/testing.js';

/** A real MemoryTokenStore behind switches that make it fail or hang, as a store that is down would. */
export class SwitchableStore implements TokenStore {
  readonly name = 'switchable';
  readonly inner: MemoryTokenStore;
  fail = { get: false, set: false, lease: false };
  hang = false;
  /** Fail this many of the next `get` calls. */
  failGets = 0;
  leases = 0;

  constructor(inner: MemoryTokenStore = new MemoryTokenStore()) {
    this.inner = inner;
  }

  #guard(op: 'get' | 'set' | 'lease'): Promise<void> {
    if (this.hang) return new Promise(() => undefined);
    if (this.fail[op]) return Promise.reject(new Error(`store ${op} failed (switched off)`));
    return Promise.resolve();
  }

  async get(key: string): Promise<string | undefined> {
    if (this.failGets > 0) {
      this.failGets--;
      throw new Error('store get failed (counted)');
    }
    await this.#guard('get');
    return this.inner.get(key);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#guard('set');
    return this.inner.set(key, value, ttlMs);
  }

  async delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    await this.#guard('lease');
    this.leases++;
    return this.inner.acquireLease(key, ttlMs);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}

/** Waits for managers to finish their fetches, moving a fake clock along for lease waiters. */
export async function settle(clock: FakeClock | undefined, ...managers: TokenManager[]): Promise<void> {
  for (let i = 0; i < 400; i++) {
    let done = false;
    const all = Promise.all(managers.map((m) => m.idle())).then(() => {
      done = true;
    });
    await Promise.race([all, new Promise((r) => setTimeout(r, 5))]);
    if (done) return;
    if (clock) await clock.advance(25);
  }
  throw new Error('managers did not settle');
}

/**
 * Per-file helpers that close what a test opened once it is done: a sandbox IdP on loopback and token managers.
 * Call at the top of a test file (it registers an `afterEach`).
 */
export function closedAfterEach(): {
  sandbox(options?: Parameters<typeof startOAuthServer>[0]): Promise<OAuthServer>;
  manager(options: TokenManagerOptions): TokenManager;
} {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });
  return {
    async sandbox(options = {}) {
      const idp = await startOAuthServer(options);
      cleanup.push(() => idp.close());
      return idp;
    },
    manager(options) {
      const m = new TokenManager(options);
      cleanup.push(() => m.close());
      return m;
    },
  };
}

/** The sandbox's demo user on the password grant (a grant that returns a refresh token). */
export function demoPasswordGrant(idp: OAuthServer) {
  return passwordGrant({
    tokenUrl: idp.tokenUrl,
    clientId: 'demo',
    clientSecret: 'demo-secret',
    authMethod: 'client_secret_post',
    username: 'demo-user',
    password: 'demo-password',
  });
}
