/**
 * Retry you can shape: what a delay function (`backoff: (context) => ms`) sees, what `retryOn` may answer (a
 * boolean or a delay, as Request Forge's `get_delay` and extapi's `need_retry → (bool, delay)` do), and the one
 * place the next delay is decided from them, the built-in backoff and the server's `Retry-After`.
 */
import type { ReqforgeError } from '../core/errors.js';
import type { HttpResponse } from '../core/response.js';
import { parseRateLimitWait } from '../core/retry-after.js';
import type { CallContext } from '../core/types.js';
import type { Backoff } from './backoff.js';
import type { Outcome } from './predicates.js';

/** What a delay function sees about the attempt that just failed. */
export interface RetryDelayContext {
  /** The attempt that just failed (1-based); the retry about to be made is attempt `attempt + 1`. */
  readonly attempt: number;
  /** Retries allowed for this call. */
  readonly maxRetries: number;
  /** The delay waited before this attempt, in ms (0 before the first retry). */
  readonly previousDelay: number;
  /** The response that is being retried, when the attempt got one. */
  readonly response?: HttpResponse | undefined;
  /** The error that is being retried, when the attempt failed without a response. */
  readonly error?: ReqforgeError | undefined;
  /**
   * The wait the server asked for on a 429 or 503 (`Retry-After`, `RateLimit` reset), in ms; undefined when it asked
   * for none. Whatever the function returns, the retry never starts earlier than this.
   */
  readonly retryAfter: number | undefined;
  /** A number in [0, 1) from the policy's `random`, for jitter. */
  readonly random: number;
  /** The call's context. */
  readonly ctx: CallContext;
}

/**
 * A delay function: milliseconds to wait before the next attempt. It replaces the built-in backoff; the server's
 * `Retry-After` still applies as a minimum, and a retry that would start after the call's deadline is not made.
 * A negative result counts as 0; a non-finite one (`Infinity`, `NaN`) stops retrying.
 *
 * @example
 * // Request Forge's get_delay: linear steps of 250 ms.
 * const linear: DelayFunction = ({ attempt }) => attempt * 250;
 */
export type DelayFunction = (context: RetryDelayContext) => number;

/**
 * Whether an outcome is retried: `true` retries after the backoff, `false` (or `undefined`) does not, and a number
 * retries after that many milliseconds (0: at once) in place of the backoff, as extapi's `need_retry` returning
 * `(true, delay)` does. The server's `Retry-After` still applies as a minimum; a non-finite number is not retried.
 */
export type RetryPredicate = (outcome: Outcome, ctx: CallContext) => boolean | number | undefined;

/** @internal What the retry policy needs to decide one delay. */
export interface DelaySettings {
  readonly retries: number;
  readonly maxRetryAfter: number;
  readonly backoff: Backoff;
  readonly delayFn: DelayFunction | undefined;
  readonly random: () => number;
}

/** @internal The delay before the next attempt, or `undefined` when no retry should be made. */
export function nextDelay(
  s: DelaySettings,
  outcome: Outcome,
  verdict: true | number,
  attempt: number,
  previousDelay: number,
  ctx: CallContext,
): number | undefined {
  let asked: number | undefined;
  const response = outcome.response;
  if (response && (response.status === 429 || response.status === 503)) {
    asked = parseRateLimitWait(response.headers, ctx.clock.wallNow());
    if (asked !== undefined && asked > s.maxRetryAfter) return undefined;
  }
  let delay: number;
  if (verdict !== true) delay = verdict;
  else if (s.delayFn) {
    delay = s.delayFn({
      attempt,
      maxRetries: s.retries,
      previousDelay,
      response,
      error: outcome.error,
      retryAfter: asked,
      random: s.random(),
      ctx,
    });
  } else delay = s.backoff(attempt, previousDelay, s.random());
  if (!Number.isFinite(delay)) return undefined;
  delay = Math.max(0, delay);
  return asked === undefined ? delay : Math.max(delay, asked);
}

/** @internal A predicate's answer as `false`, `true` or a delay in ms. */
export function verdictOf(answer: boolean | number | undefined): boolean | number {
  if (typeof answer === 'number') return Number.isFinite(answer) ? answer : false;
  return answer === true;
}
