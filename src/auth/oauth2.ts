import { type Client, createClient } from '../client/client.js';
import { isReqforgeError, InvalidOptionError as TokenOptionError } from '../core/errors.js';
import { Redactor } from '../core/redact.js';
import { isSecret, Secret } from '../core/secret.js';
import { TokenEndpointError } from './errors.js';
import { grantIdentity, resourceList } from './identity.js';
import type { Token, TokenInit } from './token.js';
import type { FetchTokenContext, TokenProvider, TokenRequest } from './types.js';
import { describe, knownKeys, numberOption, stringOption, urlOption } from './validate.js';

/** How the client authenticates to the token endpoint (RFC 6749 §2.3.1). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** Options shared by every OAuth2 grant. */
export interface OAuth2ClientOptions {
  /** The token endpoint, such as `https://idp.example.com/oauth/token`. */
  readonly tokenUrl: string;
  /** The OAuth2 client id. */
  readonly clientId: string;
  /** The client secret; omit it for public clients. Kept as a {@link Secret}. */
  readonly clientSecret?: string | Secret | undefined;
  /**
   * How the client id and secret are sent.
   * @default 'client_secret_basic' (the method every server must support), or 'none' without a secret
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

/** The JSON a token endpoint answers with (RFC 6749 §5.1), plus `refresh_in`. */
interface TokenResponseBody {
  access_token?: unknown;
  token_type?: unknown;
  expires_in?: unknown;
  refresh_in?: unknown;
  refresh_token?: unknown;
  refresh_expires_in?: unknown;
  scope?: unknown;
  error?: unknown;
  error_description?: unknown;
}

/**
 * The token-endpoint side shared by the grants: client authentication, the form post through a
 * reqforge client, and turning answers into tokens or typed errors without leaking secrets.
 */
class TokenEndpoint {
  readonly url: string;
  readonly clientId: string;
  readonly #secret: Secret | undefined;
  readonly #method: ClientAuthMethod;
  readonly #extra: Readonly<Record<string, string>>;
  readonly #client: Client;
  readonly #ownsClient: boolean;
  readonly #secrets: Secret[] = [];

  constructor(options: OAuth2ClientOptions) {
    this.url = urlOption('tokenUrl', options.tokenUrl);
    this.clientId = stringOption('clientId', options.clientId);
    if (options.clientSecret !== undefined) {
      if (!isSecret(options.clientSecret) && typeof options.clientSecret !== 'string') {
        throw new TokenOptionError(
          'clientSecret',
          `expected a string or Secret, got ${describe(options.clientSecret)}`,
        );
      }
      this.#secret = Secret.from(options.clientSecret);
      this.#secrets.push(this.#secret);
    }
    const method = options.authMethod ?? (this.#secret ? 'client_secret_basic' : 'none');
    if (!['client_secret_basic', 'client_secret_post', 'none'].includes(method)) {
      throw new TokenOptionError(
        'authMethod',
        `expected 'client_secret_basic', 'client_secret_post' or 'none', got ${describe(method)}`,
      );
    }
    if (method !== 'none' && !this.#secret) {
      throw new TokenOptionError('clientSecret', `is required for authMethod '${method}'`);
    }
    this.#method = method;
    this.#extra = options.extraParams ?? {};
    if (options.client !== undefined) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      const timeout = numberOption('timeout', options.timeout, 10_000, 1);
      this.#client = createClient({
        name: 'oauth2',
        timeout: { total: timeout, attempt: Math.min(timeout, 5_000) },
        throwHttpErrors: false,
        // A token endpoint has no reason to redirect, and a 307 would resend the client secret in the body.
        redirect: false,
      });
      this.#ownsClient = true;
    }
  }

  /** Registers another credential that must be scrubbed from error descriptions. */
  guard(secret: Secret): void {
    this.#secrets.push(secret);
  }

  async request(
    params: Record<string, string>,
    request: TokenRequest,
    extraSecrets: readonly Secret[] = [],
  ): Promise<TokenInit> {
    const form = new URLSearchParams(this.#extra);
    for (const [k, v] of Object.entries(params)) form.set(k, v);
    if (request.scopes && request.scopes.length > 0) form.set('scope', request.scopes.join(' '));
    if (request.audience) form.set('audience', request.audience);
    for (const resource of resourceList(request.resource)) form.append('resource', resource);
    const headers: Record<string, string | Secret> = { accept: 'application/json' };
    if (this.#method === 'client_secret_basic' && this.#secret) {
      const user = formEncode(this.clientId);
      const pass = formEncode(this.#secret.reveal());
      headers.authorization = new Secret(`Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`);
    } else {
      form.set('client_id', this.clientId);
      if (this.#method === 'client_secret_post' && this.#secret)
        form.set('client_secret', this.#secret.reveal());
    }
    let response: Awaited<ReturnType<Client['post']>>;
    try {
      response = await this.#client.post(this.url, { form, headers, throwHttpErrors: false, retry: false });
    } catch (error) {
      const detail = isReqforgeError(error) ? `${error.code}: ${error.message}` : 'request failed';
      throw new TokenEndpointError(`The token endpoint could not be reached (${detail})`, {
        cause: error,
        request: isReqforgeError(error) ? error.request : undefined,
      });
    }
    const secrets = [...this.#secrets, ...extraSecrets];
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new TokenEndpointError('The token endpoint response body could not be read', {
        status: response.status,
        cause: error,
        request: response.request,
      });
    }
    let body: TokenResponseBody | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      body = typeof parsed === 'object' && parsed !== null ? (parsed as TokenResponseBody) : undefined;
    } catch {
      body = undefined;
    }
    const type = String(response.headers['content-type'] ?? 'no content type');
    if (!response.ok) {
      const error = typeof body?.error === 'string' ? safe(body.error, secrets, 64) : undefined;
      const description =
        typeof body?.error_description === 'string' ? safe(body.error_description, secrets, 300) : undefined;
      throw new TokenEndpointError(
        error
          ? `The token endpoint refused the request: ${error} (status ${response.status})${description ? `: ${description}` : ''}`
          : `The token endpoint answered status ${response.status} (${body ? 'no OAuth2 error field' : type})`,
        { status: response.status, error, errorDescription: description, request: response.request },
      );
    }
    if (!body) {
      throw new TokenEndpointError(
        `The token endpoint answered status ${response.status} with a body that is not a JSON object (${type})`,
        { status: response.status, request: response.request },
      );
    }
    if (typeof body.access_token !== 'string' || body.access_token.length === 0) {
      throw new TokenEndpointError('The token endpoint answered without an access_token', {
        status: response.status,
        request: response.request,
      });
    }
    const date = response.headers.date;
    const serverDate = typeof date === 'string' ? Date.parse(date) : Number.NaN;
    return {
      accessToken: new Secret(body.access_token),
      tokenType: typeof body.token_type === 'string' ? body.token_type : undefined,
      expiresIn: toNumber(body.expires_in),
      refreshIn: toNumber(body.refresh_in),
      refreshToken:
        typeof body.refresh_token === 'string' && body.refresh_token
          ? new Secret(body.refresh_token)
          : undefined,
      refreshExpiresIn: toNumber(body.refresh_expires_in),
      scope: typeof body.scope === 'string' ? body.scope : undefined,
      serverDate: Number.isFinite(serverDate) ? serverDate : undefined,
    };
  }

  /** The identity of the tokens a grant gets from this endpoint (see {@link grantIdentity}). */
  identity(grant: string, subject?: string): string {
    return grantIdentity({
      tokenUrl: this.url,
      grant,
      clientId: this.clientId,
      subject,
      params: this.#extra,
    });
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await this.#client.close();
  }
}

function formEncode(text: string): string {
  return new URLSearchParams({ x: text }).toString().slice(2);
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

const scrubber = new Redactor();

/** Text from the server with every known credential and secret JSON field removed, bounded in length. */
function safe(text: string, secrets: readonly Secret[], max: number): string {
  const raw = secrets.map((s) => s.reveal());
  const cleaned = scrubber.text(Redactor.values(text, raw));
  const bounded = cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
  return bounded.replace(/[\r\n]+/g, ' ');
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
  close(): Promise<void>;
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
    close: () => endpoint.close(),
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
    close: () => endpoint.close(),
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
    close: () => endpoint.close(),
  };
}
