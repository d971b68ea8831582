import type { Clock } from '../core/clock.js';
import type { Secret } from '../core/secret.js';
import type { Token, TokenInit } from './token.js';

/** What a token is wanted for; part of the cache key. */
export interface TokenRequest {
  /** Scopes to ask for; order does not matter. */
  readonly scopes?: readonly string[] | undefined;
  /** The audience the token is for, sent as the `audience` form field (Auth0's convention). */
  readonly audience?: string | undefined;
  /**
   * The resource(s) the token is for, sent as one `resource` form field each (RFC 8707, read by Okta, Keycloak,
   * Azure AD v1 and most standard servers, which ignore `audience`). Order does not matter.
   */
  readonly resource?: string | readonly string[] | undefined;
  /** An upstream token being exchanged (token exchange, on-behalf-of); only its fingerprint enters the key. */
  readonly subjectToken?: Secret | undefined;
}

/** What a provider gets when asked for a token. */
export interface FetchTokenContext {
  /** Scopes, audience, resource and subject token asked for (provider defaults applied). */
  readonly request: TokenRequest;
  /**
   * The newest token known for this key, possibly expired: re-read from the shared store under the
   * lease, so its refresh token is the latest one. Undefined on a cold start.
   */
  readonly current: Token | undefined;
  /** Aborts when the manager closes. */
  readonly signal: AbortSignal;
  /** The manager's clock. */
  readonly clock: Clock;
  /** Reads the shared store again, for rotation safety (adopting a token another process rotated). */
  reread(): Promise<Token | undefined>;
}

/**
 * Anything that can produce tokens: OAuth2 grants, token pipelines, custom functions.
 * A {@link TokenManager} adds caching, single flight, refresh and events around it.
 */
export interface TokenProvider {
  /** Names the credentials in events and status, such as the OAuth2 client id. Never a secret. */
  readonly id: string;
  /**
   * Everything that makes this provider's tokens a distinct credential (token endpoint, grant type, client id,
   * subject, custom parameters; secret or personal parts hashed), the first part of every cache and store key.
   * The OAuth2 grants set it (see `grantIdentity`); a provider without one is keyed by `id`, which must then be
   * unique among the providers sharing a store.
   */
  readonly identity?: string | undefined;
  /**
   * True when `id` is a default nobody chose (a `TokenPipeline` without `id`): such a provider is refused with a
   * shared store, where its tokens could not be told apart from another's.
   */
  readonly defaultId?: boolean | undefined;
  /**
   * Lets a manager drop the tokens it derived from this provider when the provider's own state is invalidated
   * (a token pipeline step invalidated with cascade). Returns a function that unsubscribes.
   */
  onInvalidate?(listener: (reason: string) => void): () => void;
  /** Scopes, audience and resource used when a call asks for none. */
  readonly defaults?: TokenRequest | undefined;
  /** Fetches a new token. Return a string, a {@link TokenInit} or a {@link Token}. */
  fetchToken(ctx: FetchTokenContext): Promise<Token | TokenInit | string>;
  /** Releases what the provider owns (its HTTP client). */
  close?(): Promise<void>;
}

/** A snapshot of a cached token, without the token: safe for status pages and logs. */
export interface TokenInfo {
  /** The cache key: provider identity, scopes, audience, resource, subject-token fingerprint (see docs/storage.md). */
  readonly key: string;
  /** Fingerprint of the current token. */
  readonly fingerprint: string;
  readonly tokenType: string;
  /** Epoch ms. */
  readonly issuedAt: number;
  /** Epoch ms of hard expiry. */
  readonly expiresAt: number;
  /** Epoch ms when the next refresh is due. */
  readonly refreshAt: number;
  /** Milliseconds until hard expiry (negative once expired). */
  readonly expiresIn: number;
  /** `valid`, `refreshing` (a refresh is in flight), `stale` (refresh failing, still valid) or `expired`. */
  readonly state: 'valid' | 'refreshing' | 'stale' | 'expired';
  readonly hasRefreshToken: boolean;
  readonly scope: string | undefined;
  /** Consecutive failed refreshes. */
  readonly failures: number;
  /** Code of the last refresh error, if the last refresh failed. */
  readonly lastErrorCode: string | undefined;
  /**
   * Milliseconds until a forced refresh (`invalidate()`, a 401) may drop this token again (`forcedRefreshInterval`);
   * 0 when it may now.
   */
  readonly forcedRefreshIn: number;
}

/** Fields every token event carries. */
export interface TokenEventBase {
  /** The cache key (no secrets in it). */
  readonly key: string;
  /** The provider id, such as the client id. */
  readonly provider: string;
}

/** How a token fetch ran: for the background-job metrics (runs, failures, duration) of token refreshes. */
export interface TokenRunFields {
  /** Milliseconds the fetch (store read, lease and provider call) took. */
  readonly duration?: number;
  /** True for a refresh nobody waited for (refresh-ahead, the refresh timer); false when a call waited. */
  readonly background?: boolean;
}

/** Token lifecycle events. Payloads carry fingerprints, never tokens. */
export interface TokenEvents {
  /** A token was obtained where none was cached (from the provider or the shared store). */
  acquired: TokenEventBase &
    TokenRunFields & {
      readonly fingerprint: string;
      readonly expiresAt: number;
      readonly source: 'provider' | 'store';
    };
  /** A cached token was replaced by a newer one. `unchanged` is true when the issuer returned the same token. */
  refreshed: TokenEventBase &
    TokenRunFields & {
      readonly fingerprint: string;
      readonly previousFingerprint: string;
      readonly expiresAt: number;
      readonly source: 'provider' | 'store';
      readonly unchanged: boolean;
    };
  /** Fetching a token failed. `retryIn` is set when a background retry is scheduled. */
  failed: TokenEventBase &
    TokenRunFields & {
      readonly error: Error;
      readonly failures: number;
      readonly retryIn: number | undefined;
      /** True while the current token is still served. */
      readonly serving: boolean;
    };
  /** A token was dropped: a 401, an explicit `invalidate()`, or a cascading pipeline invalidation. */
  invalidated: TokenEventBase & { readonly fingerprint: string; readonly reason: string };
  /** A token reached its hard expiry before it could be replaced. */
  expired: TokenEventBase & { readonly fingerprint: string };
  /** A valid token was served from the cache. Emitted only when someone listens. */
  cacheHit: TokenEventBase & { readonly fingerprint: string };
  /** No valid token was cached; a fetch (or a wait for one) started. */
  cacheMiss: TokenEventBase;
  /** The shared store failed or timed out; the manager carried on with its in-process copy. */
  storeError: TokenEventBase & { readonly store: string; readonly operation: string; readonly error: Error };
}
