/**
 * Resilience for any async work (a database call, an SDK): the HTTP pipeline's own retry, circuit breaker, rate
 * limiter, bulkhead and timeout policies, composed once around a handler that runs the work. An execution travels
 * through them as a stand-in request (`OPERATION operation://<name>/`) and its result as a stand-in response, so
 * the policies, their events, metrics and state are exactly the HTTP pipeline's, and HTTP calls pay nothing for it.
 */
import { Readable, type Writable } from 'node:stream';
import { inspect } from 'node:util';
import { type Clock, systemClock } from '../core/clock.js';
import { type CallAbort, createCallContext } from '../core/context.js';
import { InvalidOptionError, isRetriesExhaustedError, type ReqforgeError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import { toReqforgeError } from '../core/normalize.js';
import { parseOptions } from '../core/options/index.js';
import { compose, settlesOnAbort } from '../core/pipeline.js';
import { HttpRequest } from '../core/request.js';
import { BodySource, HttpResponse } from '../core/response.js';
import type {
  CallContext,
  CallPolicyOptions,
  CallTags,
  ClientEvents,
  Handler,
  Policy,
} from '../core/types.js';
import type { BulkheadPolicy } from '../policies/bulkhead.js';
import type { BreakerSnapshot, CircuitBreakerPolicy } from '../policies/circuit-breaker.js';
import { isServiceFailure, type OutcomePredicate } from '../policies/predicates.js';
import type { RateLimitPolicy } from '../policies/rate-limit.js';
import type { RetryOptions, RetryPolicy } from '../policies/retry.js';
import type { DelayFunction, RetryPredicate } from '../policies/retry-shape.js';
import { standardPolicies } from '../policies/standard.js';
import { isOperationError, OperationError } from './operation-error.js';
import {
  type ExecuteOptions,
  executeOptionsSchema,
  type OperationBreakerOptions,
  type OperationRetryOptions,
  type ResilienceOptions,
  resilienceOptionsSchema,
} from './options.js';

/** The work `execute()` guards: it receives the attempt's signal (abort your I/O with it) and the call context. */
export type Operation<T> = (signal: AbortSignal, ctx: CallContext) => T;

/** What a guard's policies hold now, for status pages and tests. */
export interface ResilienceState {
  readonly name: string;
  /** Breaker snapshots (one per key: the guard's name), when there is a breaker. */
  readonly circuitBreaker: readonly BreakerSnapshot[] | undefined;
  /** The limiter's state and counters, when there is a rate limit. */
  readonly rateLimit: ReturnType<RateLimitPolicy['snapshot']> | undefined;
  /** Executions in flight and queued, when there is a bulkhead. */
  readonly bulkhead: ReturnType<BulkheadPolicy['snapshot']> | undefined;
  /** Executions and retries in flight, when retries have a budget. */
  readonly retryBudget: { readonly requests: number; readonly retries: number } | undefined;
}

const WORK = Symbol('reqforge.operation');
const EMPTY: ExecuteOptions = Object.freeze({});
// Guarded work is never an HTTP request: only `retryOn` decides what is repeated.
const BASE_OPTIONS: CallPolicyOptions = Object.freeze({ idempotent: true });
const NO_HEADERS = Object.freeze({});

/** An empty body: a stand-in response has nothing to read. */
class NoBody extends BodySource {
  text(): Promise<string> {
    return Promise.resolve('');
  }
  buffer(): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(0));
  }
  dump(): Promise<void> {
    return Promise.resolve();
  }
  stream(): Readable {
    return Readable.from([]);
  }
  pipeTo(destination: Writable): Promise<void> {
    destination.end();
    return Promise.resolve();
  }
}
const NO_BODY = new NoBody();

/** The stand-in response of a successful attempt, carrying the work's value. */
class OperationResult extends HttpResponse {
  readonly value: unknown;
  constructor(request: HttpRequest, value: unknown, elapsed: number) {
    super({ status: 200, headers: NO_HEADERS, body: NO_BODY, request, elapsed });
    this.value = value;
  }
}

/** The error an outcome stands for, as predicates see it: what the work threw, or the reqforge error. */
function unwrap(error: ReqforgeError): unknown {
  return isOperationError(error) ? error.cause : error;
}

function retryFor(o: OperationRetryOptions): RetryOptions {
  const { retryOn, backoff, ...rest } = o;
  const predicate: RetryPredicate = (outcome, ctx) =>
    outcome.error ? retryOn(unwrap(outcome.error), ctx) : false;
  const delay: DelayFunction | undefined =
    typeof backoff === 'function'
      ? (c) =>
          backoff({
            attempt: c.attempt,
            maxRetries: c.maxRetries,
            previousDelay: c.previousDelay,
            error: c.error && unwrap(c.error),
            random: c.random,
            ctx: c.ctx,
          })
      : undefined;
  const kind = typeof backoff === 'function' ? undefined : backoff;
  return {
    ...rest,
    retryOn: predicate,
    ...((delay ?? kind) !== undefined && { backoff: delay ?? kind }),
  } as RetryOptions;
}

function breakerFor(o: OperationBreakerOptions): OperationBreakerOptions & { isFailure?: OutcomePredicate } {
  const { isFailure, ...rest } = o;
  if (!isFailure) return rest;
  // The client's own refusals and a caller's abort never count, whatever the predicate says.
  const predicate: OutcomePredicate = (outcome, ctx) =>
    outcome.error !== undefined && isServiceFailure(outcome, ctx) && isFailure(unwrap(outcome.error), ctx);
  return { ...rest, isFailure: predicate as never };
}

/** Rejects with the abort's reason when `abort` fires before `pending` settles. */
function untilAborted<T>(pending: Promise<T>, abort: CallAbort, request: HttpRequest): Promise<T> {
  if (abort.inert)
    return pending.catch((error: unknown) => {
      throw new OperationError(error, { request });
    });
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(toReqforgeError(abort.reason, request, abort));
    if (abort.aborted) return onAbort();
    abort.on('abort', onAbort);
    pending.then(
      (value) => {
        abort.removeListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        abort.removeListener('abort', onAbort);
        reject(new OperationError(error, { request }));
      },
    );
  });
}

/**
 * Guards any async work with the HTTP pipeline's policies; create with {@link resilience}. One guard serves any
 * number of concurrent executions and keeps its breaker, limiter, bulkhead and budget state between them.
 */
export class Resilience {
  /** The guard's name: its policies' key, its metrics' `server_address`, its events' `service` tag. */
  readonly name: string;
  /** The policies, outermost first. */
  readonly policies: readonly Policy[];
  readonly #handler: Handler;
  readonly #events = new EventHub<ClientEvents>();
  readonly #clock: Clock;
  readonly #request: HttpRequest;
  readonly #tags: CallTags;
  readonly #timeouts: boolean;

  /** @internal use {@link resilience}. */
  constructor(options: ResilienceOptions = {}) {
    const o = parseOptions(resilienceOptionsSchema, options);
    this.name = o.name ?? 'operation';
    this.#clock = options.clock ?? systemClock;
    this.#tags = Object.freeze({ service: this.name });
    this.#request = new HttpRequest({ method: 'OPERATION', origin: `operation://${this.name}`, path: '/' });
    this.policies = standardPolicies(
      {
        timeout: options.timeout ?? false,
        retry: options.retry ? retryFor(options.retry) : false,
        circuitBreaker: options.circuitBreaker ? breakerFor(options.circuitBreaker) : false,
        rateLimit: options.rateLimit,
        bulkhead: options.bulkhead,
        // A value is not a 3xx response: there is nothing to follow.
        redirect: false,
      },
      'default',
    );
    this.#timeouts = this.policies.some((p) => p.name === 'totalTimeout' || p.name === 'attemptTimeout');
    this.#handler = compose(this.policies, this.#innermost());
  }

  /** The guard's events (the HTTP client's: `request`, `attempt`, `retry`, `breaker`, `rateLimit`, `response`, `error`). */
  get events(): EventHub<ClientEvents> {
    return this.#events;
  }

  /** Subscribes to an event; returns an unsubscribe function. */
  on<K extends keyof ClientEvents>(name: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.#events.on(name, listener);
  }

  /**
   * Runs `work` through the guard's policies and resolves with what it returns. Rejects with what `work` threw on
   * its last attempt, unchanged, or with the reqforge error of a policy that refused or gave up
   * (`CircuitOpenError`, `RateLimitedError`, `BulkheadRejectedError`, `TimeoutError`, `AbortError`).
   * `work` receives the attempt's `AbortSignal`: it aborts on a timeout or the caller's abort. The execution settles
   * on time either way, but only work that honours the signal actually stops.
   *
   * @example
   * const rows = await guard.execute((signal) => pool.query({ text: 'SELECT 1', signal }));
   */
  execute<T>(work: Operation<T>, options: ExecuteOptions = EMPTY): Promise<Awaited<T>> {
    let policyOptions: CallPolicyOptions = BASE_OPTIONS;
    try {
      if (typeof work !== 'function')
        throw new InvalidOptionError('work', 'expected a function (signal) => …');
      if (options !== EMPTY) {
        const o = parseOptions(executeOptionsSchema, options, 'execute');
        if (o.timeout !== undefined && o.timeout !== false && !this.#timeouts) {
          throw new InvalidOptionError(
            'execute.timeout',
            'this guard has no timeout to override; give `resilience({ timeout })` one, or pass `signal: AbortSignal.timeout(ms)`',
          );
        }
        policyOptions = {
          ...BASE_OPTIONS,
          timeout: o.timeout as CallPolicyOptions['timeout'],
          retry: o.retry,
        };
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#run(work, options.signal, policyOptions) as Promise<Awaited<T>>;
  }

  /** What the guard's policies hold now: breaker, limiter, bulkhead and retry budget. */
  state(): ResilienceState {
    const find = <P extends Policy>(name: string) =>
      this.policies.find((p) => p.name === name) as P | undefined;
    const retry = find<RetryPolicy>('retry');
    return {
      name: this.name,
      circuitBreaker: find<CircuitBreakerPolicy>('circuitBreaker')?.snapshot(),
      rateLimit: find<RateLimitPolicy>('rateLimit')?.snapshot(),
      bulkhead: find<BulkheadPolicy>('bulkhead')?.snapshot(),
      retryBudget: retry?.budget?.inFlight(this.#request.host),
    };
  }

  /** The guard as printed: its name and policy names. */
  toJSON(): { readonly name: string; readonly policies: readonly string[] } {
    return { name: this.name, policies: this.policies.map((p) => p.name) };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `Resilience ${inspect(this.toJSON(), options)}`;
  }

  #innermost(): Handler {
    const events = this.#events;
    // It settles as soon as the attempt is aborted (whatever the work does), so timeouts need no race of their own.
    return settlesOnAbort((request, ctx) => {
      if (events.has('attempt')) events.emit('attempt', { request, ctx, attempt: ctx.attempt });
      const work = ctx.bag.get(WORK) as Operation<unknown>;
      const started = ctx.clock.now();
      let pending: Promise<unknown>;
      try {
        pending = Promise.resolve(work(ctx.signal, ctx));
      } catch (error) {
        return Promise.reject(new OperationError(error, { request }));
      }
      return untilAborted(pending, ctx.abort, request).then(
        (value) => new OperationResult(request, value, ctx.clock.now() - started),
      );
    });
  }

  async #run(work: Operation<unknown>, signal: AbortSignal | undefined, options: CallPolicyOptions) {
    const events = this.#events;
    const request = this.#request;
    const ctx = createCallContext({
      signal,
      tags: this.#tags,
      clock: this.#clock,
      events,
      options,
      maxBodySize: 0,
    });
    ctx.bag.set(WORK, work);
    if (events.has('request')) events.emit('request', { request, ctx });
    try {
      const response = (await this.#handler(request, ctx)) as OperationResult;
      response.attempts = ctx.attempt;
      if (events.has('response')) {
        events.emit('response', { request, response, ctx, duration: this.#clock.now() - ctx.startedAt });
      }
      return response.value;
    } catch (thrown) {
      const error = toReqforgeError(thrown, request, ctx.abort);
      if (events.has('error'))
        events.emit('error', { request, error, ctx, duration: this.#clock.now() - ctx.startedAt });
      // What the work threw, unchanged; after several attempts, what it threw last (the events have each attempt).
      const last: unknown = isRetriesExhaustedError(error) ? error.cause : error;
      if (isOperationError(last)) throw last.cause;
      throw error;
    } finally {
      if (signal) ctx.callAbort.release();
    }
  }
}

/**
 * Guards any async work (a database call, an SDK) with reqforge's retry, circuit breaker, rate limiter, bulkhead
 * and timeouts: the same option sets, events, metrics and state as the HTTP pipeline. Every policy is off unless
 * given, and no error is retried unless `retry.retryOn` says so.
 *
 * @example
 * const guard = resilience({
 *   name: 'orders-db',
 *   retry: { retries: 3, retryOn: (error) => (error as { code?: string }).code === '40001' },
 *   circuitBreaker: { consecutiveFailures: 5 },
 *   timeout: '2s',
 * });
 * const rows = await guard.execute((signal) => pool.query({ text: 'SELECT …', signal }));
 */
export function resilience(options: ResilienceOptions = {}): Resilience {
  return new Resilience(options);
}
