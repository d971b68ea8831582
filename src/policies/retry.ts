import { randomUUID } from 'node:crypto';
import { sleepWith } from '../core/clock.js';
import {
  type AttemptRecord,
  InvalidOptionError,
  type ReqforgeError,
  RetriesExhaustedError,
} from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import { type HttpRequest, IDEMPOTENT_METHODS } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import { parseRateLimitWait } from '../core/retry-after.js';
import type { CallContext, Handler, Policy } from '../core/types.js';
import { type Backoff, type BackoffKind, createBackoff } from './backoff.js';
import {
  DEFAULT_RETRY_STATUSES,
  isTransient,
  NEVER_SENT_ERRORS,
  type Outcome,
  type OutcomePredicate,
} from './predicates.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';

/** Retry settings. Each default carries its reason. */
export interface RetryOptions {
  /**
   * Retries after the first attempt (so at most `retries + 1` attempts).
   * @default 3 (Microsoft.Extensions.Http.Resilience; enough to ride out a blip, few enough not to pile on)
   */
  readonly retries?: number;
  /** @default 'exponential' with full jitter */
  readonly backoff?: BackoffKind;
  /** @default 200 ms */
  readonly baseDelay?: number;
  /** @default 20000 ms */
  readonly maxDelay?: number;
  /**
   * Longest `Retry-After` / `RateLimit-Reset` wait honoured; a server asking for more is not retried.
   * @default 60000 ms
   */
  readonly maxRetryAfter?: number;
  /** What is retried. @default {@link isTransient}: 408, 429, 500, 502, 503, 504, connection errors, attempt timeouts */
  readonly retryOn?: OutcomePredicate;
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

/** Retry defaults. */
export const RETRY_DEFAULTS = { retries: 3, maxRetryAfter: 60_000 } as const;

const RETRY_OPTION_KEYS = new Set([
  'retries',
  'backoff',
  'baseDelay',
  'maxDelay',
  'maxRetryAfter',
  'retryOn',
  'idempotencyKey',
  'budget',
  'random',
]);

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

/**
 * Retries failed attempts with backoff. Honours `Retry-After` and rate-limit reset headers up to a cap,
 * never sleeps past the call's deadline, retries only idempotent calls (or ones with an
 * `Idempotency-Key`, or marked `idempotent: true`), never resends a one-shot stream, drains every
 * discarded response, and respects a per-host retry budget.
 */
export function retry(options: RetryOptions = {}): RetryPolicy {
  for (const key of Object.keys(options)) {
    if (!RETRY_OPTION_KEYS.has(key))
      throw new InvalidOptionError(
        `retry.${key}`,
        `unknown option; valid ones are ${[...RETRY_OPTION_KEYS].join(', ')}`,
      );
  }
  const retries = options.retries ?? RETRY_DEFAULTS.retries;
  if (!Number.isInteger(retries) || retries < 0)
    throw new InvalidOptionError('retry.retries', `expected an integer >= 0, got ${String(retries)}`);
  const maxRetryAfter = options.maxRetryAfter ?? RETRY_DEFAULTS.maxRetryAfter;
  if (!(maxRetryAfter >= 0))
    throw new InvalidOptionError('retry.maxRetryAfter', 'expected milliseconds >= 0');
  const backoff = createBackoff({
    ...(options.backoff !== undefined && { kind: options.backoff }),
    ...(options.baseDelay !== undefined && { base: options.baseDelay }),
    ...(options.maxDelay !== undefined && { cap: options.maxDelay }),
  });
  const budget =
    options.budget === false
      ? undefined
      : options.budget instanceof RetryBudget
        ? options.budget
        : new RetryBudget(options.budget);
  const retryOn = options.retryOn ?? isTransient;
  const random = options.random ?? Math.random;
  const keyHeader = idempotencyHeader(options.idempotencyKey);
  const settings = { retries, maxRetryAfter, backoff, budget, retryOn, random, keyHeader };
  return {
    name: 'retry',
    budget,
    options,
    // Its waits (the attempt, a backoff sleep, draining a discarded body) all end when the call aborts.
    wrap: (next: Handler): Handler =>
      settlesOnAbort((request, ctx) => {
        if (retries === 0 || ctx.options.retry === false) return next(request, ctx);
        return runWithRetries(settings, next, request, ctx);
      }, isSettlingOnAbort(next)),
  };
}

interface Settings {
  readonly retries: number;
  readonly maxRetryAfter: number;
  readonly backoff: Backoff;
  readonly budget: RetryBudget | undefined;
  readonly retryOn: OutcomePredicate;
  readonly random: () => number;
  readonly keyHeader: string | undefined;
}

function describe(outcome: Outcome): string {
  return outcome.response ? `status ${outcome.response.status}` : outcome.error.code;
}

/** Whether a response is worth another attempt; the default predicate is answered without allocating. */
function retryableResponse(s: Settings, response: HttpResponse, ctx: CallContext): boolean {
  return s.retryOn === isTransient
    ? DEFAULT_RETRY_STATUSES.has(response.status)
    : s.retryOn({ response }, ctx);
}

async function runWithRetries(
  s: Settings,
  next: Handler,
  original: HttpRequest,
  ctx: CallContext,
): Promise<HttpResponse> {
  let request = original;
  // A non-idempotent call gets its generated key before the first attempt, so every attempt carries the same one.
  if (
    s.keyHeader &&
    !IDEMPOTENT_METHODS.has(request.method) &&
    ctx.options.idempotent !== true &&
    request.header('idempotency-key') === undefined &&
    request.header(s.keyHeader) === undefined
  )
    request = request.withHeaders({ [s.keyHeader]: randomUUID() });
  const host = request.host;
  const endCall = s.budget?.begin(host);
  const outerAttempt = ctx.attempt;
  let history: AttemptRecord[] | undefined;
  let previousDelay = 0;
  let endRetry: (() => void) | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      ctx.attempt = attempt;
      let outcome: Outcome;
      try {
        const response = await next(request, ctx);
        endRetry?.();
        endRetry = undefined;
        // Fast path: a response nobody wants retried.
        if (attempt > s.retries || !retryableResponse(s, response, ctx)) return response;
        outcome = { response };
      } catch (thrown) {
        endRetry?.();
        endRetry = undefined;
        outcome = { error: toReqforgeError(thrown, request, ctx.abort) };
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
      if (attempt > s.retries || (outcome.error && !s.retryOn(outcome, ctx))) return stop();
      if (!request.replayable) return stop();
      const idempotent =
        IDEMPOTENT_METHODS.has(request.method) ||
        ctx.options.idempotent === true ||
        request.header('idempotency-key') !== undefined ||
        (s.keyHeader !== undefined && request.header(s.keyHeader) !== undefined);
      if (!idempotent && !(outcome.error && NEVER_SENT_ERRORS.has(outcome.error.code))) return stop();

      let delay = s.backoff(attempt, previousDelay, s.random());
      if (outcome.response && (outcome.response.status === 429 || outcome.response.status === 503)) {
        const asked = parseRateLimitWait(outcome.response.headers, ctx.clock.wallNow());
        if (asked !== undefined) {
          if (asked > s.maxRetryAfter) return stop();
          delay = Math.max(delay, asked);
        }
      }
      if (ctx.clock.now() + delay >= ctx.deadline) return stop();
      endRetry = s.budget?.tryRetry(host);
      if (s.budget && !endRetry) return stop();

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
    endCall?.();
    // Leave the final attempt number for the client to report; restore only for an enclosing retry.
    if (outerAttempt > 1) ctx.attempt = outerAttempt;
  }
}
