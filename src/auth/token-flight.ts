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
  /** True when a stored token can be adopted instead of fetching. */
  fresh(token: Token, replacing: Token | undefined): boolean;
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
    if (first !== STORE_FAILED && first && host.fresh(first, replacing))
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
          if (again !== STORE_FAILED && again && host.fresh(again, replacing)) {
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
      if (polled !== STORE_FAILED && polled && host.fresh(polled, replacing)) {
        return { token: polled, source: 'store' };
      }
    }
  }

  /** The stored token for `entry`, undefined when missing or when the store failed. */
  async read(entry: TokenEntry): Promise<Token | undefined> {
    const t = await this.#get(entry);
    return t === STORE_FAILED ? undefined : t;
  }

  /** Marks `current` expired in the store when it is still the stored token (keeping its refresh token). */
  async expireStored(entry: TokenEntry, current: Token): Promise<void> {
    if (!this.#store) return;
    const stored = await this.#get(entry);
    if (stored !== STORE_FAILED && stored?.fingerprint() === current.fingerprint()) {
      // Keep the refresh token: mark the access token expired instead of deleting the entry.
      await this.#set(entry, withExpiry(stored, this.#clock.wallNow()));
    }
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
    if (ttl <= 0) return;
    try {
      await store.set(this.#key(entry), serializeToken(token), ttl);
    } catch (error) {
      this.#host.storeError(entry, 'set', error);
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
