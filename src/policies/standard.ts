import { InvalidOptionError } from '../core/errors.js';
import {
  type Duration,
  parseOptions,
  standardPolicyOptionsSchema,
  timeoutOptionSchema,
} from '../core/options/index.js';
import type { Policy, TimeoutOptions } from '../core/types.js';
import { type BulkheadOptions, bulkhead } from './bulkhead.js';
import { CIRCUIT_BREAKER_DEFAULTS, type CircuitBreakerOptions, circuitBreaker } from './circuit-breaker.js';
import { type RateLimitOptions, rateLimit } from './rate-limit.js';
import { followRedirects, type RedirectOptions } from './redirect.js';
import { type RetryOptions, retry } from './retry.js';
import { attemptTimeout, TIMEOUT_DEFAULTS, totalTimeout } from './timeout.js';

/** What the standard pipeline is built from. `false` leaves a policy out. */
export interface StandardPolicyOptions {
  /** Timeouts in ms or as durations (`'10s'`); one value sets the total. @default { total: 30000, attempt: 10000 } */
  readonly timeout?: TimeoutOptions | Duration | false | undefined;
  /** Retry settings, or `false` for none. @default retry() */
  readonly retry?: RetryOptions | false | undefined;
  /** Circuit breaker settings, or `false`. The `default` preset leaves it out; `standard` adds it. */
  readonly circuitBreaker?: CircuitBreakerOptions | false | undefined;
  /** Rate limit, off unless given. */
  readonly rateLimit?: RateLimitOptions | false | undefined;
  /** Concurrency limit, off unless given. */
  readonly bulkhead?: BulkheadOptions | false | undefined;
  /** An auth policy, placed inside the limiters so every attempt gets a fresh credential. */
  readonly auth?: Policy | false | undefined;
  /**
   * Redirect following ({@link followRedirects}), or `false` to return 3xx responses as they are (a proxy must).
   * @default { max: 10 }
   */
  readonly redirect?: RedirectOptions | false | undefined;
  /** Extra policies placed just outside the transport (after auth and the attempt timeout). */
  readonly inner?: readonly Policy[] | undefined;
}

/** Which built-in pipeline a client gets: `default` (timeouts, retry with budget) or `standard` (adds the breaker). */
export type Preset = 'default' | 'standard';

/** Normalises the `timeout` option (ms or duration strings) and checks attempt ≤ total. */
export function resolveTimeouts(
  timeout: TimeoutOptions | Duration | false | undefined,
): Required<{ total: number; attempt: number }> {
  const given = parseOptions(timeoutOptionSchema.optional(), timeout, 'timeout');
  if (given === false) return { total: 0, attempt: 0 };
  const t =
    typeof given === 'number'
      ? {
          total: given,
          attempt: given > 0 ? Math.min(TIMEOUT_DEFAULTS.attempt, given) : TIMEOUT_DEFAULTS.attempt,
        }
      : {
          total: given?.total ?? TIMEOUT_DEFAULTS.total,
          attempt: given?.attempt ?? TIMEOUT_DEFAULTS.attempt,
        };
  if (t.total > 0 && t.attempt > t.total) {
    throw new InvalidOptionError(
      'timeout.attempt',
      `the attempt timeout (${t.attempt} ms) exceeds the total timeout (${t.total} ms); make it smaller or raise timeout.total`,
    );
  }
  return t;
}

/**
 * Builds a pipeline in the standard order (outermost first):
 * total timeout → redirects → retry (with budget) → circuit breaker → rate limiter → bulkhead → auth → attempt
 * timeout. Each redirect hop passes the policies inside it again, keyed by the hop's own origin.
 * Each attempt passes the breaker, the limiter and auth again, so a retry consumes a permit, is recorded by
 * the breaker and gets a fresh token. The combination is validated: attempt timeout ≤ total timeout, and
 * the breaker's window at least twice the attempt timeout (or one slow attempt could fill it alone).
 */
export function standardPolicies(options: StandardPolicyOptions = {}, preset: Preset = 'standard'): Policy[] {
  const parsed = parseOptions(standardPolicyOptionsSchema, options);
  const t = resolveTimeouts(options.timeout);
  const out: Policy[] = [];
  if (t.total > 0) out.push(totalTimeout(t.total));
  if (options.redirect !== false) out.push(followRedirects(options.redirect ?? {}));
  if (options.retry !== false) out.push(retry(options.retry ?? {}));
  const breaker = options.circuitBreaker ?? (preset === 'standard' ? {} : false);
  if (breaker !== false) {
    const window = (parsed.circuitBreaker || undefined)?.window ?? CIRCUIT_BREAKER_DEFAULTS.window;
    if (t.attempt > 0 && window < 2 * t.attempt) {
      throw new InvalidOptionError(
        'circuitBreaker.window',
        `the breaker's window (${window} ms) must be at least twice the attempt timeout (${t.attempt} ms); raise the window or lower timeout.attempt`,
      );
    }
    out.push(circuitBreaker(breaker));
  }
  if (options.rateLimit) out.push(rateLimit(options.rateLimit));
  if (options.bulkhead) out.push(bulkhead(options.bulkhead));
  if (options.auth) out.push(options.auth);
  if (t.attempt > 0) out.push(attemptTimeout(t.attempt));
  if (options.inner) out.push(...options.inner);
  return out;
}
