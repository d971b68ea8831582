/**
 * Resilience for any async work: `resilience({ retry, circuitBreaker, timeout, rateLimit, bulkhead }).execute(fn)`.
 * @packageDocumentation
 */
export { isOperationError, OperationError } from './operation-error.js';
export type {
  ExecuteOptions,
  OperationBreakerOptions,
  OperationDelayContext,
  OperationRetryOptions,
  OperationRetryPredicate,
  ResilienceOptions,
} from './options.js';
export { type Operation, Resilience, type ResilienceState, resilience } from './resilience.js';
