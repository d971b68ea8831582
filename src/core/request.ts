import type { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { InvalidRequestError } from './errors.js';
import { defaultRedactor, type Redactor } from './redact.js';
import { isSecret, REDACTED, type Secret } from './secret.js';

/** A streaming body: a Node stream, a web stream or any async iterable of bytes. Sent once, never replayed. */
export type BodyStream = Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Produces a fresh body for each attempt, which makes a streaming body safe to retry. */
export type BodyFactory = () => BodyStream | string | Uint8Array;

/** A request body as stored on an {@link HttpRequest}. */
export type RequestBody = string | Uint8Array | FormData | BodyStream | BodyFactory;

/** A header value; `undefined` and `null` remove the header, a {@link Secret} is revealed only on the wire. */
export type HeaderValue = string | number | Secret | null | undefined;

/** Headers given by users: a record, a `Headers` object or a list of pairs. */
export type HeadersInit =
  | Readonly<Record<string, HeaderValue>>
  | Headers
  | readonly (readonly [string, HeaderValue])[];

/** Lower-cased header name → value. */
export type HeaderRecord = Readonly<Record<string, string>>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\r\n\0]/;

/** Throws when a header value contains CR, LF or NUL (header injection); never echoes the value. */
export function checkHeaderValue(name: string, value: string): void {
  if (BAD_VALUE.test(value)) {
    throw new InvalidRequestError(`Header "${name}" has a value containing CR, LF or NUL`);
  }
}

/**
 * Merges headers into `target` (lower-casing names). `null`/`undefined` remove a header.
 * Names must be HTTP tokens and values must not contain CR, LF or NUL (header injection).
 */
export function mergeHeaders(
  target: Record<string, string>,
  init: HeadersInit | undefined,
): Record<string, string> {
  if (init === undefined) return target;
  const set = (name: string, value: HeaderValue) => {
    const key = name.toLowerCase();
    if (value === undefined || value === null) {
      delete target[key];
      return;
    }
    if (!TOKEN.test(name)) throw new InvalidRequestError(`Invalid header name "${name.slice(0, 64)}"`);
    const text = isSecret(value) ? value.reveal() : String(value);
    // Never echo the value: it may be a credential.
    checkHeaderValue(key, text);
    target[key] = text;
  };
  if (init instanceof Headers) for (const [name, value] of init) set(name, value);
  else if (Array.isArray(init)) for (const [name, value] of init) set(name, value);
  else for (const name of Object.keys(init)) set(name, (init as Record<string, HeaderValue>)[name]);
  return target;
}

// Policies key their state by host on every call. Handing out one string per origin (rather than a fresh
// slice per request) lets those Map lookups reuse the string's cached hash.
const hosts = new Map<string, string>();

function hostOf(origin: string): string {
  let host = hosts.get(origin);
  if (host === undefined) {
    const i = origin.indexOf('://');
    host = i === -1 ? origin : origin.slice(i + 3);
    if (hosts.size >= 1024) hosts.clear();
    hosts.set(origin, host);
  }
  return host;
}

/**
 * @internal A writable copy of a header record. `Object.assign` rather than `{ ...headers }`: V8 (Node 20) clones a
 * spread object's hidden class in a way that makes adding a property to the copy a slow runtime call, about 1 µs
 * for a record built as an object literal, and every caller of this adds or removes headers next (docs/benchmarks.md).
 * Header values are strings, so a `__proto__` name cannot reach a prototype through the assignment.
 */
export function copyHeaders(headers: HeaderRecord): Record<string, string> {
  return Object.assign({}, headers);
}

/** What an {@link HttpRequest} is made of. */
export interface HttpRequestInit {
  readonly method: string;
  /** Scheme, host and port, such as `https://api.example.com`. */
  readonly origin: string;
  /** Path and query string, starting with `/`. */
  readonly path: string;
  readonly headers?: HeaderRecord;
  readonly body?: RequestBody | undefined;
  /** Redaction rules for `toCurl()`, `toJSON()` and errors. */
  readonly redactor?: Redactor;
}

/**
 * An immutable HTTP request. `with…()` methods return copies; `toCurl()`, `toJSON()` and
 * `util.inspect()` redact secrets.
 */
export class HttpRequest {
  /** Upper-case method. */
  readonly method: string;
  /** Scheme, host and port. */
  readonly origin: string;
  /** Path and query string, as sent on the request line. */
  readonly path: string;
  /** Lower-cased header names. Treat as read-only; use {@link HttpRequest.withHeaders} to change. */
  readonly headers: HeaderRecord;
  /** The body, or undefined. */
  readonly body: RequestBody | undefined;
  /** The redaction rules this request is shown with. */
  readonly redactor: Redactor;
  #host: string | undefined;

  constructor(init: HttpRequestInit) {
    this.method = init.method;
    this.origin = init.origin;
    this.path = init.path;
    this.headers = init.headers ?? {};
    this.body = init.body;
    this.redactor = init.redactor ?? defaultRedactor;
  }

  /** The full URL. */
  get url(): string {
    return this.origin + this.path;
  }

  /** The URL with secret query values redacted. */
  get redactedUrl(): string {
    return this.redactor.url(this.origin + this.path);
  }

  /** The host name and port, as in `api.example.com:8443`. */
  get host(): string {
    this.#host ??= hostOf(this.origin);
    return this.#host;
  }

  /** A header's value by case-insensitive name. */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }

  /** True when the body can be sent again on a retry (no body, a buffer, or a body factory). */
  get replayable(): boolean {
    const b = this.body;
    return (
      b === undefined ||
      typeof b === 'string' ||
      typeof b === 'function' ||
      b instanceof Uint8Array ||
      b instanceof FormData
    );
  }

  /** A copy with headers merged in; `null` or `undefined` values remove headers. */
  withHeaders(headers: HeadersInit): HttpRequest {
    return this.#copy({ headers: mergeHeaders(copyHeaders(this.headers), headers) });
  }

  /** A copy without the named headers. */
  withoutHeaders(...names: string[]): HttpRequest {
    const next = copyHeaders(this.headers);
    for (const name of names) delete next[name.toLowerCase()];
    return this.#copy({ headers: next });
  }

  /** A copy with another body. */
  withBody(body: RequestBody | undefined): HttpRequest {
    return this.#copy({ body });
  }

  /** A copy sent to another origin and path (used by gateways and redirects, never from user input blindly). */
  withUrl(origin: string, path: string): HttpRequest {
    return this.#copy({ origin, path });
  }

  /** The body to hand to the transport for one attempt: calls a body factory. */
  openBody(): string | Uint8Array | FormData | BodyStream | undefined {
    const b = this.body;
    return typeof b === 'function' ? b() : b;
  }

  /** A runnable curl command for this request, with secret headers, query values and body fields redacted. */
  toCurl(): string {
    const parts = ['curl'];
    if (this.method === 'HEAD') parts.push('--head');
    else if (this.method !== 'GET' || this.body !== undefined) parts.push('-X', this.method);
    parts.push(shellQuote(this.redactedUrl));
    const headers = this.redactor.headers(this.headers);
    for (const name of Object.keys(headers)) parts.push('-H', shellQuote(`${name}: ${headers[name]}`));
    const body = this.body;
    if (typeof body === 'string') {
      parts.push('--data-raw', shellQuote(redactBody(body, this.headers['content-type'], this.redactor)));
    } else if (body instanceof Uint8Array) {
      parts.push(`--data-binary @-  # ${body.byteLength} bytes not shown`);
    } else if (body instanceof FormData) {
      body.forEach((value, name) => {
        const shown =
          typeof value === 'string'
            ? this.redactor.isSecretParam(name)
              ? REDACTED
              : value
            : `@${value.name}`;
        parts.push('-F', shellQuote(`${name}=${shown}`));
      });
    } else if (body !== undefined) {
      parts.push('--data-binary @-  # streamed body not shown');
    }
    return parts.join(' ');
  }

  /** A redacted, JSON-safe description. */
  toJSON(): { method: string; url: string; headers: Record<string, string> } {
    return { method: this.method, url: this.redactedUrl, headers: this.redactor.headers(this.headers) };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `HttpRequest ${inspect(this.toJSON(), options)}`;
  }

  /**
   * @internal A copy with one header set, for auth policies: `name` must be a lower-cased header name and `value`
   * must have passed {@link checkHeaderValue}; skipping the general merge keeps the per-call cost to one copy.
   */
  withCheckedHeader(name: string, value: string, redactor: Redactor): HttpRequest {
    const headers = copyHeaders(this.headers);
    headers[name] = value;
    return this.#copy({ headers, redactor });
  }

  #copy(changes: Partial<HttpRequestInit>): HttpRequest {
    return new HttpRequest({
      method: this.method,
      origin: changes.origin ?? this.origin,
      path: changes.path ?? this.path,
      headers: changes.headers ?? this.headers,
      body: 'body' in changes ? changes.body : this.body,
      redactor: changes.redactor ?? this.redactor,
    });
  }
}

/** Redacts secret fields of a JSON or form body for display. */
export function redactBody(body: string, contentType: string | undefined, redactor: Redactor): string {
  if (contentType?.includes('application/x-www-form-urlencoded')) return redactor.query(body);
  return redactor.text(body);
}

/** Quotes a string for a POSIX shell. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Idempotent methods per RFC 9110 §9.2.2: safe to repeat without side effects piling up. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
]);
