import type { Clock } from './clock.js';
import type { CallAbort } from './context.js';
import type { ReqforgeError } from './errors.js';
import type { EventHub } from './events.js';
import type { Duration } from './options/units.js';
import type { HttpRequest } from './request.js';
import type { HttpResponse } from './response.js';

/** Labels for a call: which service and route it belongs to. Used by keyed policies and metrics. */
export interface CallTags {
  /** The service (client name) making the call. */
  readonly service?: string;
  /** A low-cardinality route name, such as the path template `/users/{id}`. */
  readonly route?: string;
  readonly [tag: string]: string | undefined;
}

/** Timeout settings: milliseconds, or a duration string such as `'10s'`; 0 or Infinity turns one off. */
export interface TimeoutOptions {
  /**
   * Limit for the whole call, retries and waits included.
   * @default 30000 (the Microsoft.Extensions.Http.Resilience standard handler's total timeout)
   */
  readonly total?: Duration;
  /**
   * Limit for one attempt, until response headers arrive.
   * @default 10000 (the same handler's attempt timeout)
   */
  readonly attempt?: Duration;
}

/** What policies may read about the call besides the request. */
export interface CallPolicyOptions {
  /** Overrides the per-call timeouts, in ms (the client has converted duration strings); `false` turns both off. */
  readonly timeout?: { readonly total?: number; readonly attempt?: number } | number | false | undefined;
  /** Marks a non-idempotent call (POST, PATCH) as safe to retry. */
  readonly idempotent?: boolean | undefined;
  /**
   * `false` turns retries off for this call; an object replaces the retry settings it names for this call (checked
   * by the client, durations in ms).
   */
  readonly retry?: false | Readonly<Record<string, unknown>> | undefined;
  /** Overrides the redirect policy for this call: `false` returns redirects as they are, `{ max }` bounds the hops. */
  readonly redirect?: false | { readonly max?: number | undefined } | undefined;
}

/**
 * The call context: one per call, shared by every policy and every attempt of that call.
 * Policies that narrow it (a timeout's signal, an attempt number) restore it when they return.
 */
export interface CallContext {
  /**
   * Aborts when the caller aborts or a timeout fires. Built on first read from {@link CallContext.abort};
   * policies and transports on the hot path should use `abort` instead.
   */
  readonly signal: AbortSignal;
  /**
   * The call's abort state (cheap, EventEmitter-like, accepted by undici as a signal). A policy that adds
   * a deadline replaces it with a linked child (`abort.link(child)`) and restores it when done.
   */
  abort: CallAbort;
  /**
   * The call's own abort state, which follows the caller's `signal` and is never replaced. A transport watches it
   * while a response body is read, after the timeout layers have returned, and holds it with
   * {@link CallAbort.retain} until the body ends.
   */
  readonly callAbort: CallAbort;
  /** Monotonic time (see {@link Clock.now}) by which the call must finish; `Infinity` when unbounded. */
  deadline: number;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
  /** True from the first retry on (`attempt > 1`). */
  readonly isRetry: boolean;
  /**
   * Retries this call may make: set by the retry policy when the call reaches it (the client's setting or the
   * call's own `retry.retries`); 0 before that, with `retry: false`, and in a pipeline without retry.
   */
  maxRetries: number;
  /** Service and route labels. */
  readonly tags: CallTags;
  /** A per-call bag for policies and hooks to share data. */
  readonly bag: Map<unknown, unknown>;
  /** The clock policies must use for time. */
  readonly clock: Clock;
  /** The client's events. */
  readonly events: EventHub<ClientEvents>;
  /** Per-call policy options given by the caller. */
  readonly options: CallPolicyOptions;
  /** Largest body `text()`/`json()` buffer, in bytes; transports pass it to responses. */
  readonly maxBodySize: number;
  /** Whether responses decode their `Content-Encoding`; transports pass it to responses. */
  readonly decompress: boolean;
  /**
   * True once a redirect took the call to an origin other than its first: from then on nothing may add credentials
   * (the client skips its `auth` policies; a custom policy that adds credentials must check this too).
   */
  crossOrigin: boolean;
  /** {@link Clock.now} when the call started. */
  readonly startedAt: number;
}

/** Takes a request and a call context, returns a response. The transport is the innermost handler. */
export type Handler = (request: HttpRequest, ctx: CallContext) => Promise<HttpResponse>;

/**
 * A policy wraps a handler and returns a handler: the one interface every retry, breaker, limiter,
 * timeout, auth step and hook is built on. `wrap` runs once when the client is built, not per call.
 */
export interface Policy {
  /** A short name used in validation messages and introspection, such as `retry`. */
  readonly name: string;
  /** Returns a handler that does this policy's work around `next`. */
  wrap(next: Handler): Handler;
  /**
   * Called once per client built with this policy, with the client's events, for a policy that emits events outside
   * any call (token auth forwards its token manager's lifecycle). Returns what undoes it; the client calls that when
   * it closes.
   */
  attach?(events: EventHub<ClientEvents>): (() => void) | undefined;
}

/** The innermost handler: sends requests over the network (or to an in-memory fake). */
export interface Transport {
  /** Sends one attempt. Throws {@link ReqforgeError}s, never raw socket errors. */
  handle: Handler;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

/** Circuit breaker states. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Typed client events. Payloads carry requests and errors whose printed forms are redacted. */
export interface ClientEvents {
  /** A call started (once per call). */
  request: { readonly request: HttpRequest; readonly ctx: CallContext };
  /** An attempt is about to be sent to the transport. */
  attempt: { readonly request: HttpRequest; readonly ctx: CallContext; readonly attempt: number };
  /** A call finished with a response (any status that was not turned into an error). */
  response: {
    readonly request: HttpRequest;
    readonly response: HttpResponse;
    readonly ctx: CallContext;
    /** Milliseconds the whole call took, until response headers. */
    readonly duration: number;
  };
  /** The retry policy will send another attempt after `delay` ms. */
  retry: {
    readonly request: HttpRequest;
    readonly ctx: CallContext;
    /** The attempt that just failed (1-based). */
    readonly attempt: number;
    readonly delay: number;
    /** `status 503`, or an error code such as `ERR_CONNECTION_RESET`. */
    readonly reason: string;
  };
  /**
   * The retry policy would have retried (`attempt` failed and was retryable, with time left) but the retry budget
   * had no room: the call ends with that attempt's outcome.
   */
  retryBudgetExhausted: {
    readonly request: HttpRequest;
    readonly ctx: CallContext;
    readonly attempt: number;
  };
  /** A circuit breaker changed state. */
  breaker: { readonly key: string; readonly from: BreakerState; readonly to: BreakerState };
  /** A rate limiter decided on a call (`wait` in ms for queued calls, or until a permit for refused ones). */
  rateLimit: {
    readonly key: string;
    readonly outcome: 'allowed' | 'queued' | 'dropped' | 'raised';
    readonly wait: number;
  };
  /**
   * A bulkhead made a call wait for a slot (`queued`, `wait` ms until it got one) or refused it (`rejected`: the queue
   * was full or the wait timed out). Calls that find a free slot emit nothing.
   */
  bulkhead: { readonly outcome: 'queued' | 'rejected'; readonly wait: number };
  /** A call failed. */
  error: {
    readonly request: HttpRequest;
    readonly error: ReqforgeError;
    readonly ctx: CallContext;
    readonly duration: number;
  };
  /**
   * A token event of the auth behind this client, forwarded from its token manager: `kind` is `acquired`,
   * `refreshed`, `failed`, `invalidated`, `expired`, or `cacheHit` (a call was served a cached token). The other
   * fields are the manager event's (see `TokenEvents` in auth): fingerprints, never tokens.
   */
  token: TokenActivity;
  /** The auth's token store failed; the call carried on without it. */
  storeError: {
    readonly store: string;
    readonly operation: string;
    readonly error: Error;
    /** The token's cache key (no secret in it). */
    readonly key: string;
    /** The token provider's id. */
    readonly provider: string;
  };
}

/** The payload of the client's `token` event; `TokenClientEvent` in auth narrows it per kind. */
export interface TokenActivity {
  readonly kind: 'acquired' | 'refreshed' | 'failed' | 'invalidated' | 'expired' | 'cacheHit';
  /** The token's cache key (no secret in it). */
  readonly key: string;
  /** The token provider's id, such as the OAuth2 client id. */
  readonly provider: string;
  /** For `acquired`, `refreshed` and `failed`: milliseconds the fetch took. */
  readonly duration?: number;
  /** For `acquired`, `refreshed` and `failed`: true for a refresh nobody waited for. */
  readonly background?: boolean;
}
