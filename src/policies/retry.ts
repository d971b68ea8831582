import { randomUUID } from 'node:crypto';
import { sleepWith } from '../core/clock.js';
import { type AttemptRecord, type ReqforgeError, RetriesExhaustedError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import {
  callRetryOptionsSchema,
  type Duration,
  parseOptions,
  retryOptionsSchema,
} from '../core/options/index.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler, Policy } from '../core/types.js';
import { type Backoff, type BackoffKind, createBackoff } from './backoff.js';
import {
  DEFAULT_RETRY_STATUSES,
  isSafeToRepeat,
  isTransient,
  NEVER_SENT_ERRORS,
  type Outcome,
} from './predicates.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { type DelayFunction, nextDelay, type RetryPredicate, verdictOf } from './retry-shape.js';

/** Retry settings. Each default carries its reason. */
export interface RetryOptions {
  /**
   * Retries after the first attempt (so at most `retries + 1` attempts).
   * @default 3 (Microsoft.Extensions.Http.Resilience; enough to ride out a blip, few enough not to pile on)
   */
  readonly retries?: number;
  /**
   * A built-in strategy, or a delay function `(context) => ms` that replaces it (see {@link DelayFunction}).
   * @default 'exponential' with full jitter
   */
  readonly backoff?: BackoffKind | DelayFunction;
  /** First backoff delay, in ms or as a duration such as `'200ms'`. @default 200 ms */
  readonly baseDelay?: Duration;
  /** Largest backoff delay, in ms or as a duration such as `'20s'`. @default 20000 ms */
  readonly maxDelay?: Duration;
  /**
   * Longest `Retry-After` / `RateLimit-Reset` wait honoured; a server asking for more is not retried.
   * @default 60000 ms
   */
  readonly maxRetryAfter?: Duration;
  /**
   * What is retried: `true` retries after the backoff, a number retries after that many ms (see
   * {@link RetryPredicate}). Only idempotent calls are ever retried, whatever it answers.
   * @default {@link isTransient}: 408, 429, 500, 502, 503, 504, connection errors, attempt timeouts
   */
  readonly retryOn?: RetryPredicate;
  /**
   * For non-idempotent calls without an `Idempotency-Key`, generate one (kept for every attempt of the call),
   * which makes them retryable. `true` uses the header `idempotency-key`; a string names the header.
   * @default false (adding a header unasked can break APIs that do not expect it)
   */
  readonly idempotencyKey?: boolean | string;
  /** The retry budget, or `false` for none. @default a per-policy {@link RetryBudget} (20 %, min 3) */
  readonly budget?: RetryBudget | RetryBudgetOptions | false;
  /** Source of randomness in [0, 1); tests pass a seeded one. @default Math.random */
  readonly random?: () => number;
}

/**
 * One call's retry settings (`api.get(url, { retry: { retries: 5 } })`): each one given replaces the client's for
 * that call, the others stay the client's. The budget is the client's (shared by every call), so it cannot be set.
 */
export type CallRetryOptions = Omit<RetryOptions, 'budget'>;

/** Retry defaults. */
export const RETRY_DEFAULTS = { retries: 3, maxRetryAfter: 60_000 } as const;

/** The retry policy object: a {@link Policy} with its budget exposed. */
export interface RetryPolicy extends Policy {
  readonly name: 'retry';
  readonly budget: RetryBudget | undefined;
  readonly options: Readonly<RetryOptions>;
}

function idempotencyHeader(option: boolean | string | undefined): string | undefined {
  if (option === undefined || option === false) return undefined;
  return option === true ? 'idempotency-key' : option.toLowerCase();
}

/** Retry options after parsing: durations in ms. */
type Parsed = Omit<RetryOptions, 'baseDelay' | 'maxDelay' | 'maxRetryAfter' | 'budget'> & {
  readonly baseDelay?: number | undefined;
  readonly maxDelay?: number | undefined;
  readonly maxRetryAfter?: number | undefined;
};

function settingsOf(o: Parsed, budget: RetryBudget | undefined): Settings {
  const kind = typeof o.backoff === 'function' ? undefined : o.backoff;
  return {
    retries: o.retries ?? RETRY_DEFAULTS.retries,
    maxRetryAfter: o.maxRetryAfter ?? RETRY_DEFAULTS.maxRetryAfter,
    backoff: createBackoff({
      ...(kind !== undefined && { kind }),
      ...(o.baseDelay !== undefined && { base: o.baseDelay }),
      ...(o.maxDelay !== undefined && { cap: o.maxDelay }),
    }),
    delayFn: typeof o.backoff === 'function' ? o.backoff : undefined,
    budget,
    retryOn: o.retryOn ?? isTransient,
    random: o.random ?? Math.random,
    keyHeader: idempotencyHeader(o.idempotencyKey),
  };
}

/**
 * Checks one call's `retry` settings through the same schema as {@link retry}'s (without the budget) and returns
 * them with durations in milliseconds. The client calls it when a call carries a `retry` object.
 */
export function parseCallRetry(options: CallRetryOptions): CallRetryOptions {
  return parseOptions(callRetryOptionsSchema, options, 'retry') as CallRetryOptions;
}

/**
 * Retries failed attempts with backoff. Honours `Retry-After` and rate-limit reset headers up to a cap,
 * never sleeps past the call's deadline, retries only idempotent calls (or ones with an
 * `Idempotency-Key`, or marked `idempotent: true`), never resends a one-shot stream, drains every
 * discarded response, and respects a per-host retry budget. A call's own `retry` object (checked by the client)
 * replaces the settings it names for that call.
 */
export function retry(options: RetryOptions = {}): RetryPolicy {
  const o = parseOptions(retryOptionsSchema, options, 'retry') as Parsed;
  const budget =
    options.budget === false
      ? undefined
      : options.budget instanceof RetryBudget
        ? options.budget
        : new RetryBudget(options.budget);
  const settings = settingsOf(o, budget);
  const retries = settings.retries;
  return {
    name: 'retry',
    budget,
    options,
    // Its waits (the attempt, a backoff sleep, draining a discarded body) all end when the call aborts.
    wrap: (next: Handler): Handler =>
      settlesOnAbort((request, ctx) => {
        const own = ctx.options.retry;
        if (own === undefined) {
          if (retries === 0) return next(request, ctx);
          return runWithRetries(settings, next, request, ctx);
        }
        if (own === false) return next(request, ctx);
        return runWithRetries(settingsOf({ ...o, ...(own as Parsed) }, budget), next, request, ctx);
      }, isSettlingOnAbort(next)),
  };
}

interface Settings {
  readonly retries: number;
  readonly maxRetryAfter: number;
  readonly backoff: Backoff;
  readonly delayFn: DelayFunction | undefined;
  readonly budget: RetryBudget | undefined;
  readonly retryOn: RetryPredicate;
  readonly random: () => number;
  readonly keyHeader: string | undefined;
}

function describe(outcome: Outcome): string {
  return outcome.response ? `status ${outcome.response.status}` : outcome.error.code;
}

/** Whether a response is worth another attempt (or after how long); the default is answered without allocating. */
function retryableResponse(s: Settings, response: HttpResponse, ctx: CallContext): boolean | number {
  return s.retryOn === isTransient
    ? DEFAULT_RETRY_STATUSES.has(response.status)
    : verdictOf(s.retryOn({ response }, ctx));
}

/**
 * Runs a call's attempts. The first attempt is followed with one `then`, not an async frame: a response nobody wants
 * retried (the common case) settles the call there, a promise and a turn fewer per call; anything else goes on in
 * {@link retryAfterFirst}.
 */
function runWithRetries(
  s: Settings,
  next: Handler,
  original: HttpRequest,
  ctx: CallContext,
): Promise<HttpResponse> {
  let request = original;
  try {
    // A non-idempotent call gets its generated key before the first attempt, so every attempt carries the same one.
    if (s.keyHeader && !isSafeToRepeat(request, ctx, s.keyHeader))
      request = request.withHeaders({ [s.keyHeader]: randomUUID() });
  } catch (error) {
    return Promise.reject(error);
  }
  const sent = request;
  const host = request.host;
  const endCall = s.budget?.begin(host);
  const outerAttempt = ctx.attempt;
  const outerMax = ctx.maxRetries;
  ctx.maxRetries = s.retries;
  ctx.attempt = 1;
  const end = (): void => {
    endCall?.();
    // Leave the final attempt number for the client to report; restore only for an enclosing retry.
    if (outerAttempt > 1) ctx.attempt = outerAttempt;
    if (outerMax > 0) ctx.maxRetries = outerMax;
  };
  const failedFirst = (thrown: unknown): Promise<HttpResponse> =>
    retryAfterFirst(s, next, sent, ctx, { error: toReqforgeError(thrown, sent, ctx.abort) }, undefined, end);
  let first: Promise<HttpResponse>;
  try {
    first = next(sent, ctx);
  } catch (thrown) {
    first = Promise.reject(thrown);
  }
  return first.then((response) => {
    // Fast path: a response nobody wants retried.
    if (s.retries < 1) {
      end();
      return response;
    }
    let verdict: boolean | number;
    try {
      verdict = retryableResponse(s, response, ctx);
    } catch (thrown) {
      return failedFirst(thrown);
    }
    if (verdict === false) {
      end();
      return response;
    }
    return retryAfterFirst(s, next, sent, ctx, { response }, verdict, end);
  }, failedFirst);
}

/** The attempts after a first one that may be retried: `first` is its outcome, `firstVerdict` what `retryOn` said. */
async function retryAfterFirst(
  s: Settings,
  next: Handler,
  request: HttpRequest,
  ctx: CallContext,
  first: Outcome,
  firstVerdict: boolean | number | undefined,
  end: () => void,
): Promise<HttpResponse> {
  const host = request.host;
  let history: AttemptRecord[] | undefined;
  let previousDelay = 0;
  let endRetry: (() => void) | undefined;
  let outcome = first;
  let verdict = firstVerdict;
  try {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        ctx.attempt = attempt;
        verdict = undefined;
        try {
          const response = await next(request, ctx);
          endRetry?.();
          endRetry = undefined;
          if (attempt > s.retries) return response;
          verdict = retryableResponse(s, response, ctx);
          if (verdict === false) return response;
          outcome = { response };
        } catch (thrown) {
          endRetry?.();
          endRetry = undefined;
          outcome = { error: toReqforgeError(thrown, request, ctx.abort) };
        }
      }
      const stop = (): HttpResponse => {
        if (outcome.response) return outcome.response;
        history ??= [];
        history.push({ attempt, error: outcome.error });
        throw history.length > 1
          ? new RetriesExhaustedError(history, { cause: outcome.error, request })
          : outcome.error;
      };
      // The caller aborted or the total timeout fired: nothing more to do.
      if (ctx.abort.aborted) return stop();
      if (attempt > s.retries) return stop();
      verdict ??= verdictOf(s.retryOn(outcome, ctx));
      if (verdict === false) return stop();
      if (!request.replayable) return stop();
      if (
        !isSafeToRepeat(request, ctx, s.keyHeader) &&
        !(outcome.error && NEVER_SENT_ERRORS.has(outcome.error.code))
      )
        return stop();

      const delay = nextDelay(s, outcome, verdict, attempt, previousDelay, ctx);
      if (delay === undefined || ctx.clock.now() + delay >= ctx.deadline) return stop();
      endRetry = s.budget?.tryRetry(host);
      if (s.budget && !endRetry) {
        if (ctx.events.has('retryBudgetExhausted'))
          ctx.events.emit('retryBudgetExhausted', { request, ctx, attempt });
        return stop();
      }

      history ??= [];
      history.push(
        outcome.response
          ? { attempt, status: outcome.response.status, delay }
          : { attempt, error: outcome.error as ReqforgeError, delay },
      );
      if (ctx.events.has('retry'))
        ctx.events.emit('retry', { request, ctx, attempt, delay, reason: describe(outcome) });
      if (outcome.response) await outcome.response.dump();
      previousDelay = delay;
      if (delay > 0) {
        try {
          // On the call's own abort state: keeps the process alive, adds no listener to a shared signal.
          await sleepWith(ctx.clock, delay, ctx.abort);
        } catch (error) {
          throw toReqforgeError(error, request, ctx.abort);
        }
      }
    }
  } finally {
    endRetry?.();
    end();
  }
}
