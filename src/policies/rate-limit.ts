import { sleepWith } from '../core/clock.js';
import { DroppedError, RateLimitedError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import { type Duration, parseOptions, rateLimitOptionsSchema } from '../core/options/index.js';
import { isSettlingOnAbort, settlesOnAbort, withContinuation } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import { parseRateLimitWait } from '../core/retry-after.js';
import type { CallContext, Handler, Policy } from '../core/types.js';
import {
  type LimitStoreOptions,
  RedisRateLimiter,
  type SharedLimitSettings,
} from '../limits/redis-limiter.js';
import {
  type LimiterSnapshot,
  type LimitWindow,
  type RateLimiter,
  type Reservation,
  TokenBucketLimiter,
  type TokenBucketOptions,
} from './token-bucket.js';

export {
  GRANTED,
  type LimiterSnapshot,
  type LimitWindow,
  type LimitWindowOptions,
  type RateLimiter,
  type Reservation,
  TokenBucketLimiter,
  type TokenBucketOptions,
  type WindowSnapshot,
} from './token-bucket.js';

/** What happens to a call when no permit is free. */
export type RateLimitStrategy = 'queue' | 'drop' | 'raise';

/**
 * Rate-limit policy settings. With `store`, the {@link SharedLimitSettings} (`onStoreDown`, `expectedReplicas`,
 * `storeTimeout`, …) configure the shared limiter; without it they are refused.
 */
export interface RateLimitOptions extends Partial<TokenBucketOptions>, SharedLimitSettings {
  /** Use this limiter (for instance one shared by a session, or a Redis one) instead of building a bucket. */
  readonly limiter?: RateLimiter;
  /**
   * `queue`: wait in a bounded FIFO; `drop`: fail at once with {@link DroppedError} (best-effort traffic);
   * `raise`: fail at once with {@link RateLimitedError} carrying `retryAfter`.
   * @default 'queue'
   */
  readonly strategy?: RateLimitStrategy;
  /** Most calls waiting per key (strategy `queue`). @default 1000 */
  readonly queueSize?: number;
  /**
   * Longest wait for a permit (strategy `queue`), separate from the call's own timeout; a call that would wait
   * longer fails at once with `RateLimitedError` (reason `queue-timeout`). In ms or as a duration such as `'30s'`.
   * @default 30000
   */
  readonly maxWait?: Duration;
  /** @default 'host' */
  readonly keyBy?: 'host' | 'shared' | ((request: HttpRequest, ctx: CallContext) => string);
  /**
   * Pause the key for every caller when a 429 or 503 carries `Retry-After` or rate-limit headers.
   * @default true
   */
  readonly serverAware?: boolean;
  /**
   * Longest server-aware pause: a `Retry-After: 86400` (or one user's 429 on a user-token client) pauses the key
   * for at most this long. In ms or as a duration. @default 60000
   */
  readonly maxPause?: Duration;
  /**
   * Share the limit with every process through Redis: the same connection options as the Redis token store
   * (`{ url, keyPrefix }`, or your own ioredis `client`). The policy then builds a `RedisRateLimiter`.
   */
  readonly store?: LimitStoreOptions;
}

/** Counters of one rate-limit policy. */
export interface RateLimitStats {
  allowed: number;
  queued: number;
  dropped: number;
  raised: number;
  /** Calls waiting right now. */
  queueLength: number;
  /** Sum and maximum of queue waits, in ms. */
  totalWait: number;
  maxWait: number;
  /** allowed / (allowed + dropped + raised): the share of calls that got through. */
  efficiency: number;
}

/** The rate-limit policy object. */
export interface RateLimitPolicy extends Policy {
  readonly name: 'rateLimit';
  readonly limiter: RateLimiter;
  readonly strategy: RateLimitStrategy;
  /** Counters since creation. */
  stats(): RateLimitStats;
  /** Limiter state per key plus counters, for status pages. */
  snapshot(): {
    strategy: RateLimitStrategy;
    limit: number;
    window: number;
    /** Every window of the limit (one unless `windows` was given). */
    windows: readonly LimitWindow[];
    keys: LimiterSnapshot[];
    stats: RateLimitStats;
  };
}

type ParsedRateLimit = ReturnType<typeof parseRateLimit>;
const parseRateLimit = (options: RateLimitOptions) =>
  parseOptions(rateLimitOptionsSchema, options, 'rateLimit');

/** Copies the options that are set (`exactOptionalPropertyTypes` refuses explicit undefined). */
function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

/** The limiter the options describe: the one given, a shared Redis one for `store`, else an in-process bucket. */
function limiterOf(options: RateLimitOptions, o: ParsedRateLimit): RateLimiter {
  if (options.limiter) return options.limiter;
  const windows = {
    limit: o.limit as number,
    ...defined({ window: o.window, burst: o.burst, windows: o.windows, maxKeys: o.maxKeys, clock: o.clock }),
  };
  if (!options.store) return new TokenBucketLimiter(windows);
  return new RedisRateLimiter({
    ...windows,
    store: options.store,
    ...defined({
      name: o.name,
      onStoreDown: o.onStoreDown,
      expectedReplicas: o.expectedReplicas,
      storeTimeout: o.storeTimeout,
      storeFailures: o.storeFailures,
      storeRetryAfter: o.storeRetryAfter,
      heartbeat: o.heartbeat,
      events: options.events,
      logger: options.logger,
    }),
  });
}

/**
 * Limits calls to `limit` per `window` (per host by default) with a token bucket, queueing, dropping or
 * raising when no permit is free, and pausing a host for everyone when the server says to back off.
 * Off by default; the standard preset adds it when configured.
 */
export function rateLimit(options: RateLimitOptions): RateLimitPolicy {
  const o = parseRateLimit(options);
  const limiter = limiterOf(options, o);
  const owned = limiter instanceof RedisRateLimiter && !options.limiter ? limiter : undefined;
  const maxPause = o.maxPause ?? 60_000;
  const strategy = o.strategy ?? 'queue';
  const queueSize = o.queueSize ?? 1000;
  const maxWait = o.maxWait ?? 30_000;
  const keyBy = options.keyBy ?? 'host';
  const keyOf =
    typeof keyBy === 'function' ? keyBy : keyBy === 'shared' ? () => '*' : (req: HttpRequest) => req.host;
  const serverAware = options.serverAware ?? true;
  // The in-process bucket answers synchronously and can give back the latest slot.
  const local = limiter instanceof TokenBucketLimiter;
  const counters = { allowed: 0, queued: 0, dropped: 0, raised: 0, queueLength: 0, totalWait: 0, maxWait: 0 };
  const waiting = new Map<string, number>();
  const stats = (): RateLimitStats => {
    const decided = counters.allowed + counters.dropped + counters.raised;
    return { ...counters, efficiency: decided === 0 ? 1 : counters.allowed / decided };
  };
  const emit = (
    ctx: CallContext,
    key: string,
    outcome: 'allowed' | 'queued' | 'dropped' | 'raised',
    wait: number,
  ) => {
    if (ctx.events.has('rateLimit')) ctx.events.emit('rateLimit', { key, outcome, wait });
  };

  const enter = (key: string) => waiting.set(key, (waiting.get(key) ?? 0) + 1);
  const leave = (key: string) => {
    const n = (waiting.get(key) ?? 1) - 1;
    if (n === 0) waiting.delete(key);
    else waiting.set(key, n);
  };

  return {
    name: 'rateLimit',
    limiter,
    strategy,
    stats,
    // A shared limiter the policy built is closed with the client (heartbeats stop, its connection closes).
    ...(owned && {
      attach: () => () => {
        void owned.close().catch(() => undefined);
      },
    }),
    snapshot: () => ({
      strategy,
      limit: limiter.limit,
      window: limiter.window,
      windows: limiter.windows ?? [{ limit: limiter.limit, window: limiter.window, burst: limiter.limit }],
      keys: limiter.snapshot(),
      stats: stats(),
    }),
    wrap: (next: Handler): Handler => {
      const afterResponse = (key: string, ctx: CallContext) => (response: HttpResponse) => {
        if (response.status !== 429 && response.status !== 503) return response;
        const wait = parseRateLimitWait(response.headers, ctx.clock.wallNow());
        if (wait === undefined || wait <= 0) return response;
        // Capped: one huge Retry-After (or one user's 429 on a user-token client) must not stop a host for a day.
        const paused = limiter.pause(key, Math.min(wait, maxPause));
        return paused instanceof Promise ? paused.then(() => response) : response;
      };
      // The handler, with (`after`) or without the check of a 429/503's back-off headers chained to the response.
      const limited = (after: boolean): Handler => {
        const send = (request: HttpRequest, ctx: CallContext, key: string): Promise<HttpResponse> => {
          counters.allowed++;
          return after ? next(request, ctx).then(afterResponse(key, ctx)) : next(request, ctx);
        };
        const refuse = (request: HttpRequest, ctx: CallContext, key: string, retryAfter: number): Error => {
          if (strategy === 'drop') {
            counters.dropped++;
            emit(ctx, key, 'dropped', retryAfter);
            return new DroppedError(key, { request }, retryAfter);
          }
          counters.raised++;
          emit(ctx, key, 'raised', retryAfter);
          return new RateLimitedError(key, retryAfter, strategy === 'queue' ? 'queue-timeout' : 'limited', {
            request,
          });
        };
        const queue = async (
          request: HttpRequest,
          ctx: CallContext,
          key: string,
          reservation: Extract<Reservation, { ok: true }>,
          counted: boolean,
        ): Promise<HttpResponse> => {
          if (!counted) enter(key);
          counters.queued++;
          counters.queueLength++;
          emit(ctx, key, 'queued', reservation.wait);
          try {
            // On the call's own abort state: keeps the process alive, adds no listener to a shared signal.
            await sleepWith(ctx.clock, reservation.wait, ctx.abort);
          } catch (error) {
            reservation.cancel();
            throw toReqforgeError(error, request, ctx.abort);
          } finally {
            counters.queueLength--;
            leave(key);
          }
          counters.totalWait += reservation.wait;
          counters.maxWait = Math.max(counters.maxWait, reservation.wait);
          return send(request, ctx, key);
        };
        // Decides what to do with a reservation; `counted` says the call already counts as waiting.
        const admit = (
          request: HttpRequest,
          ctx: CallContext,
          key: string,
          reservation: Reservation,
          counted: boolean,
        ): Promise<HttpResponse> => {
          if (!reservation.ok) {
            if (counted) leave(key);
            return Promise.reject(refuse(request, ctx, key, reservation.retryAfter));
          }
          if (reservation.wait <= 0) {
            if (counted) leave(key);
            emit(ctx, key, 'allowed', 0);
            return send(request, ctx, key);
          }
          // Never queue past the call's own deadline: give the slot back and fail now instead.
          if (ctx.deadline < Number.POSITIVE_INFINITY && reservation.wait > ctx.deadline - ctx.clock.now()) {
            reservation.cancel();
            if (counted) leave(key);
            return Promise.reject(refuse(request, ctx, key, reservation.wait));
          }
          return queue(request, ctx, key, reservation, counted);
        };
        const viaRemote = async (
          request: HttpRequest,
          ctx: CallContext,
          key: string,
          answer: Promise<Reservation>,
        ): Promise<HttpResponse> => {
          // A remote limiter (Redis) answers later; its callers count as waiting meanwhile so the queue bound holds.
          enter(key);
          let reservation: Reservation;
          try {
            reservation = await answer;
          } catch (error) {
            leave(key);
            throw error;
          }
          return admit(request, ctx, key, reservation, true);
        };
        // An in-process limiter answers at once and its queue wait ends on abort; a remote one's round trip does not.
        return settlesOnAbort((request, ctx) => {
          const key = keyOf(request, ctx);
          if (strategy === 'queue' && waiting.size > 0) {
            const n = waiting.get(key) ?? 0;
            if (n > 0 && n >= queueSize) {
              counters.raised++;
              emit(ctx, key, 'raised', 0);
              return Promise.reject(
                new RateLimitedError(key, limiter.window / limiter.limit, 'queue-full', { request }),
              );
            }
          }
          let answer: Reservation | Promise<Reservation>;
          let budget = strategy === 'queue' && queueSize > 0 ? maxWait : 0;
          // A remote limiter cannot take back a slot others reserved after it: give it the deadline up front. The
          // in-process one is asked with maxWait alone and checked against the deadline only when it says to wait.
          if (!local && budget > 0 && ctx.deadline < Number.POSITIVE_INFINITY)
            budget = Math.min(budget, Math.max(0, ctx.deadline - ctx.clock.now()));
          try {
            answer = limiter.reserve(key, budget);
          } catch (error) {
            return Promise.reject(error);
          }
          return answer instanceof Promise
            ? viaRemote(request, ctx, key, answer)
            : admit(request, ctx, key, answer, false);
        }, local && isSettlingOnAbort(next));
      };
      if (!serverAware) return limited(false);
      // The policy around this one (the breaker, or the total timeout) may run the back-off check in the reaction it
      // has anyway and call the handler without its own `then`: a promise fewer per call. The key is computed again
      // only for a 429 or 503.
      const then = (response: HttpResponse, request: HttpRequest, ctx: CallContext) =>
        response.status !== 429 && response.status !== 503
          ? response
          : afterResponse(keyOf(request, ctx), ctx)(response);
      return withContinuation(limited(true), { inner: limited(false), then });
    },
  };
}
