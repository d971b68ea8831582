/**
 * What a client's policies know, read back on demand (`client.state()`, `session.state()`, the gateway's
 * `/status.json`). Nothing here runs per call: each reader sums counters the policies keep anyway.
 */
import type { Redactor } from '../core/redact.js';
import type { Policy } from '../core/types.js';
import type { BulkheadPolicy } from '../policies/bulkhead.js';
import type { CircuitBreakerPolicy } from '../policies/circuit-breaker.js';
import type { RateLimitPolicy, RateLimitStrategy } from '../policies/rate-limit.js';
import type { RetryPolicy } from '../policies/retry.js';
import type { RetryBudgetHost } from '../policies/retry-budget.js';
import type { UsagePolicy, UsageSnapshot } from '../policies/usage.js';

/** The state of one breaker. */
export type BreakerStateName = 'closed' | 'open' | 'half-open' | 'isolated';

/**
 * One breaker: what it guards and what it counted. The field is `target`, not `key`: status pages redact fields
 * named like credentials (`key`, `token` …), and a host is not one.
 */
export interface BreakerReport {
  /** What the breaker guards: the host (`keyBy: 'host'`), `host METHOD route` (`'route'`), `*` (`'shared'`) or your key. */
  readonly target: string;
  readonly state: BreakerStateName;
  /** Calls and failures in the breaker's window. */
  readonly calls: number;
  readonly failures: number;
  readonly consecutiveFailures: number;
  /** Milliseconds until an open breaker lets probes through (half-open); 0 when it is not open. */
  readonly halfOpenIn: number;
}

/** The circuit breaker part of a {@link ClientState}. */
export interface CircuitBreakerState {
  readonly enabled: boolean;
  /**
   * `disabled` without a breaker; otherwise the worst state of any target (`isolated` › `open` › `half-open` ›
   * `closed`), and `closed` before the first call. A client with one base URL has one target, so this is its state.
   */
  readonly state: 'disabled' | BreakerStateName;
  /** One entry per target, in the order they were first used. */
  readonly breakers: readonly BreakerReport[];
}

/** One rate-limit bucket now. */
export interface LimiterTarget {
  /** What the bucket is keyed by: the host (`keyBy: 'host'`), `*` (`'shared'`) or your key. */
  readonly target: string;
  /** Permits that could be taken now without waiting. */
  readonly available: number;
  /** Milliseconds until the next permit, 0 when one is free. */
  readonly nextIn: number;
}

/** The rate limiter part of a {@link ClientState}: the seed hfortix's limiter stats plus the buckets. */
export type RateLimitState =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      readonly strategy: RateLimitStrategy;
      /** Permits per window, and the window in ms. */
      readonly limit: number;
      readonly window: number;
      /** Calls let through (at once or after queueing), queued, dropped (`drop`) and refused (`raise`, a full queue). */
      readonly allowed: number;
      readonly queued: number;
      readonly dropped: number;
      readonly raised: number;
      /** allowed / (allowed + dropped + raised): the share of calls that got through; 1 before any call. */
      readonly efficiency: number;
      /** Calls waiting now. */
      readonly queueLength: number;
      /** The longest wait a call had in the queue, in ms. */
      readonly longestWait: number;
      readonly targets: readonly LimiterTarget[];
    };

/** The bulkhead part of a {@link ClientState}. */
export type BulkheadState =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      /** Calls running now and waiting now. */
      readonly inFlight: number;
      readonly queued: number;
      readonly maxConcurrent: number;
      readonly queueSize: number;
    };

/** The retry budget part of a {@link ClientState} (retries in flight per host against what the budget allows). */
export type RetryBudgetState =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      readonly ratio: number;
      readonly minRetries: number;
      readonly targets: readonly RetryBudgetHost[];
    };

/** The usage part of a {@link ClientState}: the client's `usage()` report when tracking is on. */
export type UsageState = { readonly enabled: false } | ({ readonly enabled: true } & UsageSnapshot);

/**
 * What a client's policies know now: the shape of `client.state()`, of each client in `session.state()`, and of
 * each upstream's `state` in the gateway's `/status.json`. A policy the client does not have reads
 * `{ enabled: false }`; with several policies of one kind (your own `policies`), the outermost one is read.
 */
export interface ClientState {
  /** The client's `name`, when it has one. */
  readonly name?: string;
  readonly circuitBreaker: CircuitBreakerState;
  readonly rateLimit: RateLimitState;
  readonly bulkhead: BulkheadState;
  readonly retryBudget: RetryBudgetState;
  readonly usage: UsageState;
}

const OFF = Object.freeze({ enabled: false as const });
const SEVERITY: Readonly<Record<BreakerStateName, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
  isolated: 3,
};

type Found = {
  breaker?: CircuitBreakerPolicy;
  limiter?: RateLimitPolicy;
  bulkhead?: BulkheadPolicy;
  retry?: RetryPolicy;
  usage?: UsagePolicy;
};

const has = (p: Policy, method: string) =>
  typeof (p as unknown as Record<string, unknown>)[method] === 'function';

/** The policies state is read from, found once when a client is built (the outermost of each kind). */
export function statePolicies(policies: readonly Policy[]): Found {
  const found: Found = {};
  for (const p of policies) {
    if (p.name === 'circuitBreaker' && has(p, 'snapshot')) found.breaker ??= p as CircuitBreakerPolicy;
    else if (p.name === 'rateLimit' && has(p, 'stats')) found.limiter ??= p as RateLimitPolicy;
    else if (p.name === 'bulkhead' && has(p, 'snapshot')) found.bulkhead ??= p as BulkheadPolicy;
    else if (p.name === 'retry' && 'budget' in p) found.retry ??= p as RetryPolicy;
    else if (p.name === 'usage' && 'tracker' in p) found.usage ??= p as UsagePolicy;
  }
  return found;
}

/** A target as shown: a `route` key may carry the request's query, whose secret values are redacted. */
function shown(target: string, redactor: Redactor): string {
  const q = target.indexOf('?');
  return q === -1 ? target : `${target.slice(0, q)}?${redactor.query(target.slice(q + 1))}`;
}

function breakerState(policy: CircuitBreakerPolicy | undefined, redactor: Redactor): CircuitBreakerState {
  if (!policy) return { enabled: false, state: 'disabled', breakers: [] };
  let worst: BreakerStateName = 'closed';
  const breakers = policy.snapshot().map((b): BreakerReport => {
    const state = b.state as BreakerStateName;
    if (SEVERITY[state] > SEVERITY[worst]) worst = state;
    return {
      target: shown(b.key, redactor),
      state,
      calls: b.calls,
      failures: b.failures,
      consecutiveFailures: b.consecutiveFailures,
      halfOpenIn: b.opensIn ?? 0,
    };
  });
  return { enabled: true, state: worst, breakers };
}

function limiterState(policy: RateLimitPolicy | undefined, redactor: Redactor): RateLimitState {
  if (!policy) return OFF;
  const s = policy.stats();
  const limiter = policy.limiter;
  let keys: unknown;
  try {
    keys = limiter.snapshot();
  } catch {
    keys = [];
  }
  return {
    enabled: true,
    strategy: policy.strategy,
    limit: limiter.limit,
    window: limiter.window,
    allowed: s.allowed,
    queued: s.queued,
    dropped: s.dropped,
    raised: s.raised,
    efficiency: s.efficiency,
    queueLength: s.queueLength,
    longestWait: s.maxWait,
    // A limiter of your own (or a remote one) may not list its buckets.
    targets: Array.isArray(keys)
      ? keys.map((k: { key: string; available: number; nextIn: number }) => ({
          target: shown(String(k.key), redactor),
          available: k.available,
          nextIn: k.nextIn,
        }))
      : [],
  };
}

/** Reads the state of the policies found by {@link statePolicies}. */
export function readState(found: Found, name: string | undefined, redactor: Redactor): ClientState {
  const b = found.bulkhead?.snapshot();
  const budget = found.retry?.budget;
  const usage = found.usage?.tracker.snapshot();
  return {
    ...(name !== undefined && { name }),
    circuitBreaker: breakerState(found.breaker, redactor),
    rateLimit: limiterState(found.limiter, redactor),
    bulkhead: b ? { enabled: true, ...b } : OFF,
    retryBudget: budget
      ? {
          enabled: true,
          ratio: budget.ratio,
          minRetries: budget.minRetries,
          targets: typeof budget.snapshot === 'function' ? budget.snapshot() : [],
        }
      : OFF,
    usage: usage ? { enabled: true, ...usage } : OFF,
  };
}
