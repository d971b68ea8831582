/**
 * Resilience policies: each is a `Policy` (`wrap(next) => handler`) that composes in any order.
 * @packageDocumentation
 */
export {
  BACKOFF_DEFAULTS,
  type Backoff,
  type BackoffKind,
  type BackoffOptions,
  createBackoff,
} from './backoff.js';
export { type BulkheadOptions, type BulkheadPolicy, bulkhead, mapConcurrent } from './bulkhead.js';
export {
  Breaker,
  type BreakerSnapshot,
  CIRCUIT_BREAKER_DEFAULTS,
  type CircuitBreakerOptions,
  type CircuitBreakerPolicy,
  circuitBreaker,
} from './circuit-breaker.js';
export { type Hooks, hooks } from './hooks.js';
export {
  anyOf,
  DEFAULT_RETRY_ERRORS,
  DEFAULT_RETRY_STATUSES,
  isSafeToRepeat,
  isServiceFailure,
  isTransient,
  NEVER_SENT_ERRORS,
  type Outcome,
  type OutcomePredicate,
  onErrorCode,
  onStatus,
} from './predicates.js';
export {
  type LimiterSnapshot,
  type LimitWindow,
  type LimitWindowOptions,
  type RateLimiter,
  type RateLimitOptions,
  type RateLimitPolicy,
  type RateLimitStats,
  type RateLimitStrategy,
  type Reservation,
  rateLimit,
  TokenBucketLimiter,
  type TokenBucketOptions,
  type WindowSnapshot,
} from './rate-limit.js';
export {
  followRedirects,
  REDIRECT_DEFAULTS,
  REDIRECT_STATUSES,
  type RedirectOptions,
  type RedirectPolicy,
} from './redirect.js';
export {
  type CallRetryOptions,
  parseCallRetry,
  RETRY_DEFAULTS,
  type RetryOptions,
  type RetryPolicy,
  retry,
} from './retry.js';
export { RetryBudget, type RetryBudgetHost, type RetryBudgetOptions } from './retry-budget.js';
export type { DelayFunction, RetryDelayContext, RetryPredicate } from './retry-shape.js';
export { type Preset, resolveTimeouts, type StandardPolicyOptions, standardPolicies } from './standard.js';
export { attemptTimeout, TIMEOUT_DEFAULTS, totalTimeout } from './timeout.js';
export {
  isUsageTracker,
  trackUsage,
  type UsageLimitName,
  type UsageLimits,
  type UsageOption,
  type UsagePolicy,
  type UsageSnapshot,
  UsageTracker,
  type UsageTrackerOptions,
  type UsageWindow,
  usageFromOption,
} from './usage.js';
