import { z } from 'zod';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { type Duration, duration, int, objectWith, parseOptions } from '../core/options/index.js';
import { MemoryTokenStore } from '../stores/memory.js';
import { ResilientTokenStore } from '../stores/resilient.js';
import type { TokenStore } from '../stores/types.js';
import { checkIdentityForStore } from './identity.js';
import { DEFAULT_TOKEN_LIFETIME } from './token.js';
import type { TokenProvider } from './types.js';

// Options of the TokenManager, their defaults and their validation: one room, so the manager itself only
// ever sees checked settings.

/**
 * Options of {@link TokenManager} (see token-manager.ts). Durations are milliseconds or a string such as `'30s'`;
 * unknown keys are refused with a did-you-mean.
 */
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
  readonly refreshBuffer?: Duration | undefined;
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
  readonly defaultLifetime?: Duration | undefined;
  /**
   * A token is treated as expired this many ms before its hard expiry, to cover transit time; at most 10 % of
   * the token's lifetime, so a short-lived token is not expired on arrival.
   * @default 5000
   */
  readonly expirySkew?: Duration | undefined;
  /**
   * How long the single-flight lease in the store lasts, in ms; a holder that dies frees it after this.
   * @default 15000
   */
  readonly leaseTtl?: Duration | undefined;
  /**
   * How long a process waits for another one's fetch before fetching itself, in ms.
   * @default 10000
   */
  readonly waitTimeout?: Duration | undefined;
  /**
   * First poll interval while waiting for another process's fetch, in ms (doubles up to 1 s).
   * @default 25
   */
  readonly pollInterval?: Duration | undefined;
  /**
   * A store operation that takes longer than this is treated as failed (a miss), in ms. The manager wraps its
   * store in a {@link ResilientTokenStore} with this timeout (a store that already is one keeps its own, and
   * setting both is refused).
   * @default 1000 (a healthy store answers in a few ms; a call should not wait longer than this on an outage)
   */
  readonly storeTimeout?: Duration | undefined;
  /**
   * First delay before retrying a failed background refresh, in ms; doubles up to `retryMaxDelay`.
   * @default 1000
   */
  readonly retryDelay?: Duration | undefined;
  /**
   * @default 30000
   */
  readonly retryMaxDelay?: Duration | undefined;
  /**
   * Least time between two forced refreshes of one token (a 401 from the upstream, or `invalidate()` by hand or
   * by an admin action), in ms. A replacement that also draws a 401 sooner is dropped and calls fail fast with
   * `TokenUnavailableError` (with `retryAfter`) until the interval has passed; a manual `invalidate()` sooner
   * does nothing. So an upstream that rejects every token causes at most two token requests per minute.
   * @default 30000 (long enough to protect the IdP, short enough that a rotated key heals within a minute)
   */
  readonly forcedRefreshInterval?: Duration | undefined;
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
 * The fields of {@link TokenManagerOptions} that can be written as data (durations as milliseconds or `'30s'`),
 * for the gateway's configuration schema to spread.
 */
export const tokenManagerFields = {
  refreshBuffer: duration().optional(),
  refreshRatio: z.number().min(0).lt(0.5).optional(),
  jitter: z.number().min(0).optional(),
  backgroundRefresh: z.boolean().optional(),
  defaultLifetime: duration({ positive: true }).optional(),
  expirySkew: duration().optional(),
  leaseTtl: duration({ positive: true }).optional(),
  waitTimeout: duration().optional(),
  pollInterval: duration({ positive: true }).optional(),
  storeTimeout: duration({ positive: true }).optional(),
  retryDelay: duration({ positive: true }).optional(),
  retryMaxDelay: duration({ positive: true }).optional(),
  forcedRefreshInterval: duration().optional(),
  keyPrefix: z.string().optional(),
  maxEntries: int(1).optional(),
};

/** Everything `new TokenManager()` takes: the data fields plus the provider, the store and the clock. */
export const tokenManagerOptionsSchema = z.strictObject({
  ...tokenManagerFields,
  provider: z.custom<TokenProvider>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as TokenProvider).fetchToken === 'function' &&
      typeof (v as TokenProvider).id === 'string',
    { error: 'expected a token provider: { id, fetchToken(ctx) }' },
  ),
  store: objectWith<TokenStore>('a TokenStore (get, set, delete, acquireLease, close)', [
    'get',
    'set',
    'delete',
    'acquireLease',
  ]).optional(),
  clock: objectWith<Clock>('a clock with now(), wallNow(), setTimeout() and clearTimeout()', [
    'now',
    'wallNow',
    'setTimeout',
    'clearTimeout',
  ]).optional(),
});

/**
 * @internal validates {@link TokenManagerOptions} through the options layer (unknown keys with a did-you-mean,
 * types, ranges, durations as number or string), naming the option and never printing a value, and applies
 * {@link TOKEN_MANAGER_DEFAULTS}.
 */
export function resolveTokenManagerOptions(options: TokenManagerOptions): ResolvedTokenManagerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'TokenManager expects an options object');
  }
  const o = parseOptions(tokenManagerOptionsSchema, options);
  // A provider without a token endpoint must be told apart from others in a shared store (credential identity).
  checkIdentityForStore(o.provider as TokenProvider, o.store as TokenStore | undefined);
  const d = TOKEN_MANAGER_DEFAULTS;
  const settings: TokenManagerSettings = {
    refreshBuffer: o.refreshBuffer ?? d.refreshBuffer,
    refreshRatio: o.refreshRatio ?? d.refreshRatio,
    jitter: o.jitter ?? d.jitter,
    backgroundRefresh: o.backgroundRefresh ?? true,
    defaultLifetime: o.defaultLifetime ?? d.defaultLifetime,
    expirySkew: o.expirySkew ?? d.expirySkew,
    leaseTtl: o.leaseTtl ?? d.leaseTtl,
    waitTimeout: o.waitTimeout ?? d.waitTimeout,
    pollInterval: o.pollInterval ?? d.pollInterval,
    storeTimeout: o.storeTimeout ?? d.storeTimeout,
    retryDelay: o.retryDelay ?? d.retryDelay,
    retryMaxDelay: o.retryMaxDelay ?? d.retryMaxDelay,
    forcedRefreshInterval: o.forcedRefreshInterval ?? d.forcedRefreshInterval,
    keyPrefix: o.keyPrefix ?? d.keyPrefix,
    maxEntries: o.maxEntries ?? d.maxEntries,
  };
  if (o.storeTimeout !== undefined && o.store instanceof ResilientTokenStore) {
    throw new InvalidOptionError(
      'storeTimeout',
      'the store is already a ResilientTokenStore with its own timeoutMs: set the timeout there, not here',
    );
  }
  return { provider: o.provider, store: o.store, clock: o.clock ?? systemClock, settings };
}
