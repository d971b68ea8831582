import type { Clock } from '../core/clock.js';
import { CallAbort } from '../core/context.js';
import { type Deadline, type DeadlineQueue, deadlineEntry, deadlineQueue } from '../core/deadlines.js';
import { TimeoutError, type TimeoutScope } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import { type Duration, duration, parseOptions } from '../core/options/index.js';
import { type Continuation, continuationOf, isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler, Policy } from '../core/types.js';

/** Default timeouts, from the Microsoft.Extensions.Http.Resilience standard handler. */
export const TIMEOUT_DEFAULTS = {
  /** @default 30000: long enough for a few retries with backoff, short enough to free callers. */
  total: 30_000,
  /** @default 10000: one slow attempt must leave time for a retry inside the total. */
  attempt: 10_000,
} as const satisfies Required<{ total: number; attempt: number }>;

/** Checks a timeout value (ms or a duration string such as `'10s'`); `Infinity` and `0` mean "no timeout". */
export function validateTimeout(option: string, ms: unknown): number {
  return parseOptions(TIMEOUT_MS, ms, option);
}

const TIMEOUT_MS = duration({ infinite: true });

function override(ctx: CallContext, scope: TimeoutScope): number | undefined {
  const t = ctx.options.timeout;
  if (t === undefined) return undefined;
  if (t === false) return 0;
  if (typeof t === 'number') return scope === 'total' ? t : undefined;
  return t[scope];
}

/**
 * Limits the whole call (all attempts and waits) to `ms` and sets the call's deadline, which
 * retry uses to never sleep past it. A per-call `timeout` option overrides `ms`.
 * @param ms milliseconds or a duration such as `'30s'`; 0 or Infinity turns it off
 */
export function totalTimeout(ms: Duration = TIMEOUT_DEFAULTS.total): Policy {
  return timeoutPolicy('total', validateTimeout('timeout.total', ms));
}

/**
 * Limits each attempt to `ms` (until response headers arrive). A per-call `timeout.attempt` overrides it.
 * @param ms milliseconds or a duration such as `'30s'`; 0 or Infinity turns it off
 */
export function attemptTimeout(ms: Duration = TIMEOUT_DEFAULTS.attempt): Policy {
  return timeoutPolicy('attempt', validateTimeout('timeout.attempt', ms));
}

interface TimeoutPolicy extends Policy {
  readonly timeout: number;
  readonly scope: TimeoutScope;
}

function timeoutPolicy(scope: TimeoutScope, ms: number): TimeoutPolicy {
  // The deadline queue of the last clock seen, so the hot path skips the lookup.
  let clock: Clock | undefined;
  let queue: DeadlineQueue | undefined;
  return {
    name: scope === 'total' ? 'totalTimeout' : 'attemptTimeout',
    timeout: ms,
    scope,
    wrap: (next: Handler): Handler => {
      // Right around a transport that enforces deadlines itself, an attempt timeout just hands it the deadline.
      const handOver = scope === 'attempt' ? deadlineEntry(next) : undefined;
      // Around a handler that settles once aborted, aborting it is enough: no race of our own.
      const race = !isSettlingOnAbort(next);
      // The total timeout reacts to the inner promise anyway: a continuation right inside it (the redirect check)
      // runs in that reaction, and its inner handler is called directly.
      const fused = scope === 'total' ? continuationOf(next) : undefined;
      const inner = fused ? fused.inner : next;
      const handler: Handler = (request, ctx) => {
        const limit = override(ctx, scope) ?? ms;
        if (!(limit > 0 && limit < Number.POSITIVE_INFINITY)) return next(request, ctx);
        let q: DeadlineQueue;
        if (limit !== ms) q = deadlineQueue(ctx.clock, limit);
        else if (ctx.clock === clock) q = queue as DeadlineQueue;
        else {
          clock = ctx.clock;
          q = queue = deadlineQueue(clock, ms);
        }
        return handOver
          ? handOver(request, ctx, q)
          : runWithTimeout(scope, q, race, inner, request, ctx, fused);
      };
      // It passes calls straight through when a call turns it off, so it promises no more than `next` does.
      return settlesOnAbort(handler, !race);
    },
  };
}

/** True for a timeout policy made by {@link totalTimeout} or {@link attemptTimeout}; used by validation. */
export function isTimeoutPolicy(policy: Policy): policy is TimeoutPolicy {
  return (policy.name === 'totalTimeout' || policy.name === 'attemptTimeout') && 'timeout' in policy;
}

function runWithTimeout(
  scope: TimeoutScope,
  queue: DeadlineQueue,
  race: boolean,
  next: Handler,
  request: HttpRequest,
  ctx: CallContext,
  continuation?: Continuation,
): Promise<HttpResponse> {
  const outer = ctx.abort;
  if (outer.aborted) return Promise.reject(toReqforgeError(outer.reason, request, outer));
  const guard = new TimeoutGuard(scope, queue, request, ctx);
  outer.link(guard);
  const at = queue.add(guard);
  ctx.abort = guard;
  if (scope === 'total') ctx.deadline = Math.min(guard.outerDeadline, at);
  let pending: Promise<HttpResponse>;
  try {
    pending = next(request, ctx);
  } catch (error) {
    pending = Promise.reject(error);
  }
  return race ? guard.race(pending, continuation) : guard.follow(pending, continuation);
}

const dumpLate = (response: HttpResponse): void => {
  void response.dump();
};
const ignore = (): void => undefined;

/**
 * One timeout layer of one call: the abort state seen by the layers inside it, the entry in the deadline queue,
 * and a hand-made race (cheaper than an async frame plus `Promise.race` on the hot path) so the call settles on
 * time even if an inner handler ignores the abort, and a response that arrives too late is released.
 */
class TimeoutGuard extends CallAbort implements Deadline {
  at = 0;
  queued = false;
  readonly outer: CallAbort;
  readonly outerDeadline: number;
  readonly #scope: TimeoutScope;
  readonly #queue: DeadlineQueue;
  readonly #request: HttpRequest;
  readonly #ctx: CallContext;
  #settled = false;
  #reject: ((error: unknown) => void) | undefined;

  constructor(scope: TimeoutScope, queue: DeadlineQueue, request: HttpRequest, ctx: CallContext) {
    super();
    this.#scope = scope;
    this.#queue = queue;
    this.#request = request;
    this.#ctx = ctx;
    this.outer = ctx.abort;
    this.outerDeadline = ctx.deadline;
  }

  fire(): void {
    this.abort(new TimeoutError(this.#scope, this.#queue.ms, { request: this.#request }));
  }

  override abort(reason: unknown): void {
    if (this.aborted) return;
    super.abort(reason);
    const reject = this.#reject;
    if (reject && !this.#settled) {
      this.#finish();
      reject(toReqforgeError(reason, this.#request, this));
    }
  }

  race(pending: Promise<HttpResponse>, continuation?: Continuation): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      if (this.aborted) {
        // Aborted while the inner layers started: settle now, and release whatever comes later.
        this.#finish();
        reject(toReqforgeError(this.reason, this.#request, this));
        pending.then(dumpLate, ignore);
        return;
      }
      this.#reject = reject;
      const answered = (response: HttpResponse): void => {
        if (this.#settled) return dumpLate(response);
        this.#finish();
        resolve(response);
      };
      const failed = (error: unknown): void => {
        if (this.#settled) return;
        this.#finish();
        reject(toReqforgeError(error, this.#request, this));
      };
      pending.then((response) => {
        if (continuation === undefined || this.#settled) return answered(response);
        // Whatever the continuation starts (redirect hops) runs under this deadline, and the race goes on.
        let out: HttpResponse | Promise<HttpResponse>;
        try {
          out = continuation.then(response, this.#request, this.#ctx);
        } catch (error) {
          return failed(error);
        }
        if (out === response) return answered(response);
        (out as Promise<HttpResponse>).then(answered, failed);
      }, failed);
    });
  }

  /**
   * Settles with `pending`, which ends once this guard aborts (the inner handler is marked so): cleanup only, no
   * promise of our own. A response that arrives after the deadline is released and the call fails all the same.
   */
  follow(pending: Promise<HttpResponse>, continuation?: Continuation): Promise<HttpResponse> {
    return pending.then(
      (response) => {
        if (continuation !== undefined && !this.aborted) {
          // Whatever the continuation starts (redirect hops) runs under this deadline: cleanup waits for it.
          let out: HttpResponse | Promise<HttpResponse>;
          try {
            out = continuation.then(response, this.#request, this.#ctx);
          } catch (error) {
            return this.#failed(error);
          }
          if (out !== response) {
            return (out as Promise<HttpResponse>).then(
              (last) => this.#succeeded(last),
              (error: unknown) => this.#failed(error),
            );
          }
        }
        return this.#succeeded(response);
      },
      (error: unknown) => this.#failed(error),
    );
  }

  #succeeded(response: HttpResponse): HttpResponse {
    this.#finish();
    if (!this.aborted) return response;
    dumpLate(response);
    throw toReqforgeError(this.reason, this.#request, this);
  }

  #failed(error: unknown): never {
    this.#finish();
    // Whatever the inner layers made of it, an aborted call fails with the abort's reason, as when racing.
    throw toReqforgeError(this.aborted ? this.reason : error, this.#request, this);
  }

  #finish(): void {
    this.#settled = true;
    this.#queue.remove(this);
    this.outer.unlink(this);
    this.#ctx.abort = this.outer;
    this.#ctx.deadline = this.outerDeadline;
  }
}
