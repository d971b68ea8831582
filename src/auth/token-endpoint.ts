/**
 * The token-endpoint side shared by the OAuth2 grants (see oauth2.ts): where the endpoint is (a `tokenUrl`, or an
 * `issuer` read through discovery), client authentication, the form post, token revocation (RFC 7009), and turning
 * answers into tokens or typed errors without leaking secrets.
 */
import { type Client, createClient } from '../client/client.js';
import { isReqforgeError, InvalidOptionError as TokenOptionError } from '../core/errors.js';
import { Redactor } from '../core/redact.js';
import { isSecret, Secret } from '../core/secret.js';
import { discoverIssuer, type IssuerMetadata } from './discovery.js';
import { TokenEndpointError } from './errors.js';
import { grantIdentity, resourceList } from './identity.js';
import type { ClientAuthMethod, OAuth2ClientOptions } from './oauth2.js';
import type { Token, TokenInit } from './token.js';
import type { TokenRequest } from './types.js';
import { describe, numberOption, stringOption, urlOption } from './validate.js';

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

const AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'none'];

/**
 * @internal one grant's token endpoint: given as `tokenUrl`, or found through the `issuer`'s metadata on first use
 * (read once per issuer and cached, see discovery.ts).
 */
export class TokenEndpoint {
  /** The configured token URL, or the issuer URL (the token's credential identity either way). */
  readonly url: string;
  readonly clientId: string;
  readonly #secret: Secret | undefined;
  readonly #issuer: string | undefined;
  /** The configured method; with an issuer and none configured, chosen from what the issuer supports. */
  readonly #givenMethod: ClientAuthMethod | undefined;
  #resolved: Promise<{ url: string; meta: IssuerMetadata | undefined }> | undefined;
  readonly #extra: Readonly<Record<string, string>>;
  readonly #revocationUrl: string | undefined;
  readonly #client: Client;
  readonly #ownsClient: boolean;
  readonly #secrets: Secret[] = [];

  constructor(options: OAuth2ClientOptions) {
    if (options.issuer !== undefined && options.tokenUrl !== undefined) {
      throw new TokenOptionError(
        'issuer',
        'give tokenUrl or issuer, not both (the issuer’s metadata names the token endpoint)',
      );
    }
    if (options.issuer !== undefined) {
      this.#issuer = urlOption('issuer', options.issuer);
      this.url = this.#issuer;
    } else {
      this.url = urlOption('tokenUrl', options.tokenUrl);
    }
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
    const method = options.authMethod;
    if (method !== undefined && !AUTH_METHODS.includes(method)) {
      throw new TokenOptionError(
        'authMethod',
        `expected 'client_secret_basic', 'client_secret_post' or 'none', got ${describe(method)}`,
      );
    }
    if (method !== undefined && method !== 'none' && !this.#secret) {
      throw new TokenOptionError('clientSecret', `is required for authMethod '${method}'`);
    }
    this.#givenMethod = method;
    this.#extra = options.extraParams ?? {};
    this.#revocationUrl =
      options.revocationUrl === undefined ? undefined : urlOption('revocationUrl', options.revocationUrl);
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

  /** The issuer's metadata (read once), or undefined for an endpoint given as `tokenUrl`. */
  async metadata(): Promise<IssuerMetadata | undefined> {
    return (await this.#resolve()).meta;
  }

  /** Where to post and how to authenticate: from the options, or from the issuer's metadata on first use. */
  #resolve(): Promise<{ url: string; meta: IssuerMetadata | undefined }> {
    if (this.#resolved) return this.#resolved;
    const issuer = this.#issuer;
    if (issuer === undefined) {
      this.#resolved = Promise.resolve({ url: this.url, meta: undefined });
      return this.#resolved;
    }
    const resolved = discoverIssuer(issuer, { client: this.#client }).then((meta) => ({
      url: meta.tokenEndpoint,
      meta,
    }));
    this.#resolved = resolved;
    // A failed discovery is asked again on the next token request.
    resolved.catch(() => {
      if (this.#resolved === resolved) this.#resolved = undefined;
    });
    return resolved;
  }

  /**
   * The configured method (or `client_secret_basic`, `none` without a secret); with an issuer, the configured one
   * when the issuer supports it, else the best one it supports for this client.
   */
  #methodFor(meta: IssuerMetadata | undefined): ClientAuthMethod {
    if (meta === undefined) return this.#givenMethod ?? (this.#secret ? 'client_secret_basic' : 'none');
    const supported = meta.tokenEndpointAuthMethods;
    if (this.#givenMethod !== undefined) {
      if (supported.includes(this.#givenMethod)) return this.#givenMethod;
      throw new TokenOptionError(
        'authMethod',
        `the issuer does not support '${this.#givenMethod}' (it supports ${supported.map((m) => `'${m}'`).join(', ')})`,
      );
    }
    const wanted: ClientAuthMethod[] = this.#secret
      ? ['client_secret_basic', 'client_secret_post']
      : ['none'];
    const method = wanted.find((m) => supported.includes(m));
    if (method) return method;
    throw new TokenOptionError(
      'authMethod',
      `the issuer supports none of ${wanted.map((m) => `'${m}'`).join(', ')} for this client (it supports ${supported
        .map((m) => `'${m}'`)
        .join(', ')})`,
    );
  }

  /** Client authentication for a form post: the Basic header, or form fields. */
  #authenticate(form: URLSearchParams, method: ClientAuthMethod): Record<string, string | Secret> {
    const headers: Record<string, string | Secret> = { accept: 'application/json' };
    if (method === 'client_secret_basic' && this.#secret) {
      const user = formEncode(this.clientId);
      const pass = formEncode(this.#secret.reveal());
      headers.authorization = new Secret(`Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`);
    } else {
      form.set('client_id', this.clientId);
      if (method === 'client_secret_post' && this.#secret) form.set('client_secret', this.#secret.reveal());
    }
    return headers;
  }

  /**
   * Revokes a token at the issuer's `revocation_endpoint` (RFC 7009), or at `revocationUrl`. The server answers 200
   * for tokens it does not know too; a refusal is a {@link TokenEndpointError}.
   */
  async revoke(token: Token | Secret | string, hint?: 'access_token' | 'refresh_token'): Promise<void> {
    const { meta } = await this.#resolve();
    const method = this.#methodFor(meta);
    const url = this.#revocationUrl ?? meta?.revocationEndpoint;
    if (url === undefined) {
      throw new TokenOptionError(
        'revocationUrl',
        this.#issuer
          ? 'the issuer’s metadata names no revocation_endpoint; give revocationUrl'
          : 'no revocation endpoint is known; give revocationUrl (or configure an issuer that publishes one)',
      );
    }
    const value = typeof token === 'string' ? new Secret(token) : isSecret(token) ? token : token.value;
    const form = new URLSearchParams({ token: value.reveal() });
    if (hint) form.set('token_type_hint', hint);
    const response = await this.#post(url, form, this.#authenticate(form, method), 'revocation');
    await response.dump();
    if (!response.ok) {
      throw new TokenEndpointError(`The revocation endpoint answered status ${response.status}`, {
        status: response.status,
        request: response.request,
      });
    }
  }

  /** Posts a form to one of the endpoints (never retried: a grant or a revocation is not repeated blindly). */
  async #post(
    url: string,
    form: URLSearchParams,
    headers: Record<string, string | Secret>,
    endpoint: 'token' | 'revocation',
  ): Promise<Awaited<ReturnType<Client['post']>>> {
    try {
      return await this.#client.post(url, { form, headers, throwHttpErrors: false, retry: false });
    } catch (error) {
      const detail = isReqforgeError(error) ? `${error.code}: ${error.message}` : 'request failed';
      throw new TokenEndpointError(`The ${endpoint} endpoint could not be reached (${detail})`, {
        cause: error,
        request: isReqforgeError(error) ? error.request : undefined,
      });
    }
  }

  async request(
    params: Record<string, string>,
    request: TokenRequest,
    extraSecrets: readonly Secret[] = [],
  ): Promise<TokenInit> {
    const { url, meta } = await this.#resolve();
    const method = this.#methodFor(meta);
    const form = new URLSearchParams(this.#extra);
    for (const [k, v] of Object.entries(params)) form.set(k, v);
    if (request.scopes && request.scopes.length > 0) form.set('scope', request.scopes.join(' '));
    if (request.audience) form.set('audience', request.audience);
    for (const resource of resourceList(request.resource)) form.append('resource', resource);
    const response = await this.#post(url, form, this.#authenticate(form, method), 'token');
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
