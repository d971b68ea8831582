import { InvalidOptionError } from '../core/errors.js';
import { compose } from '../core/pipeline.js';
import type { Redactor } from '../core/redact.js';
import { checkHeaderValue, HttpRequest } from '../core/request.js';
import { isSecret, Secret } from '../core/secret.js';
import type { CallContext, Handler, Policy } from '../core/types.js';
import { describe } from './validate.js';

/** A credential: a string, a {@link Secret}, or a function returning one (called per attempt). */
export type CredentialSource = string | Secret | (() => string | Secret | Promise<string | Secret>);

/** A policy that authenticates requests. Every auth helper returns one; its name is `auth`. */
export interface AuthPolicy extends Policy {
  readonly name: 'auth';
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** @internal validates a header name option. */
export function headerNameOption(option: string, name: unknown): string {
  if (typeof name !== 'string' || !HEADER_NAME.test(name)) {
    throw new InvalidOptionError(option, `expected an HTTP header name, got ${describe(name)}`);
  }
  return name.toLowerCase();
}

/** @internal normalises a credential source into a function returning a Secret. */
export function credentialSource(option: string, source: unknown): () => Promise<Secret> | Secret {
  if (typeof source === 'function') {
    const fn = source as () => string | Secret | Promise<string | Secret>;
    return () => {
      const value = fn();
      return value instanceof Promise ? value.then((v) => toSecret(option, v)) : toSecret(option, value);
    };
  }
  const secret = toSecretOption(option, source);
  return () => secret;
}

function toSecretOption(option: string, value: unknown): Secret {
  if (isSecret(value)) {
    if (value.isEmpty) throw new InvalidOptionError(option, 'the secret is empty');
    return value;
  }
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(
      option,
      `expected a non-empty string, a Secret or a function returning one, got ${describe(value)}`,
    );
  }
  return new Secret(value);
}

function toSecret(option: string, value: unknown): Secret {
  if (isSecret(value)) return value;
  if (typeof value === 'string') return new Secret(value);
  throw new TypeError(`The ${option} function returned ${describe(value)} instead of a string or Secret`);
}

/** @internal a per-policy cache of redactors extended with the policy's secret names. */
export function redactorExtender(options: {
  headers?: readonly string[];
  params?: readonly string[];
}): (redactor: Redactor) => Redactor {
  const cache = new WeakMap<Redactor, Redactor>();
  return (redactor) => {
    let out = cache.get(redactor);
    if (!out) {
      const needed =
        (options.headers ?? []).some((h) => !redactor.isSecretHeader(h)) ||
        (options.params ?? []).some((p) => !redactor.isSecretParam(p));
      out = needed ? redactor.extend(options) : redactor;
      cache.set(redactor, out);
    }
    return out;
  };
}

/**
 * @internal sets one header, making sure the request's redactor hides it. `checked` says `value` already passed
 * {@link checkHeaderValue} (auth policies check a token's header value once, not on every call).
 */
export function setSecretHeader(
  request: HttpRequest,
  name: string,
  value: string,
  extend: (r: Redactor) => Redactor,
  checked = false,
): HttpRequest {
  if (!checked) checkHeaderValue(name, value);
  return request.withCheckedHeader(name, value, extend(request.redactor));
}

/**
 * @internal The header value made from a credential by `format`, checked with {@link checkHeaderValue}; both run
 * again only when the credential changes, so calls with the same credential reuse one string.
 */
export function checkedHeaderValue<T>(
  name: string,
  format: (credential: T) => string,
): (credential: T) => string {
  let last: { credential: T; value: string } | undefined;
  return (credential) => {
    if (last === undefined || last.credential !== credential) {
      const value = format(credential);
      checkHeaderValue(name, value);
      last = { credential, value };
    }
    return last.value;
  };
}

function headerPolicy(
  name: string,
  value: () => Promise<Secret> | Secret,
  format: (raw: string) => string,
): AuthPolicy {
  const extend = redactorExtender({ headers: [name] });
  return {
    name: 'auth',
    wrap(next: Handler): Handler {
      const headerValue = checkedHeaderValue(name, format);
      const send = (request: HttpRequest, ctx: CallContext, secret: Secret) =>
        next(setSecretHeader(request, name, headerValue(secret.reveal()), extend, true), ctx);
      return (request, ctx) => {
        let secret: Promise<Secret> | Secret;
        try {
          secret = value();
          // A credential at hand goes out at once; one from an async source is awaited.
          return secret instanceof Promise
            ? secret.then((s) => send(request, ctx, s))
            : send(request, ctx, secret);
        } catch (error) {
          return Promise.reject(error);
        }
      };
    },
  };
}

/** Options of {@link bearerAuth}. */
export interface BearerAuthOptions {
  /**
   * The header to set.
   * @default 'authorization'
   */
  readonly header?: string;
  /**
   * The scheme before the token; `''` sends the bare token.
   * @default 'Bearer'
   */
  readonly scheme?: string;
}

/**
 * Sends `Authorization: Bearer <token>`. The token is fixed or comes from a function called on every
 * attempt (so a retry picks up a rotated token). For tokens that expire, use {@link tokenAuth}.
 *
 * @example
 * const api = createClient({ baseUrl, policies: [bearerAuth(new Secret(process.env.API_TOKEN ?? 'dev'))] });
 */
export function bearerAuth(token: CredentialSource, options: BearerAuthOptions = {}): AuthPolicy {
  const header = headerNameOption('header', options.header ?? 'authorization');
  const scheme = options.scheme ?? 'Bearer';
  if (typeof scheme !== 'string' || /[\r\n]/.test(scheme)) {
    throw new InvalidOptionError('scheme', 'expected a string without line breaks');
  }
  return headerPolicy(header, credentialSource('token', token), (raw) => (scheme ? `${scheme} ${raw}` : raw));
}

/** Options of {@link apiKeyAuth}: the key travels in a header or in a query parameter. */
export type ApiKeyAuthOptions =
  | { readonly header: string; readonly key: CredentialSource }
  | { readonly query: string; readonly key: CredentialSource };

/**
 * Sends an API key in a header (`{ header: 'x-api-key', key }`) or a query parameter
 * (`{ query: 'api_key', key }`). The name is added to the request's redaction rules, so the key never
 * shows in `toCurl()`, errors or logs.
 */
export function apiKeyAuth(options: ApiKeyAuthOptions): AuthPolicy {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'expected { header, key } or { query, key }');
  }
  const key = credentialSource('key', options.key);
  if ('header' in options && options.header !== undefined) {
    return headerPolicy(headerNameOption('header', options.header), key, (raw) => raw);
  }
  const name = (options as { query?: unknown }).query;
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidOptionError('header', 'give either header or query: the name the key is sent under');
  }
  const extend = redactorExtender({ params: [name] });
  const encodedName = encodeURIComponent(name);
  return {
    name: 'auth',
    wrap(next: Handler): Handler {
      return async (request, ctx) => {
        const secret = await key();
        const sep = request.path.includes('?') ? '&' : '?';
        const hash = request.path.indexOf('#');
        const path = hash === -1 ? request.path : request.path.slice(0, hash);
        const withKey = `${path}${sep}${encodedName}=${encodeURIComponent(secret.reveal())}`;
        const next_ = new HttpRequest({
          method: request.method,
          origin: request.origin,
          path: withKey,
          headers: request.headers,
          body: request.body,
          redactor: extend(request.redactor),
        });
        return next(next_, ctx);
      };
    },
  };
}

/** Sends HTTP Basic credentials (RFC 7617). The user name must not contain a colon. */
export function basicAuth(username: string, password: string | Secret): AuthPolicy {
  if (typeof username !== 'string' || username.includes(':')) {
    throw new InvalidOptionError('username', 'expected a string without ":"');
  }
  const pass = toSecretOption('password', password);
  const encoded = new Secret(Buffer.from(`${username}:${pass.reveal()}`, 'utf8').toString('base64'));
  return headerPolicy(
    'authorization',
    () => encoded,
    (raw) => `Basic ${raw}`,
  );
}

/**
 * Sets any header to a secret value, such as `x-tenant-signature`. The header is added to the
 * request's redaction rules.
 */
export function headerAuth(name: string, value: CredentialSource): AuthPolicy {
  return headerPolicy(headerNameOption('name', name), credentialSource('value', value), (raw) => raw);
}

/** Applies several auth policies in order, for APIs that want, say, an API key and a bearer token. */
export function compositeAuth(...policies: Policy[]): AuthPolicy {
  for (const [i, p] of policies.entries()) {
    if (!p || typeof p.wrap !== 'function') {
      throw new InvalidOptionError(`policies[${i}]`, 'expected a policy such as bearerAuth(…)');
    }
  }
  return {
    name: 'auth',
    wrap: (next) => compose(policies, next),
    // Inner policies that attach to the client's events (token auth) still do.
    attach(events) {
      const undo = policies.flatMap((p) => p.attach?.(events) ?? []);
      return () => {
        for (const u of undo) u();
      };
    },
  };
}
