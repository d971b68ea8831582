import type { Clock } from '../core/clock.js';
import type { CallAbort } from '../core/context.js';
import type { Duration, Size } from '../core/options/index.js';
import type { RedactionOptions } from '../core/redact.js';
import type { BodyFactory, BodyStream, HeadersInit } from '../core/request.js';
import type { CallTags, Policy, TimeoutOptions, Transport } from '../core/types.js';
import type { ArrayFormat, PathParams, PathParamValue, QueryInit } from '../core/url.js';
import type { TracingOptions } from '../observability/tracing.js';
import type { BulkheadOptions } from '../policies/bulkhead.js';
import type { CircuitBreakerOptions } from '../policies/circuit-breaker.js';
import type { Hooks } from '../policies/hooks.js';
import type { RateLimitOptions } from '../policies/rate-limit.js';
import type { RedirectOptions } from '../policies/redirect.js';
import type { CallRetryOptions, RetryOptions } from '../policies/retry.js';
import type { Preset } from '../policies/standard.js';
import type { UsageOption } from '../policies/usage.js';
import type { HttpTransportOptions } from '../transport/undici.js';

/** Which ambient-context values are forwarded as headers, and under which names. */
export interface PropagationOptions {
  /**
   * Header that carries the ambient `requestId`.
   * @default 'x-request-id'
   */
  readonly requestIdHeader?: string;
  /**
   * Header that carries the ambient `correlationId`.
   * @default 'x-correlation-id'
   */
  readonly correlationIdHeader?: string;
  /**
   * When no correlation id is ambient (see `runWithContext`) and the call sets none, generate one for the call:
   * `true` for a random UUID, or a function returning the id. It is sent on every attempt and redirect hop of the
   * call, and readable afterwards on `response.request` (and `error.request`).
   * @default false (a header nobody asked for can break strict upstreams)
   */
  readonly generateCorrelationId?: boolean | (() => string);
}

/** Options of {@link createClient}. Every one is optional. */
export interface ClientOptions {
  /** Prefix for relative paths, such as `https://api.example.com/v1`. Paths are appended, not resolved. */
  readonly baseUrl?: string;
  /** Headers sent on every call. */
  readonly headers?: HeadersInit;
  /** Query parameters sent on every call. */
  readonly query?: QueryInit;
  /**
   * How array query values are written.
   * @default 'repeat' (`a=1&a=2`, what most servers parse)
   */
  readonly arrayFormat?: ArrayFormat;
  /**
   * Total and per-attempt timeouts, in ms or as durations such as `'10s'` (one value sets the total); `false` turns
   * both off. A preset option: refused together with `policies` (add `totalTimeout()`/`attemptTimeout()` there).
   * @default { total: 30000, attempt: 10000 }
   */
  readonly timeout?: TimeoutOptions | Duration | false;
  /**
   * The pipeline, outermost first, replacing the preset: `[]` gives a bare client. The preset options (`preset`,
   * `timeout`, `retry`, `circuitBreaker`, `rateLimit`, `bulkhead`, `auth`) cannot be combined with it, as they would
   * be ignored; the error names the policy to add instead. See `standardPolicies()` to build one yourself.
   */
  readonly policies?: readonly Policy[];
  /**
   * Credentials for every attempt, such as `bearerAuth(…)`, `apiKeyAuth(…)` or `tokenAuth(manager)`. The preset puts
   * it in its place (inside the breaker and limiters, outside the attempt timeout), so retry and timeouts stay.
   * @default none
   */
  readonly auth?: Policy | false;
  /**
   * The built-in pipeline: `default` = total timeout, retry of idempotent calls with a retry budget, attempt
   * timeout (safe and cheap); `standard` adds a per-host circuit breaker. A rate limiter or bulkhead joins
   * either when configured.
   * @default 'default'
   */
  readonly preset?: Preset;
  /** Retry settings for the preset, or `false` for none. */
  readonly retry?: RetryOptions | false;
  /** Circuit breaker settings for the preset (implies it even with the `default` preset), or `false`. */
  readonly circuitBreaker?: CircuitBreakerOptions | false;
  /** A rate limit for the preset. */
  readonly rateLimit?: RateLimitOptions | false;
  /** A concurrency limit for the preset. */
  readonly bulkhead?: BulkheadOptions | false;
  /**
   * Redirect following for the preset (`followRedirects`), or `false` to return 3xx responses as they are. A hop to
   * another origin carries no credentials.
   * @default { max: 10 }
   */
  readonly redirect?: RedirectOptions | false;
  /** Hooks run once per call, around the whole pipeline. */
  readonly hooks?: Hooks | readonly Hooks[];
  /**
   * Usage tracking, read with `client.usage()`: calls and errors in the last minute, 5 minutes and hour, totals,
   * and `withinLimits`. `true` tracks; limits (`{ perMinute, perHour, errorsPerHour, … }`) track and compare (a limit
   * is reported, never enforced); a `UsageTracker` is recorded into as it is (share one, or give it a `parent`).
   * Works with the preset and with `policies` alike; derived clients (`with()`) track on their own.
   * @default false (off: nothing is recorded per call)
   */
  readonly usage?: UsageOption;
  /**
   * Throw an `HttpError` for non-2xx statuses; `false` returns every response, a function decides per status.
   * @default true
   */
  readonly throwHttpErrors?: boolean | ((status: number) => boolean);
  /** Replaces the network transport, for example with `MemoryTransport` from `reqforge/testing`. */
  readonly transport?: Transport;
  /** Options of the default undici transport (pools, TLS, proxy, socket timeouts). */
  readonly http?: HttpTransportOptions;
  /** More header and parameter names to redact in errors, `toCurl()`, logs and events. */
  readonly redact?: RedactionOptions;
  /**
   * Forward the ambient request and correlation ids (see `runWithContext`); `false` turns it off.
   * @default { requestIdHeader: 'x-request-id', correlationIdHeader: 'x-correlation-id' }
   */
  readonly propagate?: PropagationOptions | false;
  /**
   * Largest response body `json()`, `text()` and `arrayBuffer()` will buffer, in bytes.
   * @default 52428800 (50 MiB): protects memory from an upstream that sends without end; stream larger bodies.
   */
  readonly maxBodySize?: Size;
  /**
   * Send `Accept-Encoding: gzip, deflate, br` (and `zstd` where Node.js decodes it) and decode compressed bodies in
   * `json()`, `text()`, `bytes()`, `body` and `stream()`, with `maxBodySize` bounding the decoded size. `pipeTo()`
   * always relays the bytes as they came. `false` sends no `Accept-Encoding` of its own and never decodes (proxies).
   * @default true
   */
  readonly decompress?: boolean;
  /**
   * Bytes of a failed response's body kept on the `HttpError`.
   * @default 8192: enough for any problem document, small enough to log.
   */
  readonly errorBodyLimit?: Size;
  /** The clock policies use; tests pass a `FakeClock`. */
  readonly clock?: Clock;
  /** A name for this client, used as the `service` tag in events, metrics and logs. */
  readonly name?: string;
  /**
   * OpenTelemetry tracing on `@opentelemetry/api` (an optional peer; you bring the SDK): a span per call and per
   * attempt, trace context injected into every attempt, span events for retries, breaker, limiter, bulkhead and
   * tokens. Without `@opentelemetry/api` installed it stays off; with no SDK registered it costs a no-op span start.
   * See docs/observability.md.
   * @default false
   */
  readonly tracing?: boolean | TracingOptions;
}

/** A request body: text, bytes, form data, a stream (sent once) or a factory (safe to retry). */
export type BodyInit =
  | string
  | Uint8Array
  | ArrayBuffer
  | URLSearchParams
  | FormData
  | BodyStream
  | BodyFactory;

/** Options of one call. */
export interface CallOptions {
  /** Values for `{name}` segments of the path template; each is percent-encoded as one segment. */
  readonly params?: PathParams;
  /** Query parameters, merged after the client's. */
  readonly query?: QueryInit;
  /** Headers, merged over the client's; `null` removes one. */
  readonly headers?: HeadersInit;
  /** A value sent as JSON (`content-type: application/json`). */
  readonly json?: unknown;
  /** Fields sent as `application/x-www-form-urlencoded`. */
  readonly form?:
    | Readonly<Record<string, string | number | boolean | readonly (string | number | boolean)[]>>
    | URLSearchParams;
  /** Any other body. */
  readonly body?: BodyInit;
  /**
   * Aborts the call. A `CallAbort` (call `abort(reason)` on it) does the same without the cost of an
   * `AbortSignal`, for servers that make a call per request.
   */
  readonly signal?: AbortSignal | CallAbort;
  /** Overrides timeouts for this call (ms or durations such as `'5s'`); `false` turns them off. */
  readonly timeout?: TimeoutOptions | Duration | false;
  /** Overrides the client's `throwHttpErrors`. */
  readonly throwHttpErrors?: boolean;
  /** Marks a POST/PATCH as safe to retry (as if it carried an Idempotency-Key). */
  readonly idempotent?: boolean;
  /**
   * `false` turns retries off for this call; an object shapes this call's retries (`{ retries: 5, backoff: … }`): each
   * setting given replaces the client's for this call, the others stay the client's. Refused on a client without a
   * retry policy, as a per-call `timeout` is without a timeout policy.
   */
  readonly retry?: false | CallRetryOptions;
  /**
   * Redirects for this call: `false` returns a 3xx as it is, `{ max }` bounds the hops. Needs a client that follows
   * redirects (the preset does, unless created with `redirect: false`).
   */
  readonly redirect?: RedirectOptions | false;
  /** Extra tags for this call; `route` defaults to the path template. */
  readonly tags?: CallTags;
}

type ParamNames<S extends string> = S extends `${string}{${infer P}}${infer Rest}`
  ? P | ParamNames<Rest>
  : never;

/**
 * The call arguments for a path: when the path is a literal template such as `'/users/{id}'`,
 * `params` with exactly those names is required.
 */
export type CallArgs<P extends string> = string extends P
  ? [options?: CallOptions]
  : [ParamNames<P>] extends [never]
    ? [options?: CallOptions]
    : [options: CallOptions & { readonly params: Readonly<Record<ParamNames<P>, PathParamValue>> }];
