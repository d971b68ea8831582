import type { ReqforgeError } from '../core/errors.js';
import { type HttpRequest, IDEMPOTENT_METHODS } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext } from '../core/types.js';

/** What an attempt produced: a response (any status) or an error. */
export type Outcome =
  | { readonly response: HttpResponse; readonly error?: undefined }
  | { readonly error: ReqforgeError; readonly response?: undefined };

/**
 * Decides whether an outcome counts (as retryable, or as a breaker failure). Predicates are plain
 * values: build them once and share them between policies.
 */
export type OutcomePredicate = (outcome: Outcome, ctx: CallContext) => boolean;

/** Statuses retried by default: request timeout, too many requests, and the transient 5xx. */
export const DEFAULT_RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Error codes retried by default: connection and socket failures and attempt timeouts. */
export const DEFAULT_RETRY_ERRORS: ReadonlySet<string> = new Set([
  'ERR_CONNECTION_REFUSED',
  'ERR_CONNECTION_RESET',
  'ERR_SOCKET',
  'ERR_CONNECT_TIMEOUT',
  'ERR_HEADERS_TIMEOUT',
  'ERR_NETWORK',
  'ERR_TIMEOUT',
]);

/**
 * Errors that prove the request never reached the server, so even a non-idempotent call is safe to
 * send again.
 */
export const NEVER_SENT_ERRORS: ReadonlySet<string> = new Set([
  'ERR_CONNECTION_REFUSED',
  'ERR_CONNECT_TIMEOUT',
  'ERR_DNS',
]);

/** Matches responses whose status is in `statuses`. */
export function onStatus(statuses: Iterable<number>): OutcomePredicate {
  const set = new Set(statuses);
  return (o) => o.response !== undefined && set.has(o.response.status);
}

/** Matches errors whose `code` is in `codes`. */
export function onErrorCode(codes: Iterable<string>): OutcomePredicate {
  const set = new Set(codes);
  return (o) => o.error !== undefined && set.has(o.error.code);
}

/** Matches when any of the predicates matches. */
export function anyOf(...predicates: OutcomePredicate[]): OutcomePredicate {
  return (o, ctx) => predicates.some((p) => p(o, ctx));
}

/** The default retry predicate: {@link DEFAULT_RETRY_STATUSES} and {@link DEFAULT_RETRY_ERRORS}. */
export const isTransient: OutcomePredicate = (o) =>
  o.response ? DEFAULT_RETRY_STATUSES.has(o.response.status) : DEFAULT_RETRY_ERRORS.has(o.error.code);

/**
 * Refusals a client makes itself (its rate limiter, its bulkhead), a body over its own size limit, and
 * failures to obtain a token: none of them says anything about the service's health.
 */
const NOT_THE_SERVICE: ReadonlySet<string> = new Set([
  'ERR_ABORTED',
  'ERR_INVALID_REQUEST',
  'ERR_CIRCUIT_OPEN',
  'ERR_RATE_LIMITED',
  'ERR_DROPPED',
  'ERR_BULKHEAD_REJECTED',
  'ERR_BODY_TOO_LARGE',
  'ERR_INVALID_GRANT',
  'ERR_INVALID_CLIENT',
  'ERR_INVALID_SCOPE',
]);

/**
 * The default breaker failure predicate: what the service did, that is 5xx statuses, network errors and
 * timeouts. 4xx statuses are the caller's problem and never open a breaker; neither do a call the caller
 * aborted, the client's own refusals (rate limiter, bulkhead, body size) or a token that could not be
 * obtained (the identity provider and the token store have their own outage handling).
 */
export const isServiceFailure: OutcomePredicate = (o) => {
  if (o.response) return o.response.status >= 500;
  const code = o.error.code;
  return !NOT_THE_SERVICE.has(code) && !code.startsWith('ERR_HTTP') && !code.startsWith('ERR_TOKEN');
};

/**
 * The one rule for "safe to repeat": whether sending `request` again cannot do its work twice. True for an
 * idempotent method, a call marked `idempotent: true`, or a request carrying an `Idempotency-Key` header (or
 * `keyHeader`, the header a retry policy generates keys in). The retry policy and the 401 repeat of token auth
 * both ask it; whether the body can be sent again (`request.replayable`) is a separate question. Token auth
 * passes no `keyHeader` (it does not know the retry's, and learning it would cost every call), so there a key
 * under a custom header name counts only on a call marked `idempotent: true` (docs/auth.md).
 */
export function isSafeToRepeat(request: HttpRequest, ctx: CallContext, keyHeader?: string): boolean {
  return (
    IDEMPOTENT_METHODS.has(request.method) ||
    ctx.options.idempotent === true ||
    request.header('idempotency-key') !== undefined ||
    (keyHeader !== undefined && request.header(keyHeader) !== undefined)
  );
}
