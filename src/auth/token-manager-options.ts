import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { MemoryTokenStore } from '../stores/memory.js';
import { ResilientTokenStore } from '../stores/resilient.js';
import type { TokenStore } from '../stores/types.js';
import { DEFAULT_TOKEN_LIFETIME } from './token.js';
import type { TokenProvider } from './types.js';
import { knownKeys, numberOption } from './validate.js';

// Options of the TokenManager, their defaults and their validation: one room, so the manager itself only
// ever sees checked settings.

/** Options of {@link TokenManager} (see token-manager.ts). */
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
   * Refresh when the remaining usable lifetime drops below max(`refreshBuffer`, `refreshRatio` × lifetime)
   * (times the jitter), but at most 20 % of the lifetime, so a short-lived token is still used for most of its life.
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
   * A token is treated as expired this many ms before its hard expiry, to cover transit time; at most 10 % of
   * the token's lifetime, so a short-lived token is not expired on arrival.
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
   * A store operation that takes longer than this is treated as failed (a miss), in ms. The manager wraps its
   * store in a {@link ResilientTokenStore} with this timeout (a store that already is one keeps its own, and
   * setting both is refused).
   * @default 1000 (a healthy store answers in a few ms; a call should not wait longer than this on an outage)
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
   * Least time between two forced refreshes of one token (a 401 from the upstream, or `invalidate()` by hand or
   * by an admin action), in ms. A replacement that also draws a 401 sooner is dropped and calls fail fast with
   * `TokenUnavailableError` (with `retryAfter`) until the interval has passed; a manual `invalidate()` sooner
   * does nothing. So an upstream that rejects every token causes at most two token requests per minute.
   * @default 30000 (long enough to protect the IdP, short enough that a rotated key heals within a minute)
   */
  readonly forcedRefreshInterval?: number | undefined;
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
  forcedRefreshInterval: number;
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
  storeTimeout: 1_000,
  retryDelay: 1_000,
  retryMaxDelay: 30_000,
  forcedRefreshInterval: 30_000,
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
  'forcedRefreshInterval',
  'keyPrefix',
  'maxEntries',
] as const;

/** @internal the checked settings of a {@link TokenManager}, defaults applied. */
export type TokenManagerSettings = {
  -readonly [K in keyof typeof TOKEN_MANAGER_DEFAULTS]: (typeof TOKEN_MANAGER_DEFAULTS)[K];
} & {
  backgroundRefresh: boolean;
};

/**
 * @internal the store the manager talks to: a {@link ResilientTokenStore} (timeouts, outage = miss, in-process
 * copy), `owned` when the manager created the wrapper itself. A memory store is used as it is: it cannot fail.
 */
export function resilientStore(
  store: TokenStore | undefined,
  clock: Clock,
  settings: TokenManagerSettings,
): { store: TokenStore | undefined; owned: ResilientTokenStore | undefined } {
  if (store === undefined || store instanceof ResilientTokenStore || store instanceof MemoryTokenStore) {
    return { store, owned: undefined };
  }
  const owned = new ResilientTokenStore(store, { clock, timeoutMs: settings.storeTimeout });
  return { store: owned, owned };
}

/** @internal what the manager is built from once its options passed validation. */
export interface ResolvedTokenManagerOptions {
  readonly provider: TokenProvider;
  readonly store: TokenStore | undefined;
  readonly clock: Clock;
  readonly settings: TokenManagerSettings;
}

/**
 * @internal validates {@link TokenManagerOptions} (unknown keys, types, ranges), naming the option and never
 * printing a value, and applies {@link TOKEN_MANAGER_DEFAULTS}.
 */
export function resolveTokenManagerOptions(options: TokenManagerOptions): ResolvedTokenManagerOptions {
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
  const d = TOKEN_MANAGER_DEFAULTS;
  const ratio = numberOption('refreshRatio', options.refreshRatio, d.refreshRatio);
  if (ratio >= 0.5) throw new InvalidOptionError('refreshRatio', `expected a number below 0.5, got ${ratio}`);
  const settings: TokenManagerSettings = {
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
    forcedRefreshInterval: numberOption(
      'forcedRefreshInterval',
      options.forcedRefreshInterval,
      d.forcedRefreshInterval,
    ),
    keyPrefix: options.keyPrefix ?? d.keyPrefix,
    maxEntries: Math.floor(numberOption('maxEntries', options.maxEntries, d.maxEntries, 1)),
  };
  if (typeof settings.backgroundRefresh !== 'boolean') {
    throw new InvalidOptionError('backgroundRefresh', 'expected a boolean');
  }
  if (options.storeTimeout !== undefined && options.store instanceof ResilientTokenStore) {
    throw new InvalidOptionError(
      'storeTimeout',
      'the store is already a ResilientTokenStore with its own timeoutMs: set the timeout there, not here',
    );
  }
  return { provider: p, store: options.store, clock: options.clock ?? systemClock, settings };
}
