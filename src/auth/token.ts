import { inspect } from 'node:util';
import { REDACTED, Secret } from '../core/secret.js';

/**
 * What a token provider returns. Give the expiry as `expiresIn` (seconds, as OAuth2 sends it) or
 * `expiresAt` (epoch ms); without either, a JWT's `exp` claim is used, else the manager's default lifetime.
 */
export interface TokenInit {
  /** The access token. */
  readonly accessToken: string | Secret;
  /**
   * The scheme used in the `Authorization` header.
   * @default 'Bearer'
   */
  readonly tokenType?: string | undefined;
  /** Lifetime in seconds from now (OAuth2 `expires_in`). */
  readonly expiresIn?: number | undefined;
  /** Absolute expiry in epoch milliseconds (local clock). */
  readonly expiresAt?: number | undefined;
  /** Seconds from now after which the token should be refreshed (MSAL `refresh_in`). */
  readonly refreshIn?: number | undefined;
  /** A refresh token, if the grant returned one. */
  readonly refreshToken?: string | Secret | undefined;
  /** Lifetime of the refresh token in seconds, when the server says so. */
  readonly refreshExpiresIn?: number | undefined;
  /** Granted scopes, space separated. */
  readonly scope?: string | undefined;
  /**
   * The server's clock (epoch ms, from the response `Date` header) when the token was issued. Used to
   * correct absolute expiries (JWT `exp`) for clock offset between this host and the issuer.
   */
  readonly serverDate?: number | undefined;
}

/** Where a token's expiry came from. */
export type ExpirySource = 'expires_in' | 'expires_at' | 'jwt' | 'default';

/**
 * An access token with its timing. The token and refresh token are {@link Secret}s: printing,
 * inspecting or serialising a Token never shows them. All times are wall-clock epoch milliseconds
 * on the local clock (server clock offset already applied).
 */
export class Token {
  /** The access token. */
  readonly value: Secret;
  /** Authorization scheme, such as `Bearer`. */
  readonly tokenType: string;
  /** When the token was received. */
  readonly issuedAt: number;
  /** Hard expiry: the token must not be sent after this instant. */
  readonly expiresAt: number;
  /** Where {@link Token.expiresAt} came from. */
  readonly expirySource: ExpirySource;
  /** When the issuer asked for a refresh (`refresh_in`), if it did. */
  readonly refreshHint: number | undefined;
  /** The refresh token, if any. */
  readonly refreshToken: Secret | undefined;
  /** When the refresh token stops being usable, if known. */
  readonly refreshExpiresAt: number | undefined;
  /** Granted scopes, space separated. */
  readonly scope: string | undefined;
  readonly #fingerprint: string;

  /** @internal use {@link createToken}. */
  constructor(init: {
    value: Secret;
    tokenType: string;
    issuedAt: number;
    expiresAt: number;
    expirySource: ExpirySource;
    refreshHint?: number | undefined;
    refreshToken?: Secret | undefined;
    refreshExpiresAt?: number | undefined;
    scope?: string | undefined;
  }) {
    this.value = init.value;
    this.tokenType = init.tokenType;
    this.issuedAt = init.issuedAt;
    this.expiresAt = init.expiresAt;
    this.expirySource = init.expirySource;
    this.refreshHint = init.refreshHint;
    this.refreshToken = init.refreshToken;
    this.refreshExpiresAt = init.refreshExpiresAt;
    this.scope = init.scope;
    this.#fingerprint = init.value.fingerprint();
  }

  /** A one-way fingerprint of the access token, safe to log and compare. */
  fingerprint(): string {
    return this.#fingerprint;
  }

  /** Lifetime in milliseconds, from receipt to hard expiry. */
  get lifetime(): number {
    return this.expiresAt - this.issuedAt;
  }

  /**
   * Whether the token is past its hard expiry at `now` (wall-clock epoch ms, as {@link Token.expiresAt}), less
   * `skew` ms of margin: `isExpired(Date.now(), 30_000)` is true 30 s before the expiry. A manager refreshes well
   * before this; use it for a token you hold yourself.
   * @param now defaults to `Date.now()`; pass a fake clock's `wallNow()` in tests
   * @param skew defaults to 0
   */
  isExpired(now: number = Date.now(), skew = 0): boolean {
    return now + skew >= this.expiresAt;
  }

  /** The `Authorization` header value, such as `Bearer eyJ…`. Reveals the token: send it, never log it. */
  authorization(): string {
    return `${this.tokenType} ${this.value.reveal()}`;
  }

  /** A redacted description for logs. */
  toJSON(): Record<string, unknown> {
    return {
      token: REDACTED,
      fingerprint: this.#fingerprint,
      tokenType: this.tokenType,
      issuedAt: new Date(this.issuedAt).toISOString(),
      expiresAt: new Date(this.expiresAt).toISOString(),
      hasRefreshToken: this.refreshToken !== undefined,
      scope: this.scope,
    };
  }

  toString(): string {
    return `Token(${this.#fingerprint})`;
  }

  [inspect.custom](_depth: number, options: object): string {
    return `Token ${inspect(this.toJSON(), options)}`;
  }
}

/** The default lifetime of a token whose expiry is unknown: 1 hour. */
export const DEFAULT_TOKEN_LIFETIME = 3_600_000;

/**
 * Builds a {@link Token} from a provider's answer.
 * @param now the local wall-clock time of receipt (epoch ms)
 * @param offset server clock minus local clock in ms, applied to absolute expiries from the server (JWT `exp`)
 */
export function createToken(
  init: TokenInit | string,
  now: number,
  options: { defaultLifetime?: number; offset?: number } = {},
): Token {
  const t: TokenInit = typeof init === 'string' ? { accessToken: init } : init;
  const value = Secret.from(t.accessToken);
  if (value.isEmpty) throw new TypeError('The access token is empty');
  let expiresAt: number;
  let expirySource: ExpirySource;
  if (isFiniteNumber(t.expiresIn)) {
    expiresAt = now + t.expiresIn * 1000;
    expirySource = 'expires_in';
  } else if (isFiniteNumber(t.expiresAt)) {
    expiresAt = t.expiresAt;
    expirySource = 'expires_at';
  } else {
    const exp = jwtExpiry(value.reveal());
    if (exp !== undefined) {
      expiresAt = exp - (options.offset ?? clockOffset(t.serverDate, now));
      expirySource = 'jwt';
    } else {
      expiresAt = now + (options.defaultLifetime ?? DEFAULT_TOKEN_LIFETIME);
      expirySource = 'default';
    }
  }
  const refreshToken = t.refreshToken === undefined ? undefined : Secret.from(t.refreshToken);
  return new Token({
    value,
    tokenType: normaliseType(t.tokenType),
    issuedAt: now,
    expiresAt,
    expirySource,
    refreshHint: isFiniteNumber(t.refreshIn) && t.refreshIn > 0 ? now + t.refreshIn * 1000 : undefined,
    refreshToken: refreshToken && !refreshToken.isEmpty ? refreshToken : undefined,
    refreshExpiresAt: isFiniteNumber(t.refreshExpiresIn) ? now + t.refreshExpiresIn * 1000 : undefined,
    scope: t.scope,
  });
}

/**
 * Server clock minus local clock, from a `Date` header value. `Date` has one-second resolution,
 * so offsets within 2 s are treated as none.
 */
export function clockOffset(serverDate: number | undefined, localNow: number): number {
  if (serverDate === undefined || !Number.isFinite(serverDate)) return 0;
  const offset = serverDate - localNow;
  return Math.abs(offset) <= 2000 ? 0 : offset;
}

/** @internal a copy of a token with another hard expiry (used to mark an invalidated token in a store). */
export function withExpiry(token: Token, expiresAt: number): Token {
  return new Token({
    value: token.value,
    tokenType: token.tokenType,
    issuedAt: token.issuedAt,
    expiresAt,
    expirySource: token.expirySource,
    refreshHint: undefined,
    refreshToken: token.refreshToken,
    refreshExpiresAt: token.refreshExpiresAt,
    scope: token.scope,
  });
}

function normaliseType(type: string | undefined): string {
  if (!type || type.toLowerCase() === 'bearer') return 'Bearer';
  return type;
}

function isFiniteNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** The `exp` claim of a JWT in epoch ms, or undefined when the value is not a JWT with a numeric `exp`. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return isFiniteNumber(payload.exp) ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** @internal serialises a token for a TokenStore (the store holds opaque strings). */
export function serializeToken(token: Token): string {
  return JSON.stringify({
    v: 1,
    a: token.value.reveal(),
    t: token.tokenType,
    i: token.issuedAt,
    e: token.expiresAt,
    s: token.expirySource,
    h: token.refreshHint,
    r: token.refreshToken?.reveal(),
    re: token.refreshExpiresAt,
    sc: token.scope,
  });
}

/** @internal parses a stored token; undefined for anything malformed (a miss, never an error). */
export function deserializeToken(text: string): Token | undefined {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (o.v !== 1 || typeof o.a !== 'string' || !o.a || !isFiniteNumber(o.e) || !isFiniteNumber(o.i)) {
      return undefined;
    }
    return new Token({
      value: new Secret(o.a),
      tokenType: typeof o.t === 'string' ? o.t : 'Bearer',
      issuedAt: o.i,
      expiresAt: o.e,
      expirySource: (typeof o.s === 'string' ? o.s : 'expires_at') as ExpirySource,
      refreshHint: isFiniteNumber(o.h) ? o.h : undefined,
      refreshToken: typeof o.r === 'string' && o.r ? new Secret(o.r) : undefined,
      refreshExpiresAt: isFiniteNumber(o.re) ? o.re : undefined,
      scope: typeof o.sc === 'string' ? o.sc : undefined,
    });
  } catch {
    return undefined;
  }
}
