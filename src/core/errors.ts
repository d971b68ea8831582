import { inspect } from 'node:util';
import type { HttpRequest } from './request.js';

const BRAND = Symbol.for('reqforge.error');

/** Stable machine codes of every error reqforge throws. Messages may change; codes do not. */
export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_REQUEST'
  | 'ERR_HTTP_STATUS'
  | 'ERR_BAD_REQUEST'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_FORBIDDEN'
  | 'ERR_NOT_FOUND'
  | 'ERR_CONFLICT'
  | 'ERR_UNPROCESSABLE_ENTITY'
  | 'ERR_TOO_MANY_REQUESTS'
  | 'ERR_SERVER'
  | 'ERR_CONNECTION_REFUSED'
  | 'ERR_CONNECTION_RESET'
  | 'ERR_DNS'
  | 'ERR_TLS'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_HEADERS_TIMEOUT'
  | 'ERR_BODY_TIMEOUT'
  | 'ERR_SOCKET'
  | 'ERR_NETWORK'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_PARSE'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_DECOMPRESSION'
  | 'ERR_REDIRECT'
  | 'ERR_BODY_USED'
  | 'ERR_CLIENT_CLOSED'
  | 'ERR_RETRIES_EXHAUSTED'
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_RATE_LIMITED'
  | 'ERR_DROPPED'
  | 'ERR_BULKHEAD_REJECTED'
  | 'ERR_TOKEN_ENDPOINT'
  | 'ERR_INVALID_GRANT'
  | 'ERR_INVALID_CLIENT'
  | 'ERR_INVALID_SCOPE'
  | 'ERR_TOKEN_UNAVAILABLE'
  | 'ERR_TOKEN_STEP'
  | (string & {});

/** Options shared by every reqforge error constructor. */
export interface ReqforgeErrorOptions {
  /** The underlying error. */
  readonly cause?: unknown;
  /** The request the error belongs to; shown redacted. */
  readonly request?: HttpRequest | undefined;
}

/**
 * Base class of every error reqforge throws: a stable `code`, a `cause`, and the (redacted) request.
 * Check with the `is…` guards rather than `instanceof`: they also work across duplicate installs.
 */
export class ReqforgeError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** The request that failed, if any. Its `toJSON()`, `toCurl()` and inspection are redacted. */
  readonly request: HttpRequest | undefined;

  constructor(message: string, code: ErrorCode, options: ReqforgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.request = options.request;
    Object.defineProperty(this, 'request', { enumerable: false });
  }

  /** A redacted, JSON-safe description, suitable for logs. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    if (this.request) out.request = this.request.toJSON();
    for (const key of Object.keys(this)) {
      if (!(key in out)) out[key] = (this as unknown as Record<string, unknown>)[key];
    }
    return out;
  }
}

function brand(ctor: abstract new (...args: never[]) => Error, kind: string): void {
  const parent = Object.getPrototypeOf(ctor.prototype) as Record<symbol, readonly string[] | undefined>;
  const kinds = Object.freeze([...(parent[BRAND] ?? []), kind]);
  Object.defineProperty(ctor.prototype, BRAND, { value: kinds, enumerable: false });
  Object.defineProperty(ctor.prototype, 'name', { value: kind, enumerable: false, writable: true });
}

function hasKind(error: unknown, kind: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const kinds = (error as Record<symbol, unknown>)[BRAND];
  return Array.isArray(kinds) && kinds.includes(kind);
}

brand(ReqforgeError, 'ReqforgeError');

/** One problem of an {@link InvalidOptionError}: the option's dotted path and what is wrong (never its value). */
export interface InvalidOptionIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * An option or configuration value is invalid; `option` names it (a dotted path). Thrown at construction time
 * (or when a call starts, for per-call options). The message says what was expected and never prints the value.
 */
export class InvalidOptionError extends ReqforgeError {
  /** Dotted path of the offending option, such as `timeout.attempt`. */
  readonly option: string;
  /** Every problem found, the first of which is in the message; `[{ path: option, message }]` when only one. */
  readonly issues: readonly InvalidOptionIssue[];

  constructor(
    option: string,
    problem: string,
    options: ReqforgeErrorOptions & { readonly issues?: readonly InvalidOptionIssue[] } = {},
  ) {
    super(`Invalid option "${option}": ${problem}`, 'ERR_INVALID_OPTION', options);
    this.option = option;
    this.issues = options.issues ?? [{ path: option, message: problem }];
  }
}
brand(InvalidOptionError, 'InvalidOptionError');

/** A request could not be built (bad path parameter, header value, body). Nothing was sent. */
export class InvalidRequestError extends ReqforgeError {
  constructor(message: string, options: ReqforgeErrorOptions = {}) {
    super(message, 'ERR_INVALID_REQUEST', options);
  }
}
brand(InvalidRequestError, 'InvalidRequestError');

/** An RFC 7807 / RFC 9457 problem document, parsed from an `application/problem+json` body. */
export interface ProblemDetails {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly instance?: string;
  readonly [extension: string]: unknown;
}

/** What an {@link HttpError} is built from. */
export interface HttpErrorInit extends ReqforgeErrorOptions {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The first bytes of the body, already redacted (see `Redactor.echo`). */
  readonly bodyExcerpt: string;
  /** True when the body was longer than the excerpt. */
  readonly bodyTruncated: boolean;
  readonly problem?: ProblemDetails | undefined;
  /** How many attempts were made before this response (1 without retries). */
  readonly attempts?: number | undefined;
}

/** The upstream answered with a non-2xx status. Subclasses exist per status family. */
export class HttpError extends ReqforgeError {
  /** The HTTP status code. */
  readonly status: number;
  /** Response headers (lowercase names); secret ones such as `set-cookie`, and echoed credentials, are redacted. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * The first bytes of the response body (at most `errorBodyLimit`), with secret JSON fields redacted and every
   * credential value the request itself sent (secret headers such as `authorization` or an API key, secret query
   * values) replaced by `[REDACTED]`, so an upstream that echoes the request cannot put them into logs.
   */
  readonly bodyExcerpt: string;
  /** True when the body was longer than {@link HttpError.bodyExcerpt}. */
  readonly bodyTruncated: boolean;
  /** The parsed problem document when the body was `application/problem+json`. */
  readonly problem: ProblemDetails | undefined;
  /** Attempts made for this call, retries included. */
  readonly attempts: number;

  constructor(init: HttpErrorInit, code: ErrorCode = 'ERR_HTTP_STATUS') {
    const method = init.request?.method ?? 'HTTP';
    const where = init.request ? ` ${init.request.redactedUrl}` : '';
    const detail = init.problem?.title
      ? `: ${init.problem.title}${init.problem.detail ? ` (${init.problem.detail})` : ''}`
      : '';
    super(`${method}${where} failed with status ${init.status}${detail}`, code, init);
    this.status = init.status;
    this.headers = init.headers;
    this.bodyExcerpt = init.bodyExcerpt;
    this.bodyTruncated = init.bodyTruncated;
    this.problem = init.problem;
    this.attempts = init.attempts ?? 1;
  }
}
brand(HttpError, 'HttpError');

/** 400 Bad Request. */
export class BadRequestError extends HttpError {
  constructor(init: HttpErrorInit) {
    super(init, 'ERR_BAD_REQUEST');
  }
}
brand(BadRequestError, 'BadRequestError');

/** 401 Unauthorized. */
export class UnauthorizedError extends HttpError {
  constructor(init: HttpErrorInit) {
    super(init, 'ERR_UNAUTHORIZED');
  }
}
brand(UnauthorizedError, 'UnauthorizedError');

/** 403 Forbidden. */
export class ForbiddenError extends HttpError {
  constructor(init: HttpErrorInit) {
    super(init, 'ERR_FORBIDDEN');
  }
}
brand(ForbiddenError, 'ForbiddenError');

/** 404 Not Found. */
export class NotFoundError extends HttpError {
  constructor(init: HttpErrorInit) {
    super(init, 'ERR_NOT_FOUND');
  }
}
brand(NotFoundError, 'NotFoundError');

/** 409 Conflict. */
export class ConflictError extends HttpError {
  constructor(init: HttpErrorInit) {
    super(init, 'ERR_CONFLICT');
  }
}
brand(ConflictError, 'ConflictError');

/** 422 Unprocessable Entity (validation failed upstream). */
export class UnprocessableEntityError extends HttpError {
  constructor(init: HttpErrorInit) {
    super(init, 'ERR_UNPROCESSABLE_ENTITY');
  }
}
brand(UnprocessableEntityError, 'UnprocessableEntityError');

/** 429 Too Many Requests; `retryAfter` says how long the server asked to wait. */
export class TooManyRequestsError extends HttpError {
  /** Milliseconds to wait, from `Retry-After` (seconds or HTTP-date), or undefined. */
  readonly retryAfter: number | undefined;

  constructor(init: HttpErrorInit & { readonly retryAfter?: number | undefined }) {
    super(init, 'ERR_TOO_MANY_REQUESTS');
    this.retryAfter = init.retryAfter;
  }
}
brand(TooManyRequestsError, 'TooManyRequestsError');

/** Any 5xx status. */
export class ServerError extends HttpError {
  constructor(init: HttpErrorInit) {
    super(init, 'ERR_SERVER');
  }
}
brand(ServerError, 'ServerError');

/** The request could not be completed at the network level: refused, reset, DNS, TLS, socket timeouts. */
export class NetworkError extends ReqforgeError {
  /** The system or undici code behind it, such as `ECONNRESET` or `UND_ERR_SOCKET`. */
  readonly sourceCode: string | undefined;

  constructor(
    message: string,
    code: ErrorCode,
    options: ReqforgeErrorOptions & { sourceCode?: string | undefined },
  ) {
    super(message, code, options);
    this.sourceCode = options.sourceCode;
  }
}
brand(NetworkError, 'NetworkError');

/** Which timeout fired. */
export type TimeoutScope = 'attempt' | 'total';

/** A reqforge timeout fired: `scope` says whether one attempt or the whole call ran out of time. */
export class TimeoutError extends ReqforgeError {
  readonly scope: TimeoutScope;
  /** The configured limit in milliseconds. */
  readonly timeout: number;

  constructor(scope: TimeoutScope, timeout: number, options: ReqforgeErrorOptions = {}) {
    super(`${scope === 'total' ? 'Call' : 'Attempt'} timed out after ${timeout} ms`, 'ERR_TIMEOUT', options);
    this.scope = scope;
    this.timeout = timeout;
  }
}
brand(TimeoutError, 'TimeoutError');

/** The caller aborted the call through its `AbortSignal`; `cause` is the signal's reason. */
export class AbortError extends ReqforgeError {
  constructor(options: ReqforgeErrorOptions = {}) {
    super('The call was aborted', 'ERR_ABORTED', options);
  }
}
brand(AbortError, 'AbortError');

/** A response body could not be parsed (malformed JSON). `bodyExcerpt` shows its start. */
export class ParseError extends ReqforgeError {
  readonly status: number;
  readonly bodyExcerpt: string;

  constructor(message: string, init: ReqforgeErrorOptions & { status: number; bodyExcerpt: string }) {
    super(message, 'ERR_PARSE', init);
    this.status = init.status;
    this.bodyExcerpt = init.bodyExcerpt;
  }
}
brand(ParseError, 'ParseError');

/**
 * A body was larger than the configured limit; reading stopped and the rest was discarded. For a compressed body the
 * limit applies to the decoded size, and `encoding` names the coding being decoded when it was reached (a
 * compression bomb stops here, having produced at most `limit` bytes).
 */
export class BodyTooLargeError extends ReqforgeError {
  readonly limit: number;
  /** The content coding (`gzip`, `br`…) whose decoded output passed the limit; undefined for a plain body. */
  readonly encoding: string | undefined;

  constructor(limit: number, options: ReqforgeErrorOptions = {}, encoding?: string) {
    super(
      encoding === undefined
        ? `Response body exceeds the limit of ${limit} bytes`
        : `Response body exceeds the limit of ${limit} bytes once decoded (content-encoding ${encoding}); decoding stopped there`,
      'ERR_BODY_TOO_LARGE',
      options,
    );
    this.limit = limit;
    this.encoding = encoding;
  }
}
brand(BodyTooLargeError, 'BodyTooLargeError');

/** A compressed response body could not be decoded (corrupt or truncated data); `cause` is zlib's error. */
export class DecompressionError extends ReqforgeError {
  /** The content coding that failed, such as `gzip`. */
  readonly encoding: string;

  constructor(encoding: string, options: ReqforgeErrorOptions = {}) {
    super(`Response body could not be decoded (content-encoding ${encoding})`, 'ERR_DECOMPRESSION', options);
    this.encoding = encoding;
  }
}
brand(DecompressionError, 'DecompressionError');

/** Why a redirect was not followed: see {@link RedirectError}. */
export type RedirectRefusal = 'too-many' | 'body-not-replayable' | 'bad-location';

/**
 * A redirect could not be followed: more hops than `redirect.max` (`too-many`), a 307/308 whose request body was a
 * stream sent once (`body-not-replayable`: give a function returning the body instead), or a `Location` that is not
 * an http(s) URL (`bad-location`). The redirect responses were discarded; `redirects` lists the hops followed.
 */
export class RedirectError extends ReqforgeError {
  readonly reason: RedirectRefusal;
  /** The status of the redirect that was not followed. */
  readonly status: number;
  /** The hops followed before it, oldest first (their requests print redacted). */
  readonly redirects: readonly RedirectHop[];

  constructor(
    reason: RedirectRefusal,
    status: number,
    redirects: readonly RedirectHop[],
    message: string,
    options: ReqforgeErrorOptions = {},
  ) {
    super(message, 'ERR_REDIRECT', options);
    this.reason = reason;
    this.status = status;
    this.redirects = redirects;
  }
}
brand(RedirectError, 'RedirectError');

/** One redirect followed: the request that received it and the redirect status (301, 302, 303, 307 or 308). */
export interface RedirectHop {
  readonly status: number;
  /** The request that got the redirect. Prints redacted. */
  readonly request: HttpRequest;
}

/** A call was made on a client that was closed. */
export class ClientClosedError extends ReqforgeError {
  constructor() {
    super('The client is closed', 'ERR_CLIENT_CLOSED');
  }
}
brand(ClientClosedError, 'ClientClosedError');

/** One attempt's outcome, as recorded by the retry policy. */
export interface AttemptRecord {
  /** 1-based attempt number. */
  readonly attempt: number;
  /** The status, when the attempt got a response. */
  readonly status?: number;
  /** The error, when the attempt failed without a response. */
  readonly error?: ReqforgeError;
  /** Milliseconds waited before the next attempt, if there was one. */
  readonly delay?: number;
}

/**
 * Every attempt failed: `attempts` is how many were made (a number, as on {@link HttpError}), `history` holds each
 * attempt's outcome, and `cause` the last error.
 */
export class RetriesExhaustedError extends ReqforgeError {
  /** Attempts made, retries included. */
  readonly attempts: number;
  /** Each attempt's outcome, oldest first. (Before 0.2 these records were `attempts`.) */
  readonly history: readonly AttemptRecord[];

  constructor(history: readonly AttemptRecord[], options: ReqforgeErrorOptions = {}) {
    const last = history[history.length - 1];
    super(
      `All ${history.length} attempts failed; last: ${last?.error?.message ?? `status ${last?.status ?? '?'}`}`,
      'ERR_RETRIES_EXHAUSTED',
      options,
    );
    this.attempts = history.length;
    this.history = history;
  }
}
brand(RetriesExhaustedError, 'RetriesExhaustedError');

/** The circuit breaker for this host (or route) is open: the call was not sent. */
export class CircuitOpenError extends ReqforgeError {
  /** The breaker key, such as the host. */
  readonly key: string;
  /** Milliseconds until the breaker lets probe calls through (half-open); `Infinity` when isolated by hand. */
  readonly retryAfter: number;

  constructor(key: string, retryAfter: number, options: ReqforgeErrorOptions = {}) {
    super(
      Number.isFinite(retryAfter)
        ? `Circuit for ${key} is open; it half-opens in ${Math.ceil(retryAfter)} ms`
        : `Circuit for ${key} is isolated until reset`,
      'ERR_CIRCUIT_OPEN',
      options,
    );
    this.key = key;
    this.retryAfter = retryAfter;
  }
}
brand(CircuitOpenError, 'CircuitOpenError');

/** Why a rate limiter refused a call. */
export type RateLimitReason = 'limited' | 'queue-full' | 'queue-timeout' | 'paused';

/** A rate limiter refused the call (strategy `raise`, or the queue was full or too slow); nothing was sent. */
export class RateLimitedError extends ReqforgeError {
  /** The limiter key, such as the host. */
  readonly key: string;
  /** Milliseconds until a permit is expected to be free. */
  readonly retryAfter: number;
  readonly reason: RateLimitReason;

  constructor(key: string, retryAfter: number, reason: RateLimitReason, options: ReqforgeErrorOptions = {}) {
    super(
      `Rate limit for ${key} reached (${reason}); retry in ${Math.ceil(retryAfter)} ms`,
      'ERR_RATE_LIMITED',
      options,
    );
    this.key = key;
    this.retryAfter = retryAfter;
    this.reason = reason;
  }
}
brand(RateLimitedError, 'RateLimitedError');

/** A best-effort call was dropped by a rate limiter with strategy `drop`; nothing was sent. */
export class DroppedError extends ReqforgeError {
  readonly key: string;
  /** Milliseconds until a permit is expected to be free (for `Retry-After`), when the limiter knows. */
  readonly retryAfter: number | undefined;

  constructor(key: string, options: ReqforgeErrorOptions = {}, retryAfter?: number) {
    super(`Call to ${key} dropped by the rate limiter`, 'ERR_DROPPED', options);
    this.key = key;
    this.retryAfter = retryAfter;
  }
}
brand(DroppedError, 'DroppedError');

/** The bulkhead (concurrency limit) was full and its queue too, or the queue wait timed out. */
export class BulkheadRejectedError extends ReqforgeError {
  readonly reason: 'queue-full' | 'queue-timeout';

  constructor(reason: 'queue-full' | 'queue-timeout', options: ReqforgeErrorOptions = {}) {
    super(
      reason === 'queue-full'
        ? 'Too many calls in flight and the queue is full'
        : 'Timed out waiting for a free slot',
      'ERR_BULKHEAD_REJECTED',
      options,
    );
    this.reason = reason;
  }
}
brand(BulkheadRejectedError, 'BulkheadRejectedError');

// Inspecting an error must never show raw request headers: the request is non-enumerable and redacted.
Object.defineProperty(ReqforgeError.prototype, inspect.custom, {
  value(this: ReqforgeError, depth: number, opts: object, insp: typeof inspect) {
    const base = `${this.stack ?? `${this.name}: ${this.message}`}`;
    const fields: Record<string, unknown> = { code: this.code };
    for (const key of Object.keys(this)) fields[key] = (this as unknown as Record<string, unknown>)[key];
    if (this.request) fields.request = this.request.toJSON();
    if (this.cause !== undefined) fields.cause = this.cause;
    return `${base} ${insp(fields, { ...opts, depth })}`;
  },
  enumerable: false,
});

/** True for any error thrown by reqforge (any copy of it). */
export const isReqforgeError = (e: unknown): e is ReqforgeError => hasKind(e, 'ReqforgeError');
/** True for an {@link HttpError} of any status. */
export const isHttpError = (e: unknown): e is HttpError => hasKind(e, 'HttpError');
/** True for a {@link NetworkError}. */
export const isNetworkError = (e: unknown): e is NetworkError => hasKind(e, 'NetworkError');
/** True for a {@link TimeoutError}. */
export const isTimeoutError = (e: unknown): e is TimeoutError => hasKind(e, 'TimeoutError');
/** True for an {@link AbortError}. */
export const isAbortError = (e: unknown): e is AbortError => hasKind(e, 'AbortError');
/** True for an {@link InvalidOptionError}. */
export const isInvalidOptionError = (e: unknown): e is InvalidOptionError => hasKind(e, 'InvalidOptionError');
/** True for a {@link TooManyRequestsError}. */
export const isTooManyRequestsError = (e: unknown): e is TooManyRequestsError =>
  hasKind(e, 'TooManyRequestsError');
/** True for a {@link ServerError} (5xx). */
export const isServerError = (e: unknown): e is ServerError => hasKind(e, 'ServerError');
/** True for a {@link ParseError}. */
export const isParseError = (e: unknown): e is ParseError => hasKind(e, 'ParseError');

/** True for a {@link BodyTooLargeError} (a plain body past the limit, or a compressed one decoded past it). */
export const isBodyTooLargeError = (e: unknown): e is BodyTooLargeError => hasKind(e, 'BodyTooLargeError');
/** True for a {@link DecompressionError}. */
export const isDecompressionError = (e: unknown): e is DecompressionError => hasKind(e, 'DecompressionError');
/** True for a {@link RedirectError}. */
export const isRedirectError = (e: unknown): e is RedirectError => hasKind(e, 'RedirectError');

/** True for a {@link RetriesExhaustedError}. */
export const isRetriesExhaustedError = (e: unknown): e is RetriesExhaustedError =>
  hasKind(e, 'RetriesExhaustedError');
/** True for a {@link CircuitOpenError}. */
export const isCircuitOpenError = (e: unknown): e is CircuitOpenError => hasKind(e, 'CircuitOpenError');
/** True for a {@link RateLimitedError}. */
export const isRateLimitedError = (e: unknown): e is RateLimitedError => hasKind(e, 'RateLimitedError');
/** True for a {@link DroppedError}. */
export const isDroppedError = (e: unknown): e is DroppedError => hasKind(e, 'DroppedError');
/** True for a {@link BulkheadRejectedError}. */
export const isBulkheadRejectedError = (e: unknown): e is BulkheadRejectedError =>
  hasKind(e, 'BulkheadRejectedError');

/** @internal brand helper shared with policy and auth errors. */
export const internalErrorBrand = { brand, hasKind };
