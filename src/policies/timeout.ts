import { InvalidOptionError, TimeoutError, type TimeoutScope } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler, Policy, TimeoutOptions } from '../core/types.js';

/** Default timeouts, from the Microsoft.Extensions.Http.Resilience standard handler. */
export const TIMEOUT_DEFAULTS = {
  /** @default 30000: long enough for a few retries with backoff, short enough to free callers. */
  total: 30_000,
  /** @default 10000: one slow attempt must leave time for a retry inside the total. */
  attempt: 10_000,
} as const satisfies Required<TimeoutOptions>;

/** Checks a timeout value; `Infinity` and `0` mean "no timeout". */
export function validateTimeout(option: string, ms: unknown): number {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) {
    throw new InvalidOptionError(
      option,
      `expected milliseconds as a number >= 0 (0 or Infinity disables it), got ${String(ms)}`,
    );
  }
  return ms;
}

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
 * @param ms milliseconds; 0 or Infinity turns it off
 */
export function totalTimeout(ms: number = TIMEOUT_DEFAULTS.total): Policy {
  return timeoutPolicy('total', validateTimeout('timeout.total', ms));
}

/**
 * Limits each attempt to `ms` (until response headers arrive). A per-call `timeout.attempt` overrides it.
 * @param ms milliseconds; 0 or Infinity turns it off
 */
export function attemptTimeout(ms: number = TIMEOUT_DEFAULTS.attempt): Policy {
  return timeoutPolicy('attempt', validateTimeout('timeout.attempt', ms));
}

interface TimeoutPolicy extends Policy {
  readonly timeout: number;
  readonly scope: TimeoutScope;
}

function timeoutPolicy(scope: TimeoutScope, ms: number): TimeoutPolicy {
  return {
    name: scope === 'total' ? 'totalTimeout' : 'attemptTimeout',
    timeout: ms,
    scope,
    wrap:
      (next: Handler): Handler =>
      (request, ctx) => {
        const limit = override(ctx, scope) ?? ms;
        if (!(limit > 0 && limit < Number.POSITIVE_INFINITY)) return next(request, ctx);
        return runWithTimeout(scope, limit, next, request, ctx);
      },
  };
}

/** True for a timeout policy made by {@link totalTimeout} or {@link attemptTimeout}; used by validation. */
export function isTimeoutPolicy(policy: Policy): policy is TimeoutPolicy {
  return (policy.name === 'totalTimeout' || policy.name === 'attemptTimeout') && 'timeout' in policy;
}

function runWithTimeout(
  scope: TimeoutScope,
  ms: number,
  next: Handler,
  request: HttpRequest,
  ctx: CallContext,
): Promise<HttpResponse> {
  const outer = ctx.abort;
  const outerDeadline = ctx.deadline;
  if (outer.aborted) return Promise.reject(toReqforgeError(outer.reason, request, outer));
  const [inner, unlink] = outer.child();
  const timer = ctx.clock.setTimeout(() => inner.abort(new TimeoutError(scope, ms, { request })), ms);
  ctx.abort = inner;
  if (scope === 'total') ctx.deadline = Math.min(outerDeadline, ctx.clock.now() + ms);
  let pending: Promise<HttpResponse>;
  try {
    pending = next(request, ctx);
  } catch (error) {
    pending = Promise.reject(error);
  }
  // A hand-made race (cheaper than an async frame plus Promise.race on the hot path): the call settles on
  // time even if an inner handler ignores the abort, and a response that arrives too late is released.
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const finish = () => {
      settled = true;
      ctx.clock.clearTimeout(timer);
      unlink();
      ctx.abort = outer;
      ctx.deadline = outerDeadline;
    };
    inner.on('abort', () => {
      if (settled) return;
      finish();
      reject(toReqforgeError(inner.reason, request, inner));
    });
    pending.then(
      (response) => {
        if (settled) {
          void response.dump();
          return;
        }
        finish();
        resolve(response);
      },
      (error: unknown) => {
        if (settled) return;
        finish();
        reject(toReqforgeError(error, request, inner));
      },
    );
  });
}
