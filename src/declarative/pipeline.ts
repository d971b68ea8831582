/**
 * Each endpoint's pipeline, in the standard order (total timeout → retry → breaker → client limit → endpoint limit →
 * bulkhead → auth → attempt timeout), built from the client's settings and the endpoint's overrides. What belongs to
 * the service rather than to one endpoint is shared by every endpoint of a connected client: the retry budget, the
 * client's rate limit and bulkhead, and breakers that share a `breakerKey`.
 */
import { InvalidOptionError } from '../core/errors.js';
import { type Duration, parseDuration } from '../core/options/index.js';
import { IDEMPOTENT_METHODS } from '../core/request.js';
import type { Policy, TimeoutOptions } from '../core/types.js';
import { type BulkheadOptions, bulkhead } from '../policies/bulkhead.js';
import {
  CIRCUIT_BREAKER_DEFAULTS,
  type CircuitBreakerOptions,
  circuitBreaker,
} from '../policies/circuit-breaker.js';
import { NEVER_SENT_ERRORS, onErrorCode } from '../policies/predicates.js';
import { type RateLimitOptions, rateLimit } from '../policies/rate-limit.js';
import { type RetryOptions, retry } from '../policies/retry.js';
import { RetryBudget } from '../policies/retry-budget.js';
import { resolveTimeouts } from '../policies/standard.js';
import { attemptTimeout, totalTimeout } from '../policies/timeout.js';
import type { AnyEndpoint, EndpointOptions } from './endpoint.js';

/** The client-level settings every endpoint starts from, with `resilience` already resolved. */
export interface ClientResilience {
  readonly timeout: TimeoutOptions | Duration | false | undefined;
  readonly retry: RetryOptions | false;
  readonly circuitBreaker: CircuitBreakerOptions | false;
  readonly rateLimit: RateLimitOptions | false | undefined;
  readonly bulkhead: BulkheadOptions | false | undefined;
  readonly auth: Policy | false | undefined;
}

/** What `resilience` stands for, and where each of its parts may also be given. */
export interface ResilienceInput {
  readonly resilience?:
    | boolean
    | { readonly retry?: RetryOptions | false; readonly circuitBreaker?: CircuitBreakerOptions | false }
    | undefined;
  readonly retry?: RetryOptions | false | undefined;
  readonly circuitBreaker?: CircuitBreakerOptions | false | undefined;
}

/**
 * Resolves `resilience` with the top-level `retry` and `circuitBreaker`: `true` (the default) is PyFly's
 * `@service_client` (retry, 3 retries, and a circuit breaker opening after 5 consecutive failures), `false` its
 * `@http_client` (neither), an object says both. Giving `retry` or `circuitBreaker` both inside and beside
 * `resilience`, or beside `resilience: false`, is refused.
 */
export function resolveResilience(o: ResilienceInput): Pick<ClientResilience, 'retry' | 'circuitBreaker'> {
  const r = o.resilience ?? true;
  if (r === false || typeof r === 'object') {
    for (const key of ['retry', 'circuitBreaker'] as const) {
      if (o[key] !== undefined) {
        throw new InvalidOptionError(
          key,
          r === false
            ? `cannot be combined with "resilience: false" (which turns retry and the circuit breaker off); drop one of them`
            : `is given both beside and inside "resilience"; give it in one place`,
        );
      }
    }
  }
  if (r === false) return { retry: false, circuitBreaker: false };
  const given = typeof r === 'object' ? r : o;
  return { retry: given.retry ?? {}, circuitBreaker: given.circuitBreaker ?? {} };
}

/** State one connected client shares between its endpoints. */
export class SharedPolicies {
  readonly budget: RetryBudget | false | undefined;
  readonly rateLimit: Policy | undefined;
  readonly bulkhead: Policy | undefined;
  readonly #breakers = new Map<string, Policy>();
  readonly #client: ClientResilience;

  constructor(client: ClientResilience) {
    this.#client = client;
    const b = client.retry === false ? false : client.retry.budget;
    this.budget = b === false ? false : b instanceof RetryBudget ? b : new RetryBudget(b);
    this.rateLimit = client.rateLimit ? rateLimit(client.rateLimit) : undefined;
    this.bulkhead = client.bulkhead ? bulkhead(client.bulkhead) : undefined;
  }

  /** The breaker endpoints with `breakerKey: key` share, built once from the client's settings. */
  breaker(key: string): Policy {
    let found = this.#breakers.get(key);
    if (!found) {
      const options = this.#client.circuitBreaker === false ? {} : this.#client.circuitBreaker;
      found = circuitBreaker(options);
      this.#breakers.set(key, found);
    }
    return found;
  }
}

function retryFor(
  name: string,
  ep: AnyEndpoint,
  o: EndpointOptions,
  client: ClientResilience,
  shared: SharedPolicies,
): Policy | undefined {
  if (o.retry === false || (client.retry === false && o.retry === undefined)) return undefined;
  const base: RetryOptions = client.retry === false ? {} : client.retry;
  const merged: { -readonly [K in keyof RetryOptions]: RetryOptions[K] } = { ...base, ...o.retry };
  if (o.retry?.budget === undefined && shared.budget !== undefined) merged.budget = shared.budget;
  // A header the endpoint generates keys in must count as one for the retry's safety check.
  if (typeof o.idempotencyKey === 'string') merged.idempotencyKey = o.idempotencyKey;
  // Declared not idempotent (a PUT or DELETE that is not): only what provably never left is sent again.
  if (o.idempotent === false && IDEMPOTENT_METHODS.has(ep.method))
    merged.retryOn = onErrorCode(NEVER_SENT_ERRORS);
  try {
    return retry(merged);
  } catch (error) {
    throw rename(error, `endpoints.${name}`);
  }
}

function rename(error: unknown, where: string): unknown {
  if (error instanceof InvalidOptionError && !error.option.startsWith('endpoints.')) {
    return new InvalidOptionError(
      `${where}.${error.option}`,
      error.message.replace(/^Invalid option "[^"]*": /, ''),
      {
        issues: error.issues.map((i) => ({ ...i, path: `${where}.${i.path}` })),
      },
    );
  }
  return error;
}

function breakerFor(
  o: EndpointOptions,
  client: ClientResilience,
  shared: SharedPolicies,
): { policy: Policy; window: number } | undefined {
  if (o.circuitBreaker === false) return undefined;
  if (o.breakerKey !== undefined) {
    const opts = client.circuitBreaker === false ? {} : client.circuitBreaker;
    return { policy: shared.breaker(o.breakerKey), window: numberOr(opts.window) };
  }
  const opts = o.circuitBreaker ?? client.circuitBreaker;
  if (opts === false) return undefined;
  return { policy: circuitBreaker(opts), window: numberOr(opts.window) };
}

function numberOr(window: Duration | undefined): number {
  return (window === undefined ? undefined : parseDuration(window)) ?? CIRCUIT_BREAKER_DEFAULTS.window;
}

/** The policies of one endpoint, outermost first. */
export function endpointPolicies(
  name: string,
  ep: AnyEndpoint,
  client: ClientResilience,
  shared: SharedPolicies,
): Policy[] {
  const o = ep.options as EndpointOptions;
  if (o.breakerKey !== undefined && o.circuitBreaker !== undefined) {
    throw new InvalidOptionError(
      `endpoints.${name}.circuitBreaker`,
      'cannot be combined with "breakerKey" (endpoints sharing a key share the client\'s breaker settings); drop one',
    );
  }
  let t: { total: number; attempt: number };
  try {
    t = resolveTimeouts(o.timeout !== undefined ? o.timeout : client.timeout);
  } catch (error) {
    throw rename(error, `endpoints.${name}`);
  }
  const out: Policy[] = [];
  if (t.total > 0) out.push(totalTimeout(t.total));
  const r = retryFor(name, ep, o, client, shared);
  if (r) out.push(r);
  const breaker = breakerFor(o, client, shared);
  if (breaker) {
    if (t.attempt > 0 && breaker.window < 2 * t.attempt) {
      throw new InvalidOptionError(
        `endpoints.${name}.circuitBreaker.window`,
        `the breaker's window (${breaker.window} ms) must be at least twice the attempt timeout (${t.attempt} ms); raise the window or lower the timeout`,
      );
    }
    out.push(breaker.policy);
  }
  if (shared.rateLimit) out.push(shared.rateLimit);
  if (o.rateLimit) out.push(rateLimit(o.rateLimit));
  if (shared.bulkhead) out.push(shared.bulkhead);
  const auth = o.auth !== undefined ? o.auth : client.auth;
  if (auth) out.push(auth);
  if (t.attempt > 0) out.push(attemptTimeout(t.attempt));
  return out;
}
