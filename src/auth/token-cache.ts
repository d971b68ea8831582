import { BoundedMap } from '../core/bounded-map.js';
import type { TimerHandle } from '../core/clock.js';
import { credentialKey } from './identity.js';
import type { Token } from './token.js';
import type { TokenManagerSettings } from './token-manager-options.js';
import { isUsable } from './token-timing.js';
import type { TokenInfo, TokenProvider, TokenRequest } from './types.js';

/** @internal the state the TokenManager keeps per token request (one cache key). */
export interface TokenEntry {
  readonly key: string;
  readonly request: TokenRequest;
  /** The token served to callers, while valid. */
  token: Token | undefined;
  /** Until when `token` may be sent (its hard expiry minus the skew), computed once when it is installed. */
  usableUntil: number;
  /** The newest token known, even invalidated or expired: carries the refresh token. */
  last: Token | undefined;
  refreshAt: number;
  inflight: Promise<Token> | undefined;
  timer: TimerHandle | undefined;
  failures: number;
  lastError: Error | undefined;
  nextRetryAt: number;
  unchangedCount: number;
  /** Fingerprints of the last tokens dropped by `invalidate()` (a 401): never served or adopted again. */
  revoked: string[];
  /** When the last forced refresh (a 401 or a manual invalidation) happened, epoch ms. */
  forcedAt: number;
  /** Until when calls fail fast because a replacement drew a 401 too soon (0: not blocked), epoch ms. */
  blockedUntil: number;
  /** The token endpoint's last refusal (`invalid_client` …), served to callers until `refusedUntil`. */
  refusal: Error | undefined;
  refusedUntil: number;
}

/** How many revoked fingerprints an entry remembers (a token rejected with 401 is never taken back). */
const REVOKED_KEPT = 8;

/** @internal remembers `fingerprint` as revoked for `entry`. */
export function remember(entry: TokenEntry, fingerprint: string): void {
  if (entry.revoked.includes(fingerprint)) return;
  entry.revoked.push(fingerprint);
  if (entry.revoked.length > REVOKED_KEPT) entry.revoked.shift();
}

interface KnownKey {
  key: string;
  scopes: TokenRequest['scopes'];
  scopesLength: number | undefined;
  audience: TokenRequest['audience'];
  resource: TokenRequest['resource'];
  resourceLength: number | undefined;
  subjectToken: TokenRequest['subjectToken'];
}

/**
 * @internal the TokenManager's cache: entries by key, bounded by `maxEntries` (the least recently served entry
 * goes first; one being fetched stays), and the key of each request object computed once.
 */
export class TokenCache {
  readonly #provider: TokenProvider;
  readonly #entries: BoundedMap<string, TokenEntry>;
  // Cache keys by request object (checked against its fields on every use) and for the default request.
  readonly #keys = new WeakMap<TokenRequest, KnownKey>();
  #defaultKey: string | undefined;

  constructor(provider: TokenProvider, maxEntries: number, onEvict: (entry: TokenEntry) => void) {
    this.#provider = provider;
    this.#entries = new BoundedMap(maxEntries, { pinned: (entry) => entry.inflight !== undefined, onEvict });
  }

  /** The cache key for a request: the credential identity (see `credentialKey` in identity.ts). */
  keyFor(request?: TokenRequest): string {
    return credentialKey(this.#provider, this.resolve(request));
  }

  /** The request with the provider's defaults applied. */
  resolve(request: TokenRequest | undefined): TokenRequest {
    const d = this.#provider.defaults;
    if (!request) return d ?? {};
    return {
      scopes: request.scopes ?? d?.scopes,
      audience: request.audience ?? d?.audience,
      resource: request.resource ?? d?.resource,
      subjectToken: request.subjectToken ?? d?.subjectToken,
    };
  }

  /** The entry for a request, created empty when missing. */
  entry(request: TokenRequest | undefined): TokenEntry {
    const key = this.#keyOf(request);
    let entry = this.#entries.peek(key);
    if (!entry) {
      entry = {
        key,
        request: this.resolve(request),
        token: undefined,
        usableUntil: 0,
        last: undefined,
        refreshAt: 0,
        inflight: undefined,
        timer: undefined,
        failures: 0,
        lastError: undefined,
        nextRetryAt: 0,
        unchangedCount: 0,
        revoked: [],
        forcedAt: Number.NEGATIVE_INFINITY,
        blockedUntil: 0,
        refusal: undefined,
        refusedUntil: 0,
      };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** The entry under `key` without counting it as a use. */
  peek(key: string): TokenEntry | undefined {
    return this.#entries.peek(key);
  }

  /** Counts a use of `key`: eviction passes over it at its next sweep. */
  touch(key: string): void {
    this.#entries.get(key);
  }

  /** Every entry. */
  values(): IterableIterator<TokenEntry> {
    return this.#entries.values();
  }

  #keyOf(request: TokenRequest | undefined): string {
    // Callers pass the same request object call after call: its key is computed once.
    if (request === undefined) {
      if (this.#defaultKey === undefined) this.#defaultKey = this.keyFor(undefined);
      return this.#defaultKey;
    }
    // Reused only while the object still holds the same fields, so a request changed in place (a new subject
    // token, other scopes) never gets the token of what it held before.
    const known = this.#keys.get(request);
    if (
      known !== undefined &&
      known.scopes === request.scopes &&
      known.scopesLength === request.scopes?.length &&
      known.audience === request.audience &&
      known.resource === request.resource &&
      known.resourceLength === (typeof request.resource === 'string' ? -1 : request.resource?.length) &&
      known.subjectToken === request.subjectToken
    ) {
      return known.key;
    }
    const key = this.keyFor(request);
    this.#keys.set(request, {
      key,
      scopes: request.scopes,
      scopesLength: request.scopes?.length,
      audience: request.audience,
      resource: request.resource,
      resourceLength: typeof request.resource === 'string' ? -1 : request.resource?.length,
      subjectToken: request.subjectToken,
    });
    return key;
  }
}

/** @internal a snapshot of an entry for status pages, without the token. */
export function entryInfo(entry: TokenEntry, now: number, o: TokenManagerSettings): TokenInfo | undefined {
  const t = entry.token ?? entry.last;
  if (!t) return undefined;
  const valid = entry.token !== undefined && isUsable(t, now, o);
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
    forcedRefreshIn: Math.max(0, entry.forcedAt + o.forcedRefreshInterval - now),
  };
}
