/**
 * The in-process limiter, and the contract every limiter (in-process or shared through Redis) implements for the
 * rate-limit policy: reservations decided up front, one or several windows per key, a server-aware pause.
 */
import { BoundedMap } from '../core/bounded-map.js';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { type Duration, parseOptions, tokenBucketOptionsSchema } from '../core/options/index.js';

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
export const GRANTED: Reservation = Object.freeze({ ok: true, wait: 0, cancel: () => undefined });

/** One window of a limit: at most `limit` permits per `window` ms, `burst` of them at once after an idle period. */
export interface LimitWindow {
  /** Sustained permits per window. */
  readonly limit: number;
  /** Window length in ms. */
  readonly window: number;
  /** Permits that may go at once after an idle period. */
  readonly burst: number;
}

/** The state of one window of one key. */
export interface WindowSnapshot {
  readonly limit: number;
  readonly window: number;
  /** Permits of this window that could be taken right now. */
  readonly available: number;
  /** Milliseconds until this window grants its next permit, 0 when one is free. */
  readonly nextIn: number;
}

/** Per-key limiter state for status pages. */
export interface LimiterSnapshot {
  readonly key: string;
  /** Permits that could be taken right now without waiting (the smallest over every window). */
  readonly available: number;
  /** Milliseconds until the next permit, 0 when one is free (the longest over every window). */
  readonly nextIn: number;
  /** Every window of the key, in the order they were configured (present when the limiter has several). */
  readonly windows?: readonly WindowSnapshot[];
}

/**
 * What the rate-limit policy needs from a limiter. Reservations are decided up front ("your slot starts
 * in 120 ms"), so a distributed limiter (Redis GCRA) plugs in with one round trip per permit.
 */
export interface RateLimiter {
  /** Sustained permits per window (of the first window when there are several). */
  readonly limit: number;
  /** Window length in ms (of the first window). */
  readonly window: number;
  /**
   * Every window a permit must fit in, the first being `limit` / `window` (for example 20 per second and
   * 10 000 per day). Absent means the single window `limit` / `window`.
   */
  readonly windows?: readonly LimitWindow[];
  /** Reserves a permit for `key` if it starts within `maxWait` ms (in every window). */
  reserve(key: string, maxWait: number): Reservation | Promise<Reservation>;
  /** Grants no permit for `key` during the next `ms` milliseconds (server-aware back-off). */
  pause(key: string, ms: number): void | Promise<void>;
  /** State of every known key. */
  snapshot(): LimiterSnapshot[];
}

/** One more window on the same key, as written in options. */
export interface LimitWindowOptions {
  /** Permits per window. */
  readonly limit: number;
  /** Window length, in ms or as a duration such as `'1s'`, `'1h'` or `'1d'`. */
  readonly window: Duration;
  /** Permits that may go at once after an idle period. @default limit */
  readonly burst?: number | undefined;
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
  /**
   * More windows on the same key, all checked by every reservation: `{ limit: 20, window: '1s', windows:
   * [{ limit: 10_000, window: '1d' }] }` is 20 per second and 10 000 per day.
   */
  readonly windows?: readonly LimitWindowOptions[];
  /** Keys kept at most (least recently used are forgotten). @default 10000 */
  readonly maxKeys?: number;
  /** @default the system clock; pass the client's FakeClock in tests */
  readonly clock?: Clock;
}

/** The windows of parsed limiter options (durations already in ms), with the burst defaults applied. */
export function limitWindows(o: {
  limit: number;
  window?: number | undefined;
  burst?: number | undefined;
  windows?: readonly { limit: number; window: number; burst?: number | undefined }[] | undefined;
}): LimitWindow[] {
  const all = [{ limit: o.limit, window: o.window ?? 1000, burst: o.burst }, ...(o.windows ?? [])];
  return all.map((w, i) => {
    const burst = w.burst ?? w.limit;
    if (!Number.isInteger(burst))
      throw new InvalidOptionError(
        i === 0 ? 'rateLimit.burst' : `rateLimit.windows.${i - 1}.burst`,
        'expected a whole number >= 1 (the limit is fractional: give a burst)',
      );
    return { limit: w.limit, window: w.window, burst };
  });
}

/** GCRA parameters of a window: the emission interval and the tolerance (how far ahead the TAT may run). */
export function gcra(w: LimitWindow): { interval: number; tolerance: number } {
  const interval = w.window / w.limit;
  return { interval, tolerance: (w.burst - 1) * interval };
}

/** The snapshot of one key from its TATs (theoretical arrival times), one per window, at `now`. */
export function snapshotOf(
  key: string,
  windows: readonly LimitWindow[],
  tats: readonly number[],
  now: number,
): LimiterSnapshot {
  const each = windows.map((w, i): WindowSnapshot => {
    const { interval, tolerance } = gcra(w);
    const slack = now + tolerance - Math.max(tats[i] ?? Number.NEGATIVE_INFINITY, now);
    const available = slack < 0 ? 0 : Math.min(w.burst, Math.floor(slack / interval) + 1);
    return { limit: w.limit, window: w.window, available, nextIn: Math.max(0, -slack) };
  });
  const available = Math.min(...each.map((w) => w.available));
  const nextIn = Math.max(...each.map((w) => w.nextIn));
  return each.length === 1 ? { key, available, nextIn } : { key, available, nextIn, windows: each };
}

/**
 * An in-process token bucket, computed lazily on a monotonic clock (no refill timers). It is implemented as
 * GCRA (the generic cell rate algorithm), which is the same bucket expressed as one "theoretical arrival
 * time" per key and window: a reservation is a few subtractions, and queued callers are served in FIFO order.
 */
export class TokenBucketLimiter implements RateLimiter {
  readonly limit: number;
  readonly window: number;
  readonly burst: number;
  readonly windows: readonly LimitWindow[];
  readonly #intervals: number[];
  readonly #tolerances: number[];
  readonly #tat: BoundedMap<string, { tat: number[] }>;
  readonly #clock: Clock;

  constructor(options: TokenBucketOptions) {
    const o = parseOptions(tokenBucketOptionsSchema, options, 'rateLimit');
    this.windows = Object.freeze(limitWindows(o));
    const first = this.windows[0] as LimitWindow;
    this.limit = first.limit;
    this.window = first.window;
    this.burst = first.burst;
    const params = this.windows.map(gcra);
    this.#intervals = params.map((p) => p.interval);
    this.#tolerances = params.map((p) => p.tolerance);
    this.#tat = new BoundedMap(o.maxKeys ?? 10_000);
    this.#clock = o.clock ?? systemClock;
  }

  #state(key: string): { tat: number[] } {
    let s = this.#tat.get(key);
    if (!s) {
      s = { tat: this.#intervals.map(() => Number.NEGATIVE_INFINITY) };
      this.#tat.set(key, s);
    }
    return s;
  }

  reserve(key: string, maxWait: number): Reservation {
    const now = this.#clock.now();
    const state = this.#state(key);
    const n = this.#intervals.length;
    // The slot starts when every window allows it.
    let start = now;
    for (let i = 0; i < n; i++)
      start = Math.max(start, (state.tat[i] as number) - (this.#tolerances[i] as number));
    const wait = start - now;
    if (wait > maxWait) return { ok: false, retryAfter: wait };
    // Copies only for a queued slot, which may be given back: a permit that starts now allocates nothing.
    const before = wait === 0 ? undefined : state.tat.slice();
    for (let i = 0; i < n; i++)
      state.tat[i] = Math.max(state.tat[i] as number, start) + (this.#intervals[i] as number);
    if (before === undefined) return GRANTED;
    const after = state.tat.slice();
    return {
      ok: true,
      wait,
      cancel: () => {
        // Only the latest reservation can be given back without reordering the queue.
        if (state.tat.every((t, i) => t === after[i])) state.tat = before;
      },
    };
  }

  pause(key: string, ms: number): void {
    const state = this.#state(key);
    const until = this.#clock.now() + ms;
    for (let i = 0; i < state.tat.length; i++)
      state.tat[i] = Math.max(state.tat[i] as number, until + (this.#tolerances[i] as number));
  }

  snapshot(): LimiterSnapshot[] {
    const now = this.#clock.now();
    return [...this.#tat.entries()].map(([key, { tat }]) => snapshotOf(key, this.windows, tat, now));
  }
}
