import type { Clock } from '../core/clock.js';
import { isReqforgeError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import { raceSignal } from '../core/race-signal.js';
import { inSpan } from '../core/trace-hook.js';
import { isTokenEndpointError, isTokenStepError, TokenUnavailableError } from './errors.js';
import { createToken, Token } from './token.js';
import { entryInfo, remember, storedInfo, TokenCache, type TokenEntry } from './token-cache.js';
import { TokenFlight } from './token-flight.js';
import {
  resilientStore,
  resolveTokenManagerOptions,
  type TokenManagerOptions,
  type TokenManagerSettings,
} from './token-manager-options.js';
import { backoffDelay, isUsable, refreshAtOf, usableUntil } from './token-timing.js';
import type { StoredTokenInfo, TokenEvents, TokenInfo, TokenProvider, TokenRequest } from './types.js';

export { TOKEN_MANAGER_DEFAULTS, type TokenManagerOptions } from './token-manager-options.js';

/** Options of {@link TokenManager.getToken}. */
export interface GetTokenOptions {
  /** Stops waiting (the shared fetch carries on for other callers). */
  readonly signal?: AbortSignal | undefined;
}

const MAX_TIMER = 2_147_483_647;

/** One run of the single flight: when it started (monotonic ms) and whether it was background work. */
interface FetchRun {
  readonly started: number;
  readonly background: boolean;
}

/**
 * Caches tokens per credential identity (see `credentialKey` in identity.ts), fetches once
 * for any number of concurrent callers (and, through the store's lease, across processes),
 * refreshes before expiry in the background, and keeps serving the current token while the issuer
 * is down until the token's hard expiry. Never exposes a token in events or {@link TokenManager.getTokenInfo}.
 *
 * Its rooms: options and validation (`token-manager-options.ts`), the timing rules (`token-timing.ts`), the
 * cache (`token-cache.ts`) and the cross-process single flight with leases (`token-flight.ts`); this class
 * ties them together: serving, refresh scheduling, failures and events.
 *
 * @example
 * const tokens = new TokenManager({ provider: clientCredentials({ tokenUrl, clientId, clientSecret }) });
 * const api = createClient({ baseUrl, policies: [tokenAuth(tokens)] });
 */
export class TokenManager {
  /** Token lifecycle events; see {@link TokenEvents}. */
  readonly events: EventHub<TokenEvents> = new EventHub<TokenEvents>();
  /** The provider tokens come from. */
  readonly provider: TokenProvider;
  readonly #clock: Clock;
  readonly #o: TokenManagerSettings;
  readonly #jitterFactor: number;
  readonly #cache: TokenCache;
  readonly #flight: TokenFlight;
  readonly #closing = new AbortController();
  readonly #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(options: TokenManagerOptions) {
    const { provider, clock, settings, ...given } = resolveTokenManagerOptions(options);
    const { store, owned } = resilientStore(given.store, clock, settings);
    this.provider = provider;
    this.#clock = clock;
    this.#o = settings;
    this.#jitterFactor = 1 + Math.random() * settings.jitter;
    this.#cache = new TokenCache(provider, settings.maxEntries, (entry) => this.#clearTimer(entry));
    this.#flight = new TokenFlight(store, clock, settings, this.#closing.signal, {
      fetch: (entry, current) => this.#fetch(entry, current),
      fresh: (entry, token, replacing) => this.#fresh(entry, token, replacing),
      storeError: (entry, operation, error) => this.#storeError(entry.key, operation, error),
    });
    // A wrapper of our own reports failures only to us; a ResilientTokenStore passed in has its own listeners.
    owned?.events.on('store:error', (e) => {
      const error = Object.assign(new Error(`The token store failed ${e.operation}: ${e.error}`), {
        code: e.error,
      });
      this.#storeError('', e.operation, error);
    });
    // The provider's own state was invalidated (a pipeline cascade): drop every token derived from it.
    // Reason `cascade`: not a forced refresh the manager may throttle, the provider already dropped its token.
    this.#unsubscribe = provider.onInvalidate?.(() => this.#invalidateAll('cascade'));
  }

  /** The clock this manager uses. */
  get clock(): Clock {
    return this.#clock;
  }

  /**
   * Returns a valid token, fetching one if none is cached. Concurrent callers share one fetch.
   * A token in its refresh window is returned at once while a refresh runs in the background.
   */
  async getToken(request?: TokenRequest, options: GetTokenOptions = {}): Promise<Token> {
    const cached = this.cachedToken(request);
    if (cached) return cached;
    const entry = this.#cache.entry(request);
    this.#failFast(entry);
    if (this.events.has('cacheMiss')) this.events.emit('cacheMiss', this.#base(entry));
    return raceSignal(this.#singleFlight(entry, undefined), options.signal);
  }

  /**
   * The cached token when it is valid, synchronously (the hot path of {@link TokenManager.getToken}, without a
   * promise); `undefined` when it must be fetched. Like `getToken`, starts a background refresh when the token is
   * in its refresh window, and emits `cacheHit`.
   */
  cachedToken(request?: TokenRequest): Token | undefined {
    if (this.#closed) throw new TokenUnavailableError(this.provider.id, { cause: new Error('closed') });
    const entry = this.#cache.entry(request);
    const token = entry.token;
    if (token === undefined) return undefined;
    const now = this.#clock.wallNow();
    if (now >= entry.usableUntil) {
      this.#expire(entry);
      return undefined;
    }
    this.#cache.touch(entry.key);
    if (now >= entry.refreshAt && entry.inflight === undefined && now >= entry.nextRetryAt) {
      this.#refresh(entry).catch(noop);
    }
    if (this.events.has('cacheHit')) {
      this.events.emit('cacheHit', {
        key: entry.key,
        provider: this.provider.id,
        fingerprint: token.fingerprint(),
      });
    }
    return token;
  }

  /**
   * Drops a token so the next call fetches a new one, and takes it out of the shared store (under the lease, so
   * a replacement another process wrote meanwhile stays); the token is never served or adopted again. With
   * `token`, only when it is still the cached one (so many callers reporting the same 401 cause one refetch).
   * Forced refreshes obey `forcedRefreshInterval`: a `manual` one sooner does nothing, an `unauthorized` one
   * sooner makes calls fail fast until the interval has passed. Returns true when a token was dropped.
   */
  async invalidate(token?: Token, request?: TokenRequest, reason = 'manual'): Promise<boolean> {
    const entry = this.#cache.entry(request);
    const current = entry.token;
    if (current === undefined) return false;
    if (token !== undefined && token.fingerprint() !== current.fingerprint()) return false;
    const now = this.#clock.wallNow();
    const tooSoon = now - entry.forcedAt < this.#o.forcedRefreshInterval;
    if (reason === 'unauthorized') {
      // The replacement was rejected too: asking again now would only hammer the IdP.
      if (tooSoon) entry.blockedUntil = entry.forcedAt + this.#o.forcedRefreshInterval;
      else entry.forcedAt = now;
    } else if (reason === 'manual') {
      if (tooSoon) return false;
      entry.forcedAt = now;
    }
    entry.token = undefined;
    entry.refreshAt = 0;
    remember(entry, current.fingerprint());
    this.#clearTimer(entry);
    this.events.emit('invalidated', { ...this.#base(entry), fingerprint: current.fingerprint(), reason });
    await this.#flight.revoke(entry, current);
    return true;
  }

  /**
   * Fetches a new token now, through the store like any fetch (its lease, so one process fetches; the new token
   * written back for every replica), replacing the token cached here or, when this process has none, the one the
   * store holds (whose refresh token the grant may use). When another process replaced that token meanwhile, its
   * token is adopted instead of asking again. It counts as a forced refresh: sooner than `forcedRefreshInterval`
   * after the last one, the cached token is returned without asking. Unlike {@link TokenManager.invalidate}, the
   * replaced token is not revoked: callers holding it may finish with it.
   */
  async refresh(request?: TokenRequest, options: GetTokenOptions = {}): Promise<Token> {
    if (this.#closed) throw new TokenUnavailableError(this.provider.id, { cause: new Error('closed') });
    const entry = this.#cache.entry(request);
    this.#failFast(entry);
    if (entry.inflight) await raceSignal(entry.inflight, options.signal).catch(noop);
    const now = this.#clock.wallNow();
    if (entry.token !== undefined && now - entry.forcedAt < this.#o.forcedRefreshInterval) return entry.token;
    const replacing = entry.token ?? (await this.#flight.read(entry));
    entry.forcedAt = now;
    return raceSignal(this.#singleFlight(entry, replacing), options.signal);
  }

  /**
   * What the shared store holds for `request` (the provider defaults when omitted), read without fetching and
   * without caching it here; undefined when it holds nothing (or its value does not decrypt or parse, or the store
   * failed: a `storeError` event says which). Never the token. Without a store, undefined.
   */
  async storedTokenInfo(request?: TokenRequest): Promise<StoredTokenInfo | undefined> {
    const entry = this.#cache.entry(request);
    const token = await this.#flight.read(entry);
    return token && storedInfo(entry.key, token, this.#clock.wallNow(), this.#o);
  }

  /** Drops every cached token (in this process; the store is left alone). */
  clear(): void {
    for (const entry of this.#cache.values()) {
      this.#clearTimer(entry);
      entry.token = undefined;
      entry.refreshAt = 0;
    }
  }

  /** A snapshot of the cached token for `request` (the provider defaults when omitted), without the token. */
  getTokenInfo(request?: TokenRequest): TokenInfo | undefined {
    const entry = this.#cache.peek(this.keyFor(request));
    return entry ? entryInfo(entry, this.#clock.wallNow(), this.#o) : undefined;
  }

  /** Snapshots of every cached token. */
  listTokenInfo(): TokenInfo[] {
    const out: TokenInfo[] = [];
    const now = this.#clock.wallNow();
    for (const entry of this.#cache.values()) {
      const info = entryInfo(entry, now, this.#o);
      if (info) out.push(info);
    }
    return out;
  }

  /** Resolves once no fetch is in flight (for tests and graceful shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.#cache.values()].flatMap((e) => (e.inflight ? [e.inflight] : []));
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  /** The cache and store key for a request: its credential identity (see docs/storage.md, "Keys"). */
  keyFor(request?: TokenRequest): string {
    return this.#cache.keyFor(request);
  }

  /** Stops every timer, aborts fetches in flight and closes the provider. Later `getToken` calls fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    for (const entry of this.#cache.values()) this.#clearTimer(entry);
    this.#closing.abort(new Error('The token manager was closed'));
    await this.provider.close?.();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals -------------------------------------------------------------------------------

  #invalidateAll(reason: string): void {
    for (const entry of this.#cache.values()) {
      if (entry.token) this.invalidate(entry.token, entry.request, reason).catch(noop);
    }
  }

  #base(entry: TokenEntry): { key: string; provider: string } {
    return { key: entry.key, provider: this.provider.id };
  }

  /** A refresh nobody waits for (refresh-ahead, the background timer): traced as its own trace. */
  #refresh(entry: TokenEntry): Promise<Token> {
    return this.#singleFlight(entry, entry.token, true);
  }

  #singleFlight(entry: TokenEntry, replacing: Token | undefined, background = false): Promise<Token> {
    if (entry.inflight) return entry.inflight;
    const name = replacing === undefined ? 'reqforge token fetch' : 'reqforge token refresh';
    const attributes = { 'reqforge.token.provider': this.provider.id };
    const p = inSpan(name, attributes, () => this.#acquire(entry, replacing, background), background).finally(
      () => {
        if (entry.inflight === p) entry.inflight = undefined;
      },
    );
    entry.inflight = p;
    return p;
  }

  /**
   * Throws at once, without asking the IdP, while a replacement token drew a 401 too soon (`TokenUnavailableError`
   * with `retryAfter`) or while the token endpoint's refusal (`invalid_client` …) is remembered (that same error).
   */
  #failFast(entry: TokenEntry): void {
    if (entry.blockedUntil === 0 && entry.refusal === undefined) return;
    const now = this.#clock.wallNow();
    if (entry.blockedUntil !== 0) {
      if (now < entry.blockedUntil) {
        throw new TokenUnavailableError(entry.key, {
          retryAfter: entry.blockedUntil - now,
          cause: new Error('The replacement token was rejected with 401 too'),
        });
      }
      // The fetch the block held back counts as the next forced refresh.
      entry.blockedUntil = 0;
      entry.forcedAt = now;
    }
    if (entry.refusal !== undefined && now < entry.refusedUntil) throw entry.refusal;
  }

  async #acquire(entry: TokenEntry, replacing: Token | undefined, background: boolean): Promise<Token> {
    const run: FetchRun = { started: this.#clock.now(), background };
    try {
      const { token, source } = await this.#flight.obtain(entry, replacing);
      this.#install(entry, token, source, run);
      return token;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      this.#onFailure(entry, err, run);
      if (isRefusal(err)) {
        entry.refusal = err;
        entry.refusedUntil = this.#clock.wallNow() + backoffDelay(entry.failures, this.#o);
      }
      if (isReqforgeError(err)) throw err;
      throw new TokenUnavailableError(entry.key, { cause: err });
    }
  }

  /** True when a stored token can be adopted instead of fetching. */
  #fresh(entry: TokenEntry, token: Token, replacing: Token | undefined): boolean {
    const now = this.#clock.wallNow();
    if (!isUsable(token, now, this.#o) || entry.revoked.includes(token.fingerprint())) return false;
    if (replacing === undefined) return true;
    return token.fingerprint() !== replacing.fingerprint() && now < this.#refreshAtOf(token);
  }

  async #fetch(entry: TokenEntry, current: Token | undefined): Promise<Token> {
    const started = this.#clock.wallNow();
    const result = await this.provider.fetchToken({
      request: entry.request,
      current,
      signal: this.#closing.signal,
      clock: this.#clock,
      reread: () => this.#flight.read(entry),
    });
    if (this.#closed) throw new Error('The token manager was closed');
    return result instanceof Token
      ? result
      : createToken(result, started, { defaultLifetime: this.#o.defaultLifetime });
  }

  /** How long a fetch (or store read) took and whether a call waited for it, for the token events. */
  #runFields(run: FetchRun): { duration: number; background: boolean } {
    return { duration: this.#clock.now() - run.started, background: run.background };
  }

  #refreshAtOf(token: Token): number {
    return refreshAtOf(token, this.#o, this.#jitterFactor);
  }

  #install(entry: TokenEntry, token: Token, source: 'provider' | 'store', run: FetchRun): void {
    const previous = entry.token ?? entry.last;
    const now = this.#clock.wallNow();
    entry.token = token;
    entry.usableUntil = usableUntil(token, this.#o);
    entry.last = token;
    entry.failures = 0;
    entry.lastError = undefined;
    entry.nextRetryAt = 0;
    entry.refusal = undefined;
    entry.refreshAt = this.#refreshAtOf(token);
    const unchanged =
      previous !== undefined &&
      previous.fingerprint() === token.fingerprint() &&
      token.expiresAt <= previous.expiresAt;
    if (unchanged) {
      // The issuer handed back the same token: do not ask again at once, back off instead.
      entry.unchangedCount++;
      entry.refreshAt = Math.max(entry.refreshAt, now + backoffDelay(entry.unchangedCount, this.#o));
    } else {
      entry.unchangedCount = 0;
    }
    if (previous === undefined) {
      this.events.emit('acquired', {
        ...this.#base(entry),
        fingerprint: token.fingerprint(),
        expiresAt: token.expiresAt,
        source,
        ...this.#runFields(run),
      });
    } else {
      this.events.emit('refreshed', {
        ...this.#base(entry),
        fingerprint: token.fingerprint(),
        previousFingerprint: previous.fingerprint(),
        expiresAt: token.expiresAt,
        source,
        unchanged,
        ...this.#runFields(run),
      });
    }
    this.#schedule(entry, entry.refreshAt - now);
  }

  #onFailure(entry: TokenEntry, error: Error, run: FetchRun): void {
    entry.failures++;
    entry.lastError = error;
    const now = this.#clock.wallNow();
    const token = entry.token;
    const serving = token !== undefined && isUsable(token, now, this.#o);
    let retryIn: number | undefined;
    if (serving && !this.#closed) {
      const untilExpiry = usableUntil(token, this.#o) - now;
      retryIn = Math.max(1, Math.min(backoffDelay(entry.failures, this.#o), untilExpiry));
      entry.nextRetryAt = now + retryIn;
      if (this.#o.backgroundRefresh) this.#schedule(entry, retryIn);
    } else if (token !== undefined) {
      this.#expire(entry);
    }
    this.events.emit('failed', {
      ...this.#base(entry),
      error,
      failures: entry.failures,
      retryIn,
      serving,
      ...this.#runFields(run),
    });
  }

  #expire(entry: TokenEntry): void {
    const token = entry.token;
    if (!token) return;
    entry.token = undefined;
    entry.refreshAt = 0;
    this.#clearTimer(entry);
    this.events.emit('expired', { ...this.#base(entry), fingerprint: token.fingerprint() });
  }

  #schedule(entry: TokenEntry, delay: number): void {
    this.#clearTimer(entry);
    if (!this.#o.backgroundRefresh || this.#closed) return;
    entry.timer = this.#clock.setTimeout(
      () => {
        entry.timer = undefined;
        this.#onTimer(entry);
      },
      Math.min(MAX_TIMER, Math.max(0, delay)),
    );
  }

  #onTimer(entry: TokenEntry): void {
    if (this.#closed || entry.inflight) return;
    const token = entry.token;
    if (!token) return;
    const now = this.#clock.wallNow();
    if (!isUsable(token, now, this.#o)) {
      this.#expire(entry);
      return;
    }
    const due = Math.max(entry.refreshAt, entry.nextRetryAt);
    if (now < due) {
      this.#schedule(entry, due - now);
      return;
    }
    this.#refresh(entry).catch(noop);
  }

  #clearTimer(entry: TokenEntry): void {
    if (entry.timer !== undefined) {
      this.#clock.clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  // `key` is empty for failures the resilient wrapper reports: they are not tied to one token.
  #storeError(key: string, operation: string, error: unknown): void {
    this.events.emit('storeError', {
      key,
      provider: this.provider.id,
      store: this.#flight.storeName,
      operation,
      error: error instanceof Error ? error : new Error(String(error)),
    });
  }
}

function noop(): void {}

/** Answers of the token endpoint that asking again will not change: remembered with a backoff. */
const REFUSALS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope']);

function isRefusal(error: Error): boolean {
  const e = isTokenStepError(error) ? error.cause : error;
  return isTokenEndpointError(e) && e.error !== undefined && REFUSALS.has(e.error);
}
