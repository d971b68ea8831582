import type { Client } from '../client/client.js';
import { InvalidOptionError as TokenOptionError } from '../core/errors.js';
import { isSecret, Secret } from '../core/secret.js';
import type { IssuerMetadata } from './discovery.js';
import { TokenEndpointError } from './errors.js';
import type { Token, TokenInit } from './token.js';
import { TokenEndpoint } from './token-endpoint.js';
import type { FetchTokenContext, TokenProvider, TokenRequest } from './types.js';
import { describe, knownKeys, stringOption } from './validate.js';

/** How the client authenticates to the token endpoint (RFC 6749 §2.3.1). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** Options shared by every OAuth2 grant. */
export interface OAuth2ClientOptions {
  /** The token endpoint, such as `https://idp.example.com/oauth/token`. Give this or `issuer`. */
  readonly tokenUrl?: string | undefined;
  /**
   * The issuer, such as `https://idp.example.com`: the token endpoint, the client authentication methods it
   * supports and its revocation endpoint are read from its metadata (`/.well-known/openid-configuration`, else RFC
   * 8414's `/.well-known/oauth-authorization-server`) on the first token request, once per issuer, and the
   * metadata's `issuer` must equal this value. Give this or `tokenUrl`.
   */
  readonly issuer?: string | undefined;
  /** The revocation endpoint (RFC 7009) for `revoke()`; with an `issuer`, its metadata's when left out. */
  readonly revocationUrl?: string | undefined;
  /** The OAuth2 client id. */
  readonly clientId: string;
  /** The client secret; omit it for public clients. Kept as a {@link Secret}. */
  readonly clientSecret?: string | Secret | undefined;
  /**
   * How the client id and secret are sent.
   * @default 'client_secret_basic' (the method every server must support), or 'none' without a secret; with an
   * `issuer`, the first of `client_secret_basic`, `client_secret_post` its metadata lists
   */
  readonly authMethod?: ClientAuthMethod | undefined;
  /** Default scopes to ask for. */
  readonly scopes?: readonly string[] | undefined;
  /**
   * Default audience, sent as the `audience` form field: Auth0's convention (also read by some Ping and Okta
   * custom setups). Standard RFC 8707 servers ignore it: use `resource` for those.
   */
  readonly audience?: string | undefined;
  /**
   * Default resource indicator(s), each sent as a `resource` form field (RFC 8707): Okta, Keycloak, Azure AD v1
   * and other standard servers read this one. Part of the token's identity, like `audience`.
   */
  readonly resource?: string | readonly string[] | undefined;
  /** Extra form fields for every token request; part of the token's identity (hashed in the key). */
  readonly extraParams?: Readonly<Record<string, string>> | undefined;
  /**
   * The reqforge client token requests go through. By default one is created with a 10 s total and
   * 5 s attempt timeout, and closed with the provider.
   */
  readonly client?: Client | undefined;
  /**
   * Timeout of one token request in ms, for the default client.
   * @default 10000
   */
  readonly timeout?: number | undefined;
}

const BASE_KEYS = [
  'tokenUrl',
  'issuer',
  'revocationUrl',
  'clientId',
  'clientSecret',
  'authMethod',
  'scopes',
  'audience',
  'resource',
  'extraParams',
  'client',
  'timeout',
] as const;

/** Options of {@link passwordGrant}. */
export interface PasswordGrantOptions extends OAuth2ClientOptions {
  /** The resource owner's user name. */
  readonly username: string;
  /** The resource owner's password. Kept as a {@link Secret}. */
  readonly password: string | Secret;
}

/** Options of {@link refreshTokenGrant}. */
export interface RefreshTokenGrantOptions extends OAuth2ClientOptions {
  /** The refresh token to start from; later ones come from rotation. Kept as a {@link Secret}. */
  readonly refreshToken: string | Secret;
}

function checkBase(options: unknown, extra: readonly string[]): asserts options is OAuth2ClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TokenOptionError('options', 'expected an options object');
  }
  knownKeys('', options, [...BASE_KEYS, ...extra]);
  const o = options as OAuth2ClientOptions;
  if (o.scopes !== undefined && (!Array.isArray(o.scopes) || o.scopes.some((s) => typeof s !== 'string'))) {
    throw new TokenOptionError('scopes', 'expected an array of strings');
  }
  if (o.audience !== undefined) stringOption('audience', o.audience);
  if (o.resource !== undefined) {
    const list = typeof o.resource === 'string' ? [o.resource] : o.resource;
    if (!Array.isArray(list) || list.length === 0) {
      throw new TokenOptionError('resource', 'expected a URI or a non-empty array of URIs');
    }
    for (const [i, r] of list.entries()) {
      stringOption(typeof o.resource === 'string' ? 'resource' : `resource[${i}]`, r);
    }
  }
  if (o.extraParams !== undefined) {
    if (typeof o.extraParams !== 'object' || o.extraParams === null || Array.isArray(o.extraParams)) {
      throw new TokenOptionError('extraParams', 'expected an object of form fields and string values');
    }
    for (const [k, v] of Object.entries(o.extraParams)) {
      if (typeof v !== 'string') {
        // The value may be a credential (an assertion): name its type only.
        const type = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
        throw new TokenOptionError(`extraParams.${k}`, `expected a string, got ${type}`);
      }
    }
  }
}

function defaultsOf(options: OAuth2ClientOptions): TokenRequest {
  return {
    ...(options.scopes ? { scopes: options.scopes } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
    ...(options.resource ? { resource: options.resource } : {}),
  };
}

/** A token provider backed by an OAuth2 grant; `close()` closes its HTTP client. */
export interface OAuth2Provider extends TokenProvider {
  /** The grant type, such as `client_credentials`. */
  readonly grant: string;
  /** The issuer's metadata (read once per issuer, on first use), or undefined when configured with `tokenUrl`. */
  metadata(): Promise<IssuerMetadata | undefined>;
  /**
   * Revokes a token (RFC 7009) at `revocationUrl` or the issuer's `revocation_endpoint`, authenticated like token
   * requests. Pair it with `manager.invalidate(token)` so the manager stops serving it.
   */
  revoke(token: Token | Secret | string, hint?: 'access_token' | 'refresh_token'): Promise<void>;
  close(): Promise<void>;
}

/** The parts every grant's provider shares. */
function endpointParts(endpoint: TokenEndpoint): Pick<OAuth2Provider, 'metadata' | 'revoke' | 'close'> {
  return {
    metadata: () => endpoint.metadata(),
    revoke: (token, hint) => endpoint.revoke(token, hint),
    close: () => endpoint.close(),
  };
}

/**
 * The OAuth2 client credentials grant (RFC 6749 §4.4), with `client_secret_basic` (default) or
 * `client_secret_post` client authentication.
 *
 * @example
 * const provider = clientCredentials({ tokenUrl, clientId: 'demo', clientSecret: new Secret('demo-secret') });
 */
export function clientCredentials(options: OAuth2ClientOptions): OAuth2Provider {
  checkBase(options, []);
  const endpoint = new TokenEndpoint(options);
  return {
    id: endpoint.clientId,
    identity: endpoint.identity('client_credentials'),
    grant: 'client_credentials',
    defaults: defaultsOf(options),
    fetchToken: (ctx) => endpoint.request({ grant_type: 'client_credentials' }, ctx.request),
    ...endpointParts(endpoint),
  };
}

/**
 * Refreshes with a refresh token, rotation-safe: the manager hands over the newest refresh token
 * (re-read from the shared store under its lease); on `invalid_grant`, a token another process
 * already rotated to is adopted rather than the session being lost.
 */
async function refreshFlow(
  endpoint: TokenEndpoint,
  ctx: FetchTokenContext,
  refreshToken: Secret,
): Promise<Token | TokenInit | undefined> {
  try {
    return keepRefreshToken(
      await endpoint.request(
        { grant_type: 'refresh_token', refresh_token: refreshToken.reveal() },
        ctx.request,
        [refreshToken],
      ),
      refreshToken,
    );
  } catch (error) {
    if (!(error instanceof TokenEndpointError) || error.error !== 'invalid_grant') throw error;
    const latest = await ctx.reread();
    const rotated = latest?.refreshToken;
    if (!latest || !rotated || rotated.fingerprint() === refreshToken.fingerprint()) return undefined;
    if (ctx.clock.wallNow() < latest.expiresAt) return latest;
    try {
      return keepRefreshToken(
        await endpoint.request(
          { grant_type: 'refresh_token', refresh_token: rotated.reveal() },
          ctx.request,
          [rotated],
        ),
        rotated,
      );
    } catch (again) {
      if (again instanceof TokenEndpointError && again.error === 'invalid_grant') return undefined;
      throw again;
    }
  }
}

/** RFC 6749 §6: when no new refresh token is issued, the old one stays valid. */
function keepRefreshToken(init: TokenInit, used: Secret): TokenInit {
  return init.refreshToken === undefined ? { ...init, refreshToken: used } : init;
}

/**
 * The resource owner password grant (RFC 6749 §4.3). Refresh tokens it returns are used (and rotated)
 * for later tokens; when a refresh token is rejected it falls back to the password.
 */
export function passwordGrant(options: PasswordGrantOptions): OAuth2Provider {
  checkBase(options, ['username', 'password']);
  const username = stringOption('username', options.username);
  if (!isSecret(options.password) && (typeof options.password !== 'string' || options.password === '')) {
    throw new TokenOptionError(
      'password',
      `expected a non-empty string or Secret, got ${describe(options.password)}`,
    );
  }
  const password = Secret.from(options.password);
  const endpoint = new TokenEndpoint(options);
  endpoint.guard(password);
  return {
    id: endpoint.clientId,
    identity: endpoint.identity('password', username),
    grant: 'password',
    defaults: defaultsOf(options),
    async fetchToken(ctx) {
      const rt = ctx.current?.refreshToken;
      if (rt) {
        const refreshed = await refreshFlow(endpoint, ctx, rt);
        if (refreshed) return refreshed;
      }
      return endpoint.request({ grant_type: 'password', username, password: password.reveal() }, ctx.request);
    },
    ...endpointParts(endpoint),
  };
}

/**
 * The refresh token grant (RFC 6749 §6) starting from a refresh token you already hold, such as one
 * from an authorization-code login. Rotation-safe across processes sharing a store.
 */
export function refreshTokenGrant(options: RefreshTokenGrantOptions): OAuth2Provider {
  checkBase(options, ['refreshToken']);
  if (
    !isSecret(options.refreshToken) &&
    (typeof options.refreshToken !== 'string' || !options.refreshToken)
  ) {
    throw new TokenOptionError(
      'refreshToken',
      `expected a non-empty string or Secret, got ${describe(options.refreshToken)}`,
    );
  }
  const initial = Secret.from(options.refreshToken);
  const endpoint = new TokenEndpoint(options);
  endpoint.guard(initial);
  return {
    id: endpoint.clientId,
    identity: endpoint.identity('refresh_token', initial.reveal()),
    grant: 'refresh_token',
    defaults: defaultsOf(options),
    async fetchToken(ctx) {
      const rt = ctx.current?.refreshToken ?? initial;
      const refreshed = await refreshFlow(endpoint, ctx, rt);
      if (refreshed) return refreshed;
      throw new TokenEndpointError('The refresh token was rejected and no rotated one was found', {
        error: 'invalid_grant',
      });
    },
    ...endpointParts(endpoint),
  };
}
