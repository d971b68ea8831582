import { BoundedMap } from '../core/bounded-map.js';
import { type Clock, sleepWith, systemClock } from '../core/clock.js';
import { DroppedError, InvalidOptionError, RateLimitedError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import {
  type Duration,
  parseOptions,
  rateLimitOptionsSchema,
  tokenBucketOptionsSchema,
} from '../core/options/index.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import { parseRateLimitWait } from '../core/retry-after.js';
import type { CallContext, Handler, Policy } from '../core/types.js';

/** A granted or refused permit. A granted one may start later: sleep `wait` ms, then send. */
export type Reservation =
  | {
      readonly ok: true;
      readonly wait: number;
      /** Gives a queued slot back (the caller gave up); a permit that starts at once (`wait` 0) is used at once. */
      cancel(): void;
    }
  | { readonly ok: false /** Milliseconds until a permit is expected. */; readonly retryAfter: number };

/** The reservation of a permit that starts now: shared, as there is nothing to give back once it is used. */
const GRANTED: Reservation = Object.freeze({ ok: true, wait: 0, cancel: () => undefined });

/** Per-key limiter state for status pages. */
export interface LimiterSnapshot {
  readonly key: string;
  /** Permits that could be taken right now without waiting. */
  readonly available: number;
  /** Milliseconds until the next permit, 0 when one is free. */
  readonly nextIn: number;
}

/**
 * What the rate-limit policy needs from a limiter. Reservations are decided up front ("your slot starts
 * in 120 ms"), so a distributed limiter (Redis GCRA) plugs in with one round trip per permit.
 */
export interface RateLimiter {
  /** Sustained permits per window. */
  readonly limit: number;
  /** Window length in ms. */
  readonly window: number;
  /** Reserves a permit for `key` if it starts within `maxWait` ms. */
  reserve(key: string, maxWait: number): Reservation | Promise<Reservation>;
  /** Grants no permit for `key` during the next `ms` milliseconds (server-aware back-off). */
  pause(key: string, ms: number): void | Promise<void>;
  /** State of every known key. */
  snapshot(): LimiterSnapshot[];
}

/** Token bucket settings. */
export interface TokenBucketOptions {
  /** Permits per window (the sustained rate is limit / window). */
  readonly limit: number;
  /** Window length, in ms or as a duration such as `'1s'` or `'1m'`. @default 1000 */
  readonly window?: Duration;
  /**
   * Bucket capacity: permits that may go at once after an idle period. In any window of length `window`,
   * at most `limit + burst` permits are granted.
   * @default limit (a full window's worth, the classic token bucket)
   */
  readonly burst?: number;
  /** Keys kept at most (least recently used are forgotten). @default 10000 */
  readonly maxKeys?: number;
  /** @default the system clock; pass the client's FakeClock in tests */
  readonly clock?: Clock;
}

/**
 * An in-process token bucket, computed lazily on a monotonic clock (no refill timers). It is implemented as
 * GCRA (the generic cell rate algorithm), which is the same bucket expressed as one "theoretical arrival
 * time" per key: a reservation is one subtraction, and queued callers are served in FIFO order.
 */
export class TokenBucketLimiter implements RateLimiter {
  readonly limit: number;
  readonly window: number;
  readonly burst: number;
  readonly #interval: number;
  readonly #tolerance: number;
  readonly #tat: BoundedMap<string, { tat: number }>;
  readonly #clock: Clock;

  constructor(options: TokenBucketOptions) {
    const o = parseOptions(tokenBucketOptionsSchema, options, 'rateLimit');
    this.limit = o.limit;
    this.window = o.window ?? 1000;
    this.burst = o.burst ?? o.limit;
    if (!Number.isInteger(this.burst))
      throw new InvalidOptionError(
        'rateLimit.burst',
        'expected a whole number >= 1 (the limit is fractional: give a burst)',
      );
    this.#interval = this.window / this.limit;
    this.#tolerance = (this.burst - 1) * this.#interval;
    this.#tat = new BoundedMap(o.maxKeys ?? 10_000);
    this.#clock = o.clock ?? systemClock;
  }

  #state(key: string): { tat: number } {
    let s = this.#tat.get(key);
    if (!s) {
      s = { tat: Number.NEGATIVE_INFINITY };
      this.#tat.set(key, s);
    }
    return s;
  }

  reserve(key: string, maxWait: number): Reservation {
    const now = this.#clock.now();
    const state = this.#state(key);
    const tat = Math.max(state.tat, now);
    const wait = Math.max(0, tat - this.#tolerance - now);
    if (wait > maxWait) return { ok: false, retryAfter: wait };
    const next = tat + this.#interval;
    state.tat = next;
    if (wait === 0) return GRANTED;
    return {
      ok: true,
      wait,
      cancel: () => {
        // Only the latest reservation can be given back without reordering the queue.
        if (state.tat === next) state.tat = tat;
      },
    };
  }

  pause(key: string, ms: number): void {
    const state = this.#state(key);
    state.tat = Math.max(state.tat, this.#clock.now() + ms + this.#tolerance);
  }

  snapshot(): LimiterSnapshot[] {
    const now = this.#clock.now();
    return [...this.#tat.entries()].map(([key, { tat }]) => {
      const slack = now + this.#tolerance - Math.max(tat, now);
      const available = slack < 0 ? 0 : Math.min(this.burst, Math.floor(slack / this.#interval) + 1);
      return { key, available, nextIn: Math.max(0, -slack) };
    });
  }
}

/** What happens to a call when no permit is free. */
export type RateLimitStrategy = 'queue' | 'drop' | 'raise';

/** Rate-limit policy settings. */
export interface RateLimitOptions extends Partial<TokenBucketOptions> {
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
    keys: LimiterSnapshot[];
    stats: RateLimitStats;
  };
}

/** The bucket's part of parsed `rateLimit` options (the schema has checked that `limit` is there). */
function bucketOptions(o: {
  limit?: number | undefined;
  window?: number | undefined;
  burst?: number | undefined;
  maxKeys?: number | undefined;
  clock?: Clock | undefined;
}): TokenBucketOptions {
  return {
    limit: o.limit as number,
    ...(o.window !== undefined && { window: o.window }),
    ...(o.burst !== undefined && { burst: o.burst }),
    ...(o.maxKeys !== undefined && { maxKeys: o.maxKeys }),
    ...(o.clock !== undefined && { clock: o.clock }),
  };
}

/**
 * Limits calls to `limit` per `window` (per host by default) with a token bucket, queueing, dropping or
 * raising when no permit is free, and pausing a host for everyone when the server says to back off.
 * Off by default; the standard preset adds it when configured.
 */
export function rateLimit(options: RateLimitOptions): RateLimitPolicy {
  const o = parseOptions(rateLimitOptionsSchema, options, 'rateLimit');
  const limiter = options.limiter ?? new TokenBucketLimiter(bucketOptions(o));
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
    snapshot: () => ({
      strategy,
      limit: limiter.limit,
      window: limiter.window,
      keys: limiter.snapshot(),
      stats: stats(),
    }),
    wrap: (next: Handler): Handler => {
      const afterResponse = (key: string, ctx: CallContext) => (response: HttpResponse) => {
        if (response.status !== 429 && response.status !== 503) return response;
        const wait = parseRateLimitWait(response.headers, ctx.clock.wallNow());
        if (wait === undefined || wait <= 0) return response;
        const paused = limiter.pause(key, wait);
        return paused instanceof Promise ? paused.then(() => response) : response;
      };
      const send = (request: HttpRequest, ctx: CallContext, key: string): Promise<HttpResponse> => {
        counters.allowed++;
        return serverAware ? next(request, ctx).then(afterResponse(key, ctx)) : next(request, ctx);
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
    },
  };
}
