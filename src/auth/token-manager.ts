import { BoundedMap } from '../core/bounded-map.js';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { NEVER_ABORTED } from '../core/context.js';
import { InvalidOptionError, isReqforgeError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import { fingerprint } from '../core/secret.js';
import type { Lease, TokenStore } from '../stores/types.js';
import { TokenUnavailableError } from './errors.js';
import {
  createToken,
  DEFAULT_TOKEN_LIFETIME,
  deserializeToken,
  serializeToken,
  Token,
  withExpiry,
} from './token.js';
import type { TokenEvents, TokenInfo, TokenProvider, TokenRequest } from './types.js';
import { knownKeys, numberOption } from './validate.js';

/** Options of {@link TokenManager}. */
export interface TokenManagerOptions {
  /** Where tokens come from: an OAuth2 grant, a token pipeline, a custom provider. The manager owns it. */
  readonly provider: TokenProvider;
  /**
   * A shared store for tokens and the distributed single-flight lease. Without one, tokens are cached
   * in this process only.
   */
  readonly store?: TokenStore | undefined;
  /** The clock for expiry and timers; tests pass a `FakeClock`. */
  readonly clock?: Clock | undefined;
  /**
   * Refresh when the remaining lifetime drops below max(`refreshBuffer`, `refreshRatio` × lifetime).
   * @default 60000 (Duende's 60 s buffer)
   */
  readonly refreshBuffer?: number | undefined;
  /**
   * @default 0.1 (refresh in the last 10 % of the lifetime when that is more than 60 s)
   */
  readonly refreshRatio?: number | undefined;
  /**
   * Largest extra fraction of the refresh buffer this instance adds, chosen at random once per
   * instance, so replicas do not all refresh in the same instant.
   * @default 0.2
   */
  readonly jitter?: number | undefined;
  /**
   * Refresh in the background on an unref'd timer, before expiry. `false` refreshes when a call
   * finds the token in its refresh window (still serving the current one).
   * @default true
   */
  readonly backgroundRefresh?: boolean | undefined;
  /**
   * Lifetime assumed when a token carries no `expires_in` and is not a JWT with `exp`, in ms.
   * @default 3600000
   */
  readonly defaultLifetime?: number | undefined;
  /**
   * A token is treated as expired this many ms before its hard expiry, to cover transit time.
   * @default 5000
   */
  readonly expirySkew?: number | undefined;
  /**
   * How long the single-flight lease in the store lasts, in ms; a holder that dies frees it after this.
   * @default 15000
   */
  readonly leaseTtl?: number | undefined;
  /**
   * How long a process waits for another one's fetch before fetching itself, in ms.
   * @default 10000
   */
  readonly waitTimeout?: number | undefined;
  /**
   * First poll interval while waiting for another process's fetch, in ms (doubles up to 1 s).
   * @default 25
   */
  readonly pollInterval?: number | undefined;
  /**
   * A store operation that takes longer than this is treated as failed (a miss), in ms.
   * @default 2000
   */
  readonly storeTimeout?: number | undefined;
  /**
   * First delay before retrying a failed background refresh, in ms; doubles up to `retryMaxDelay`.
   * @default 1000
   */
  readonly retryDelay?: number | undefined;
  /**
   * @default 30000
   */
  readonly retryMaxDelay?: number | undefined;
  /**
   * Prefix of the keys written to the store.
   * @default 'reqforge:token:'
   */
  readonly keyPrefix?: string | undefined;
  /**
   * Token requests (distinct scopes, audience, subject token) cached at most; past it, the least recently used
   * entry with no fetch in flight is forgotten (and fetched again if asked for).
   * @default 10000 (a service exchanging tokens for many users would otherwise keep one entry per user forever)
   */
  readonly maxEntries?: number | undefined;
}

/** The defaults of {@link TokenManagerOptions}, each with its reason in the option's TSDoc. */
export const TOKEN_MANAGER_DEFAULTS: Readonly<{
  refreshBuffer: number;
  refreshRatio: number;
  jitter: number;
  defaultLifetime: number;
  expirySkew: number;
  leaseTtl: number;
  waitTimeout: number;
  pollInterval: number;
  storeTimeout: number;
  retryDelay: number;
  retryMaxDelay: number;
  keyPrefix: string;
  maxEntries: number;
}> = Object.freeze({
  refreshBuffer: 60_000,
  refreshRatio: 0.1,
  jitter: 0.2,
  defaultLifetime: DEFAULT_TOKEN_LIFETIME,
  expirySkew: 5_000,
  leaseTtl: 15_000,
  waitTimeout: 10_000,
  pollInterval: 25,
  storeTimeout: 2_000,
  retryDelay: 1_000,
  retryMaxDelay: 30_000,
  keyPrefix: 'reqforge:token:',
  maxEntries: 10_000,
});

const OPTION_KEYS = [
  'provider',
  'store',
  'clock',
  'refreshBuffer',
  'refreshRatio',
  'jitter',
  'backgroundRefresh',
  'defaultLifetime',
  'expirySkew',
  'leaseTtl',
  'waitTimeout',
  'pollInterval',
  'storeTimeout',
  'retryDelay',
  'retryMaxDelay',
  'keyPrefix',
  'maxEntries',
] as const;

/** Options of {@link TokenManager.getToken}. */
export interface GetTokenOptions {
  /** Stops waiting (the shared fetch carries on for other callers). */
  readonly signal?: AbortSignal | undefined;
}

type Settings = {
  -readonly [K in keyof typeof TOKEN_MANAGER_DEFAULTS]: (typeof TOKEN_MANAGER_DEFAULTS)[K];
} & {
  backgroundRefresh: boolean;
};

interface Entry {
  readonly key: string;
  readonly request: TokenRequest;
  /** The token served to callers, while valid. */
  token: Token | undefined;
  /** The newest token known, even invalidated or expired: carries the refresh token. */
  last: Token | undefined;
  refreshAt: number;
  inflight: Promise<Token> | undefined;
  timer: TimerHandle | undefined;
  failures: number;
  lastError: Error | undefined;
  nextRetryAt: number;
  unchangedCount: number;
}

const STORE_FAILED = Symbol('store failed');
const MAX_TIMER = 2_147_483_647;

/**
 * Caches tokens per key (provider id + scopes + audience + subject-token fingerprint), fetches once
 * for any number of concurrent callers (and, through the store's lease, across processes),
 * refreshes before expiry in the background, and keeps serving the current token while the issuer
 * is down until the token's hard expiry. Never exposes a token in events or {@link TokenManager.getTokenInfo}.
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
  readonly #store: TokenStore | undefined;
  readonly #clock: Clock;
  readonly #o: Settings;
  readonly #jitterFactor: number;
  // Bounded by maxEntries: the least recently served entry goes first; one being fetched stays.
  readonly #entries: BoundedMap<string, Entry>;
  // Cache keys by request object (checked against its fields on every use) and for the default request.
  readonly #keys = new WeakMap<
    TokenRequest,
    {
      key: string;
      scopes: TokenRequest['scopes'];
      scopesLength: number | undefined;
      audience: TokenRequest['audience'];
      subjectToken: TokenRequest['subjectToken'];
    }
  >();
  #defaultKey: string | undefined;
  readonly #closing = new AbortController();
  #closed = false;

  constructor(options: TokenManagerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'TokenManager expects an options object');
    }
    knownKeys('', options, OPTION_KEYS);
    const p = options.provider as TokenProvider | undefined;
    if (!p || typeof p.fetchToken !== 'function' || typeof p.id !== 'string') {
      throw new InvalidOptionError('provider', 'expected a token provider: { id, fetchToken(ctx) }');
    }
    if (options.store !== undefined && typeof options.store?.acquireLease !== 'function') {
      throw new InvalidOptionError('store', 'expected a TokenStore (get, set, delete, acquireLease, close)');
    }
    this.provider = p;
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    const d = TOKEN_MANAGER_DEFAULTS;
    const ratio = numberOption('refreshRatio', options.refreshRatio, d.refreshRatio);
    if (ratio >= 0.5)
      throw new InvalidOptionError('refreshRatio', `expected a number below 0.5, got ${ratio}`);
    this.#o = {
      refreshBuffer: numberOption('refreshBuffer', options.refreshBuffer, d.refreshBuffer),
      refreshRatio: ratio,
      jitter: numberOption('jitter', options.jitter, d.jitter),
      backgroundRefresh: options.backgroundRefresh ?? true,
      defaultLifetime: numberOption('defaultLifetime', options.defaultLifetime, d.defaultLifetime, 1),
      expirySkew: numberOption('expirySkew', options.expirySkew, d.expirySkew),
      leaseTtl: numberOption('leaseTtl', options.leaseTtl, d.leaseTtl, 1),
      waitTimeout: numberOption('waitTimeout', options.waitTimeout, d.waitTimeout),
      pollInterval: numberOption('pollInterval', options.pollInterval, d.pollInterval, 1),
      storeTimeout: numberOption('storeTimeout', options.storeTimeout, d.storeTimeout, 1),
      retryDelay: numberOption('retryDelay', options.retryDelay, d.retryDelay, 1),
      retryMaxDelay: numberOption('retryMaxDelay', options.retryMaxDelay, d.retryMaxDelay, 1),
      keyPrefix: options.keyPrefix ?? d.keyPrefix,
      maxEntries: Math.floor(numberOption('maxEntries', options.maxEntries, d.maxEntries, 1)),
    };
    if (typeof this.#o.backgroundRefresh !== 'boolean') {
      throw new InvalidOptionError('backgroundRefresh', 'expected a boolean');
    }
    this.#jitterFactor = 1 + Math.random() * this.#o.jitter;
    this.#entries = new BoundedMap(this.#o.maxEntries, {
      pinned: (entry) => entry.inflight !== undefined,
      onEvict: (entry) => this.#clearTimer(entry),
    });
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
    const entry = this.#entry(request);
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
    const entry = this.#entry(request);
    const token = entry.token;
    if (token === undefined) return undefined;
    const now = this.#clock.wallNow();
    if (now >= token.expiresAt - this.#o.expirySkew) {
      this.#expire(entry);
      return undefined;
    }
    this.#entries.get(entry.key); // a use: eviction passes over it at its next sweep
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
   * Drops a token so the next call fetches a new one. With `token`, only when it is still the cached
   * one (so many callers reporting the same 401 cause one refetch). Returns true when a token was dropped.
   */
  async invalidate(token?: Token, request?: TokenRequest, reason = 'manual'): Promise<boolean> {
    const entry = this.#entry(request);
    const current = entry.token;
    if (current === undefined) return false;
    if (token !== undefined && token.fingerprint() !== current.fingerprint()) return false;
    entry.token = undefined;
    entry.refreshAt = 0;
    this.#clearTimer(entry);
    this.events.emit('invalidated', { ...this.#base(entry), fingerprint: current.fingerprint(), reason });
    if (this.#store) {
      const stored = await this.#storeGet(entry);
      if (stored !== STORE_FAILED && stored?.fingerprint() === current.fingerprint()) {
        // Keep the refresh token: mark the access token expired instead of deleting the entry.
        await this.#storeSet(entry, withExpiry(stored, this.#clock.wallNow()));
      }
    }
    return true;
  }

  /** Drops every cached token (in this process; the store is left alone). */
  clear(): void {
    for (const entry of this.#entries.values()) {
      this.#clearTimer(entry);
      entry.token = undefined;
      entry.refreshAt = 0;
    }
  }

  /** A snapshot of the cached token for `request` (the provider defaults when omitted), without the token. */
  getTokenInfo(request?: TokenRequest): TokenInfo | undefined {
    const entry = this.#entries.peek(this.keyFor(request));
    return entry ? this.#info(entry) : undefined;
  }

  /** Snapshots of every cached token. */
  listTokenInfo(): TokenInfo[] {
    const out: TokenInfo[] = [];
    for (const entry of this.#entries.values()) {
      const info = this.#info(entry);
      if (info) out.push(info);
    }
    return out;
  }

  /** Resolves once no fetch is in flight (for tests and graceful shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.#entries.values()].flatMap((e) => (e.inflight ? [e.inflight] : []));
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  /** The cache key for a request: provider id, sorted scopes, audience, subject-token fingerprint. */
  keyFor(request?: TokenRequest): string {
    const r = this.#resolve(request);
    const scopes = r.scopes ? [...new Set(r.scopes)].sort().join(' ') : '';
    const subject = r.subjectToken ? fingerprint(r.subjectToken.reveal()) : '';
    return `${this.provider.id}|${scopes}|${r.audience ?? ''}|${subject}`;
  }

  /** Stops every timer, aborts fetches in flight and closes the provider. Later `getToken` calls fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) this.#clearTimer(entry);
    this.#closing.abort(new Error('The token manager was closed'));
    await this.provider.close?.();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals -------------------------------------------------------------------------------

  #resolve(request: TokenRequest | undefined): TokenRequest {
    const d = this.provider.defaults;
    if (!request) return d ?? {};
    return {
      scopes: request.scopes ?? d?.scopes,
      audience: request.audience ?? d?.audience,
      subjectToken: request.subjectToken ?? d?.subjectToken,
    };
  }

  #entry(request: TokenRequest | undefined): Entry {
    // Callers pass the same request object call after call: its key is computed once.
    let key: string;
    if (request === undefined) key = this.#defaultKey ??= this.keyFor(undefined);
    else {
      // Reused only while the object still holds the same fields, so a request changed in place (a new subject
      // token, other scopes) never gets the token of what it held before.
      const known = this.#keys.get(request);
      if (
        known !== undefined &&
        known.scopes === request.scopes &&
        known.scopesLength === request.scopes?.length &&
        known.audience === request.audience &&
        known.subjectToken === request.subjectToken
      ) {
        key = known.key;
      } else {
        key = this.keyFor(request);
        this.#keys.set(request, {
          key,
          scopes: request.scopes,
          scopesLength: request.scopes?.length,
          audience: request.audience,
          subjectToken: request.subjectToken,
        });
      }
    }
    let entry = this.#entries.peek(key);
    if (!entry) {
      entry = {
        key,
        request: this.#resolve(request),
        token: undefined,
        last: undefined,
        refreshAt: 0,
        inflight: undefined,
        timer: undefined,
        failures: 0,
        lastError: undefined,
        nextRetryAt: 0,
        unchangedCount: 0,
      };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  #base(entry: Entry): { key: string; provider: string } {
    return { key: entry.key, provider: this.provider.id };
  }

  #info(entry: Entry): TokenInfo | undefined {
    const t = entry.token ?? entry.last;
    if (!t) return undefined;
    const now = this.#clock.wallNow();
    const valid = entry.token !== undefined && now < t.expiresAt - this.#o.expirySkew;
    return {
      key: entry.key,
      fingerprint: t.fingerprint(),
      tokenType: t.tokenType,
      issuedAt: t.issuedAt,
      expiresAt: t.expiresAt,
      refreshAt: entry.refreshAt,
      expiresIn: t.expiresAt - now,
      state: !valid ? 'expired' : entry.inflight ? 'refreshing' : entry.failures > 0 ? 'stale' : 'valid',
      hasRefreshToken: t.refreshToken !== undefined,
      scope: t.scope,
      failures: entry.failures,
      lastErrorCode: entry.lastError
        ? String((entry.lastError as { code?: unknown }).code ?? entry.lastError.name)
        : undefined,
    };
  }

  #refresh(entry: Entry): Promise<Token> {
    return this.#singleFlight(entry, entry.token);
  }

  #singleFlight(entry: Entry, replacing: Token | undefined): Promise<Token> {
    if (entry.inflight) return entry.inflight;
    const p = this.#acquire(entry, replacing).finally(() => {
      if (entry.inflight === p) entry.inflight = undefined;
    });
    entry.inflight = p;
    return p;
  }

  async #acquire(entry: Entry, replacing: Token | undefined): Promise<Token> {
    try {
      const { token, source } = await this.#obtain(entry, replacing);
      this.#install(entry, token, source);
      return token;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      this.#onFailure(entry, err);
      if (isReqforgeError(err)) throw err;
      throw new TokenUnavailableError(entry.key, { cause: err });
    }
  }

  /** True when a stored token can be adopted instead of fetching. */
  #fresh(token: Token, replacing: Token | undefined): boolean {
    const now = this.#clock.wallNow();
    if (now >= token.expiresAt - this.#o.expirySkew) return false;
    if (replacing === undefined) return true;
    return token.fingerprint() !== replacing.fingerprint() && now < this.#refreshAtOf(token);
  }

  async #obtain(
    entry: Entry,
    replacing: Token | undefined,
  ): Promise<{ token: Token; source: 'provider' | 'store' }> {
    const store = this.#store;
    if (!store) return { token: await this.#fetch(entry, entry.last), source: 'provider' };
    const first = await this.#storeGet(entry);
    if (first !== STORE_FAILED && first && this.#fresh(first, replacing))
      return { token: first, source: 'store' };
    const known = () => (first !== STORE_FAILED && first ? newest(first, entry.last) : entry.last);
    const waitUntil = this.#clock.now() + this.#o.waitTimeout;
    let delay = this.#o.pollInterval;
    for (;;) {
      const lease = await this.#storeLease(entry);
      if (lease === STORE_FAILED) {
        // The store cannot coordinate: fetch directly, keep the in-process copy, write back best-effort.
        const token = await this.#fetch(entry, known());
        await this.#storeSet(entry, token);
        return { token, source: 'provider' };
      }
      if (lease) {
        try {
          // Re-read inside the lease: another process may have written while we waited for it.
          const again = await this.#storeGet(entry);
          const current = again !== STORE_FAILED && again ? newest(again, entry.last) : known();
          if (again !== STORE_FAILED && again && this.#fresh(again, replacing)) {
            return { token: again, source: 'store' };
          }
          const token = await this.#fetch(entry, current);
          await this.#storeSet(entry, token);
          return { token, source: 'provider' };
        } finally {
          await lease.release().catch((error: unknown) => this.#storeError(entry, 'release', error));
        }
      }
      const left = waitUntil - this.#clock.now();
      if (left <= 0) {
        // The holder is slow or gone: fetch ourselves rather than hang.
        const token = await this.#fetch(entry, known());
        await this.#storeSet(entry, token);
        return { token, source: 'provider' };
      }
      await this.#clock.sleep(Math.min(delay, left), this.#closing.signal);
      delay = Math.min(delay * 2, 1000);
      const polled = await this.#storeGet(entry);
      if (polled !== STORE_FAILED && polled && this.#fresh(polled, replacing)) {
        return { token: polled, source: 'store' };
      }
    }
  }

  async #fetch(entry: Entry, current: Token | undefined): Promise<Token> {
    const started = this.#clock.wallNow();
    const result = await this.provider.fetchToken({
      request: entry.request,
      current,
      signal: this.#closing.signal,
      clock: this.#clock,
      reread: async () => {
        const t = await this.#storeGet(entry);
        return t === STORE_FAILED ? undefined : t;
      },
    });
    if (this.#closed) throw new Error('The token manager was closed');
    return result instanceof Token
      ? result
      : createToken(result, started, { defaultLifetime: this.#o.defaultLifetime });
  }

  #refreshAtOf(token: Token): number {
    const latest = token.expiresAt - this.#o.expirySkew;
    if (token.refreshHint !== undefined) return Math.min(token.refreshHint, latest);
    const lifetime = Math.max(0, token.expiresAt - token.issuedAt);
    const buffer = Math.min(
      Math.max(this.#o.refreshBuffer, this.#o.refreshRatio * lifetime) * this.#jitterFactor,
      lifetime / 2,
    );
    return Math.min(token.expiresAt - buffer, latest);
  }

  #install(entry: Entry, token: Token, source: 'provider' | 'store'): void {
    const previous = entry.token ?? entry.last;
    const now = this.#clock.wallNow();
    entry.token = token;
    entry.last = token;
    entry.failures = 0;
    entry.lastError = undefined;
    entry.nextRetryAt = 0;
    entry.refreshAt = this.#refreshAtOf(token);
    const unchanged =
      previous !== undefined &&
      previous.fingerprint() === token.fingerprint() &&
      token.expiresAt <= previous.expiresAt;
    if (unchanged) {
      // The issuer handed back the same token: do not ask again at once, back off instead.
      entry.unchangedCount++;
      entry.refreshAt = Math.max(entry.refreshAt, now + this.#backoff(entry.unchangedCount));
    } else {
      entry.unchangedCount = 0;
    }
    if (previous === undefined) {
      this.events.emit('acquired', {
        ...this.#base(entry),
        fingerprint: token.fingerprint(),
        expiresAt: token.expiresAt,
        source,
      });
    } else {
      this.events.emit('refreshed', {
        ...this.#base(entry),
        fingerprint: token.fingerprint(),
        previousFingerprint: previous.fingerprint(),
        expiresAt: token.expiresAt,
        source,
        unchanged,
      });
    }
    this.#schedule(entry, entry.refreshAt - now);
  }

  #onFailure(entry: Entry, error: Error): void {
    entry.failures++;
    entry.lastError = error;
    const now = this.#clock.wallNow();
    const token = entry.token;
    const serving = token !== undefined && now < token.expiresAt - this.#o.expirySkew;
    let retryIn: number | undefined;
    if (serving && !this.#closed) {
      const untilExpiry = token.expiresAt - this.#o.expirySkew - now;
      retryIn = Math.max(1, Math.min(this.#backoff(entry.failures), untilExpiry));
      entry.nextRetryAt = now + retryIn;
      if (this.#o.backgroundRefresh) this.#schedule(entry, retryIn);
    } else if (token !== undefined) {
      this.#expire(entry);
    }
    this.events.emit('failed', { ...this.#base(entry), error, failures: entry.failures, retryIn, serving });
  }

  #expire(entry: Entry): void {
    const token = entry.token;
    if (!token) return;
    entry.token = undefined;
    entry.refreshAt = 0;
    this.#clearTimer(entry);
    this.events.emit('expired', { ...this.#base(entry), fingerprint: token.fingerprint() });
  }

  #backoff(n: number): number {
    const ceiling = Math.min(this.#o.retryMaxDelay, this.#o.retryDelay * 2 ** Math.min(n - 1, 30));
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  #schedule(entry: Entry, delay: number): void {
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

  #onTimer(entry: Entry): void {
    if (this.#closed || entry.inflight) return;
    const token = entry.token;
    if (!token) return;
    const now = this.#clock.wallNow();
    if (now >= token.expiresAt - this.#o.expirySkew) {
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

  #clearTimer(entry: Entry): void {
    if (entry.timer !== undefined) {
      this.#clock.clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  #storeKey(entry: Entry): string {
    return this.#o.keyPrefix + entry.key;
  }

  #storeError(entry: Entry, operation: string, error: unknown): void {
    this.events.emit('storeError', {
      ...this.#base(entry),
      store: this.#store?.name ?? 'none',
      operation,
      error: error instanceof Error ? error : new Error(String(error)),
    });
  }

  async #storeGet(entry: Entry): Promise<Token | undefined | typeof STORE_FAILED> {
    const store = this.#store;
    if (!store) return undefined;
    try {
      const text = await this.#withTimeout(store.get(this.#storeKey(entry)), 'get');
      return text === undefined ? undefined : deserializeToken(text);
    } catch (error) {
      this.#storeError(entry, 'get', error);
      return STORE_FAILED;
    }
  }

  async #storeSet(entry: Entry, token: Token): Promise<void> {
    const store = this.#store;
    if (!store) return;
    const now = this.#clock.wallNow();
    let until = token.expiresAt;
    if (token.refreshToken) until = Math.max(until, token.refreshExpiresAt ?? now + 30 * 86_400_000);
    const ttl = Math.floor(until - now);
    if (ttl <= 0) return;
    try {
      await this.#withTimeout(store.set(this.#storeKey(entry), serializeToken(token), ttl), 'set');
    } catch (error) {
      this.#storeError(entry, 'set', error);
    }
  }

  async #storeLease(entry: Entry): Promise<Lease | undefined | typeof STORE_FAILED> {
    const store = this.#store;
    if (!store) return STORE_FAILED;
    try {
      return await this.#withTimeout(
        store.acquireLease(`${this.#o.keyPrefix}lease:${entry.key}`, this.#o.leaseTtl),
        'acquireLease',
      );
    } catch (error) {
      this.#storeError(entry, 'acquireLease', error);
      return STORE_FAILED;
    }
  }

  #withTimeout<T>(promise: Promise<T>, operation: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(
        () => reject(new Error(`The token store did not answer ${operation} in ${this.#o.storeTimeout} ms`)),
        this.#o.storeTimeout,
      );
      promise.then(
        (value) => {
          this.#clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          this.#clock.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}

function newest(a: Token, b: Token | undefined): Token {
  return b !== undefined && b.issuedAt > a.issuedAt ? b : a;
}

function noop(): void {}

/** @internal races a promise against an abort signal (the promise keeps running for others). */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal || signal === NEVER_ABORTED) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
