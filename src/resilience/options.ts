/**
 * The options of `resilience()`: the same option sets as the HTTP pipeline's (`retry`, `circuitBreaker`, `timeout`,
 * `rateLimit`, `bulkhead`, checked by the same schemas), with the predicates and delay function speaking about what
 * the work threw rather than about HTTP outcomes.
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { ReqforgeError } from '../core/errors.js';
import {
  bulkheadOptionsSchema,
  circuitBreakerOptionsSchema,
  type Duration,
  objectWith,
  rateLimitOptionsSchema,
  retryOptionsSchema,
  timeoutOptionSchema,
} from '../core/options/index.js';
import type { CallContext, TimeoutOptions } from '../core/types.js';
import type { BackoffKind } from '../policies/backoff.js';
import type { BulkheadOptions } from '../policies/bulkhead.js';
import type { CircuitBreakerOptions } from '../policies/circuit-breaker.js';
import type { RateLimitOptions } from '../policies/rate-limit.js';
import type { RetryOptions } from '../policies/retry.js';

/** What a delay function of `resilience()` sees about the attempt that just failed. */
export interface OperationDelayContext {
  /** The attempt that just failed (1-based). */
  readonly attempt: number;
  /** Retries allowed. */
  readonly maxRetries: number;
  /** The delay waited before this attempt, in ms (0 before the first retry). */
  readonly previousDelay: number;
  /** What the attempt threw (the work's own error, or a reqforge `TimeoutError` for an attempt timeout). */
  readonly error: unknown;
  /** A number in [0, 1) for jitter. */
  readonly random: number;
  /** The call's context. */
  readonly ctx: CallContext;
}

/**
 * Whether an error is retried: `true` after the backoff, a number after that many ms, `false`/`undefined` not at
 * all. It sees what the work threw (or a reqforge `TimeoutError` when an attempt timed out).
 */
export type OperationRetryPredicate = (error: unknown, ctx: CallContext) => boolean | number | undefined;

/**
 * Retry settings of `resilience()`: those of `retry()`, with `retryOn` required. Nothing is retried unless it says
 * so: retrying whatever was thrown would repeat writes that are not idempotent.
 */
export interface OperationRetryOptions extends Omit<RetryOptions, 'retryOn' | 'backoff' | 'idempotencyKey'> {
  /** Which errors are retried (and, with a number, after how long). Required. */
  readonly retryOn: OperationRetryPredicate;
  /** A built-in strategy or a delay function. @default 'exponential' with full jitter */
  readonly backoff?: BackoffKind | ((context: OperationDelayContext) => number);
}

/** Circuit breaker settings of `resilience()`: those of `circuitBreaker()`, `isFailure` seeing what was thrown. */
export interface OperationBreakerOptions extends Omit<CircuitBreakerOptions, 'isFailure'> {
  /**
   * What counts as a failure. @default every error the work throws and every attempt timeout; never a call the
   * caller aborted or one a limiter or bulkhead refused
   */
  readonly isFailure?: (error: unknown, ctx: CallContext) => boolean;
}

/** Options of `resilience()`. Every policy is off unless given. */
export interface ResilienceOptions {
  /**
   * A name for the guarded work: the key of its breaker, limiter and retry budget, the `server_address` label of
   * its metrics and the `service` tag of its events.
   * @default 'operation'
   */
  readonly name?: string;
  /** Retries, or `false`. Off unless given; `retryOn` is required. */
  readonly retry?: OperationRetryOptions | false;
  /** A circuit breaker, or `false`. Off unless given. */
  readonly circuitBreaker?: OperationBreakerOptions | false;
  /**
   * Timeouts in ms or as durations: one value (or `total`) bounds the whole execution, retries and waits included;
   * `attempt` bounds each attempt. Off unless given (unlike HTTP calls, whose anchors do not apply to any work).
   * A timeout settles the execution on time; it cannot stop work that ignores the signal.
   */
  readonly timeout?: TimeoutOptions | Duration | false;
  /** A rate limit, or `false`. Off unless given. */
  readonly rateLimit?: RateLimitOptions | false;
  /** A concurrency limit, or `false`. Off unless given. */
  readonly bulkhead?: BulkheadOptions | false;
  /** The clock for waits, windows and timeouts; tests pass a `FakeClock`. @default the system clock */
  readonly clock?: Clock;
}

/** Options of one `execute()`. */
export interface ExecuteOptions {
  /** Aborts the execution (and the signal the work receives). */
  readonly signal?: AbortSignal;
  /** Overrides the timeouts for this execution; `false` turns them off. Refused when the guard has none. */
  readonly timeout?: TimeoutOptions | Duration | false;
  /** `false`: no retries for this execution. */
  readonly retry?: false;
}

const NO_KEY =
  'there is no request header to carry an idempotency key; decide in `retryOn` which errors are safe to retry';

/** Everything `resilience()` takes, checked with the HTTP pipeline's own schemas. */
export const resilienceOptionsSchema = z.strictObject({
  name: z.string().min(1).optional(),
  retry: z
    .union([
      z.literal(false),
      retryOptionsSchema.extend({
        retryOn: z.custom<OperationRetryPredicate>((v) => typeof v === 'function', {
          error:
            'required: a function (error, ctx) => boolean | ms that decides which errors are retried (none is, unless it says so)',
        }),
        idempotencyKey: z.custom<never>(() => false, { error: NO_KEY }).optional(),
      }),
    ])
    .optional(),
  circuitBreaker: z.union([z.literal(false), circuitBreakerOptionsSchema]).optional(),
  timeout: timeoutOptionSchema.optional(),
  rateLimit: z.union([z.literal(false), rateLimitOptionsSchema]).optional(),
  bulkhead: z.union([z.literal(false), bulkheadOptionsSchema]).optional(),
  clock: objectWith<Clock>('a clock with now(), setTimeout() and clearTimeout()', ['now']).optional(),
});

/** Everything one `execute()` takes. */
export const executeOptionsSchema = z.strictObject({
  signal: objectWith<AbortSignal>('an AbortSignal', ['addEventListener']).optional(),
  timeout: timeoutOptionSchema.optional(),
  retry: z.literal(false).optional(),
});

/** @internal The error an attempt's outcome stands for, for predicates: the work's own, or a reqforge error. */
export type Unwrap = (error: ReqforgeError) => unknown;
