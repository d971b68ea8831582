import type { Clock } from '../core/clock.js';
import type { Lease, TokenStore } from '../stores/types.js';
import { deserializeToken, serializeToken, type Token, withExpiry } from './token.js';
import type { TokenEntry } from './token-cache.js';
import type { TokenManagerSettings } from './token-manager-options.js';

const STORE_FAILED = Symbol('store failed');

/** @internal what the single flight needs from the manager. */
export interface TokenFlightHost {
  /** Asks the provider for a new token; `current` is the newest token known (its refresh token). */
  fetch(entry: TokenEntry, current: Token | undefined): Promise<Token>;
  /** True when a stored token can be adopted instead of fetching (never a token `entry` saw revoked). */
  fresh(entry: TokenEntry, token: Token, replacing: Token | undefined): boolean;
  /** Reports a failed store operation (the flight carries on as if it missed). */
  storeError(entry: TokenEntry, operation: string, error: unknown): void;
}

/**
 * @internal the cross-process single flight: reads the shared store, takes its lease so that one process
 * fetches, re-reads under the lease, lets the others poll for the result, and writes the new token back.
 * The store is a ResilientTokenStore (timeouts, outage = miss, a degraded in-process lease) or a memory store;
 * a store that still throws (a custom one, a value that does not parse) is a miss too.
 */
export class TokenFlight {
  readonly #store: TokenStore | undefined;
  readonly #clock: Clock;
  readonly #o: TokenManagerSettings;
  readonly #signal: AbortSignal;
  readonly #host: TokenFlightHost;

  constructor(
    store: TokenStore | undefined,
    clock: Clock,
    settings: TokenManagerSettings,
    signal: AbortSignal,
    host: TokenFlightHost,
  ) {
    this.#store = store;
    this.#clock = clock;
    this.#o = settings;
    this.#signal = signal;
    this.#host = host;
  }

  /** The store's name for events, `none` without a store. */
  get storeName(): string {
    return this.#store?.name ?? 'none';
  }

  /** Obtains a token for `entry`: adopted from the store when fresh, else fetched once across processes. */
  async obtain(
    entry: TokenEntry,
    replacing: Token | undefined,
  ): Promise<{ token: Token; source: 'provider' | 'store' }> {
    const store = this.#store;
    if (!store) return { token: await this.#host.fetch(entry, entry.last), source: 'provider' };
    const host = this.#host;
    const first = await this.#get(entry);
    if (first !== STORE_FAILED && first && host.fresh(entry, first, replacing))
      return { token: first, source: 'store' };
    const known = () => (first !== STORE_FAILED && first ? newest(first, entry.last) : entry.last);
    const waitUntil = this.#clock.now() + this.#o.waitTimeout;
    let delay = this.#o.pollInterval;
    for (;;) {
      const lease = await this.#lease(entry);
      if (lease === STORE_FAILED) {
        // The store cannot coordinate: fetch directly, keep the in-process copy, write back best-effort.
        return this.#fetchAndStore(entry, known());
      }
      if (lease) {
        try {
          // Re-read inside the lease: another process may have written while we waited for it.
          const again = await this.#get(entry);
          const current = again !== STORE_FAILED && again ? newest(again, entry.last) : known();
          if (again !== STORE_FAILED && again && host.fresh(entry, again, replacing)) {
            return { token: again, source: 'store' };
          }
          return await this.#fetchAndStore(entry, current);
        } finally {
          await lease.release().catch((error: unknown) => host.storeError(entry, 'release', error));
        }
      }
      const left = waitUntil - this.#clock.now();
      if (left <= 0) {
        // The holder is slow or gone: fetch ourselves rather than hang.
        return this.#fetchAndStore(entry, known());
      }
      await this.#clock.sleep(Math.min(delay, left), this.#signal);
      delay = Math.min(delay * 2, 1000);
      const polled = await this.#get(entry);
      if (polled !== STORE_FAILED && polled && host.fresh(entry, polled, replacing)) {
        return { token: polled, source: 'store' };
      }
    }
  }

  /** The stored token for `entry`, undefined when missing or when the store failed. */
  async read(entry: TokenEntry): Promise<Token | undefined> {
    const t = await this.#get(entry);
    return t === STORE_FAILED ? undefined : t;
  }

  /**
   * Takes a revoked token out of the store, under the lease so that a replacement another process wrote
   * meanwhile is never removed: marked expired when it carries a refresh token (kept for the next refresh),
   * deleted otherwise. While another holder has the lease (it is fetching the replacement), polls until the
   * stored token is no longer the revoked one or the lease is free; after `waitTimeout`, drops it without.
   */
  async revoke(entry: TokenEntry, revoked: Token): Promise<void> {
    if (!this.#store) return;
    const waitUntil = this.#clock.now() + this.#o.waitTimeout;
    let delay = this.#o.pollInterval;
    for (;;) {
      const lease = await this.#lease(entry);
      if (lease !== undefined) {
        try {
          await this.#dropIfStored(entry, revoked);
        } finally {
          if (lease !== STORE_FAILED) {
            await lease.release().catch((error: unknown) => this.#host.storeError(entry, 'release', error));
          }
        }
        return;
      }
      const left = waitUntil - this.#clock.now();
      if (left <= 0) return this.#dropIfStored(entry, revoked);
      await this.#clock.sleep(Math.min(delay, left), this.#signal);
      delay = Math.min(delay * 2, 1000);
      const polled = await this.#get(entry);
      if (polled === STORE_FAILED || polled?.fingerprint() !== revoked.fingerprint()) return;
    }
  }

  async #dropIfStored(entry: TokenEntry, revoked: Token): Promise<void> {
    const stored = await this.#get(entry);
    if (stored === STORE_FAILED || stored?.fingerprint() !== revoked.fingerprint()) return;
    // Expired now: #set keeps it while its refresh token lives and deletes it otherwise.
    await this.#set(entry, withExpiry(stored, this.#clock.wallNow()));
  }

  async #fetchAndStore(
    entry: TokenEntry,
    current: Token | undefined,
  ): Promise<{ token: Token; source: 'provider' | 'store' }> {
    const token = await this.#host.fetch(entry, current);
    await this.#set(entry, token);
    return { token, source: 'provider' };
  }

  #key(entry: TokenEntry): string {
    return this.#o.keyPrefix + entry.key;
  }

  async #get(entry: TokenEntry): Promise<Token | undefined | typeof STORE_FAILED> {
    const store = this.#store;
    if (!store) return undefined;
    try {
      const text = await store.get(this.#key(entry));
      return text === undefined ? undefined : deserializeToken(text);
    } catch (error) {
      this.#host.storeError(entry, 'get', error);
      return STORE_FAILED;
    }
  }

  async #set(entry: TokenEntry, token: Token): Promise<void> {
    const store = this.#store;
    if (!store) return;
    const now = this.#clock.wallNow();
    let until = token.expiresAt;
    if (token.refreshToken) until = Math.max(until, token.refreshExpiresAt ?? now + 30 * 86_400_000);
    const ttl = Math.floor(until - now);
    try {
      // Nothing left worth keeping (an expired token without a usable refresh token): no stale copy stays behind.
      if (ttl <= 0) await store.delete(this.#key(entry));
      else await store.set(this.#key(entry), serializeToken(token), ttl);
    } catch (error) {
      this.#host.storeError(entry, ttl <= 0 ? 'delete' : 'set', error);
    }
  }

  async #lease(entry: TokenEntry): Promise<Lease | undefined | typeof STORE_FAILED> {
    const store = this.#store;
    if (!store) return STORE_FAILED;
    try {
      return await store.acquireLease(`${this.#o.keyPrefix}lease:${entry.key}`, this.#o.leaseTtl);
    } catch (error) {
      this.#host.storeError(entry, 'acquireLease', error);
      return STORE_FAILED;
    }
  }
}

function newest(a: Token, b: Token | undefined): Token {
  return b !== undefined && b.issuedAt > a.issuedAt ? b : a;
}
