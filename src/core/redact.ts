import { REDACTED } from './secret.js';

/**
 * Header names always treated as secret, whatever the client's options.
 * Any header whose name contains `auth`, `token`, `secret`, `password`, `api-key`/`apikey`,
 * `session` or `cookie` is treated as secret as well.
 */
export const DEFAULT_SECRET_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'apikey',
  'x-auth-token',
  'x-access-token',
  'x-amz-security-token',
  'x-csrf-token',
];

/** Query parameter and form/JSON field names always treated as secret. */
export const DEFAULT_SECRET_PARAMS: readonly string[] = [
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'api_key',
  'apikey',
  'api-key',
  'key',
  'client_secret',
  'client_assertion',
  'assertion',
  'password',
  'passwd',
  'secret',
  'sig',
  'signature',
  'code',
  'code_verifier',
  'device_code',
  'subject_token',
  'actor_token',
];

const SECRET_HEADER_PATTERN = /auth|token|secret|passw|api-?key|session|cookie|credential/i;

/** Which header names and parameter names are secret for one client. */
export interface RedactionOptions {
  /** Extra header names to redact (case-insensitive), added to {@link DEFAULT_SECRET_HEADERS}. */
  readonly headers?: readonly string[];
  /** Extra query, form or JSON field names to redact (case-insensitive), added to {@link DEFAULT_SECRET_PARAMS}. */
  readonly params?: readonly string[];
}

/**
 * The one redaction module: errors, `toCurl()`, logs and events all redact through a Redactor.
 */
export class Redactor {
  readonly #headers: ReadonlySet<string>;
  readonly #params: ReadonlySet<string>;
  readonly #jsonField: RegExp;

  constructor(options: RedactionOptions = {}) {
    this.#headers = new Set([
      ...DEFAULT_SECRET_HEADERS,
      ...(options.headers ?? []).map((h) => h.toLowerCase()),
    ]);
    this.#params = new Set([...DEFAULT_SECRET_PARAMS, ...(options.params ?? []).map((p) => p.toLowerCase())]);
    const names = [...this.#params].map(escapeRegExp).join('|');
    // A string value may run to the end of the text unclosed: an excerpt cut inside it (a debug line's first bytes).
    this.#jsonField = new RegExp(`("(?:${names})"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*(?:"|$)|[^,}\\]\\s]+)`, 'gi');
  }

  /** Returns a Redactor with more secret names added. */
  extend(options: RedactionOptions): Redactor {
    return new Redactor({
      headers: [...this.#headers, ...(options.headers ?? [])],
      params: [...this.#params, ...(options.params ?? [])],
    });
  }

  /** True when a header's value must never be shown. */
  isSecretHeader(name: string): boolean {
    const lower = name.toLowerCase();
    return this.#headers.has(lower) || SECRET_HEADER_PATTERN.test(lower);
  }

  /** True when a query, form or JSON field's value must never be shown. */
  isSecretParam(name: string): boolean {
    return this.#params.has(name.toLowerCase());
  }

  /** A copy of `headers` with secret values replaced by `[REDACTED]`. */
  headers(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined) continue;
      out[name] = this.isSecretHeader(name)
        ? REDACTED
        : Array.isArray(value)
          ? value.join(', ')
          : String(value);
    }
    return out;
  }

  /** A URL with secret query values and any password in the user-info replaced by `[REDACTED]`. */
  url(url: string): string {
    let out = url;
    const at = out.indexOf('@');
    const scheme = out.indexOf('://');
    if (at !== -1 && scheme !== -1 && at > scheme) {
      const slash = out.indexOf('/', scheme + 3);
      if (slash === -1 || at < slash) {
        const userinfo = out.slice(scheme + 3, at);
        const colon = userinfo.indexOf(':');
        const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
        out = `${out.slice(0, scheme + 3)}${colon === -1 ? REDACTED : `${user}:${REDACTED}`}${out.slice(at)}`;
      }
    }
    const q = out.indexOf('?');
    if (q === -1) return out;
    const hash = out.indexOf('#', q);
    const query = out.slice(q + 1, hash === -1 ? undefined : hash);
    return out.slice(0, q + 1) + this.query(query) + (hash === -1 ? '' : out.slice(hash));
  }

  /** A query string (without `?`) or form body with secret values replaced; other bytes are kept as written. */
  query(query: string): string {
    return query
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        if (eq === -1) return pair;
        let name: string;
        try {
          name = decodeURIComponent(pair.slice(0, eq).replace(/\+/g, ' '));
        } catch {
          name = pair.slice(0, eq);
        }
        return this.isSecretParam(name) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
      })
      .join('&');
  }

  /** Text (a JSON body, an error excerpt) with the values of secret JSON fields replaced. */
  text(text: string): string {
    return text.replace(this.#jsonField, (_m, key: string) => `${key}"${REDACTED}"`);
  }

  /**
   * A JSON-safe copy of `value` (a problem document, parsed JSON) in which every field whose name is a secret
   * parameter (as in {@link Redactor.text}) is replaced by `[REDACTED]`, at any depth, and every string has the `sent`
   * credential values (see {@link Redactor.sentValues}) replaced.
   */
  value(value: unknown, sent: readonly string[] = [], depth = 8): unknown {
    if (typeof value === 'string') return sent.length === 0 ? value : Redactor.values(value, sent);
    if (value === null || typeof value !== 'object') return value;
    if (depth <= 0) return '[…]';
    if (Array.isArray(value)) return value.map((v) => this.value(v, sent, depth - 1));
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      out[key] = this.isSecretParam(key)
        ? REDACTED
        : this.value((value as Record<string, unknown>)[key], sent, depth - 1);
    }
    return out;
  }

  /**
   * The credential values a request carries: its secret headers (whole, and the part after an auth scheme such
   * as `Bearer`) and its secret query values. Computed on demand from the request itself and never kept, so an
   * error path can scrub an upstream's echo without the client holding secrets longer than the request does.
   */
  sentValues(headers: Readonly<Record<string, string>>, url: string): string[] {
    const out: string[] = [];
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined || !this.isSecretHeader(name)) continue;
      out.push(value);
      const space = value.indexOf(' ');
      if (space !== -1) out.push(value.slice(space + 1).trim());
    }
    const q = url.indexOf('?');
    if (q !== -1) {
      const hash = url.indexOf('#', q);
      for (const [name, value] of new URLSearchParams(url.slice(q + 1, hash === -1 ? undefined : hash))) {
        if (!this.isSecretParam(name)) continue;
        out.push(value);
        const encoded = encodeURIComponent(value);
        if (encoded !== value) out.push(encoded);
      }
    }
    // Longest first, so a whole `Bearer x` goes before its `x`.
    return out.sort((a, b) => b.length - a.length);
  }

  /**
   * Text a server sent back (an error excerpt, a problem field), with secret JSON fields redacted and every
   * credential value this request sent (see {@link Redactor.sentValues}) replaced: servers that echo request
   * headers or the query must not put the client's own credentials into its errors.
   */
  echo(text: string, sent: readonly string[]): string {
    return Redactor.values(this.text(text), sent);
  }

  /** Replaces every occurrence of the given raw secret values in `text`. */
  static values(text: string, secrets: Iterable<string>): string {
    let out = text;
    for (const secret of secrets) {
      if (secret.length >= 4) out = out.split(secret).join(REDACTED);
    }
    return out;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

/** The Redactor with only the default secret names. */
export const defaultRedactor: Redactor = new Redactor();
