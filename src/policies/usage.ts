import { z } from 'zod';
import { type Clock, systemClock } from '../core/clock.js';
import { objectWith, parseOptions, usageLimitsSchema } from '../core/options/index.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpResponse } from '../core/response.js';
import type { Handler, Policy } from '../core/types.js';

const BUCKET_MS = 10_000;
const BUCKETS = 360; // one hour of 10-second buckets

/**
 * Limits usage is compared against, as hfortix's `rate_limit_calls_per_min` … `rate_limit_errors_per_hour`. Each is
 * optional. They are visibility, not enforcement: usage over a limit makes `withinLimits` false and names the limit in
 * `exceeded`, and no call is refused (refusing calls is the rate limiter's job; refusing calls to an upstream that
 * keeps failing is the circuit breaker's).
 */
export interface UsageLimits {
  /** Most calls in the last minute. */
  readonly perMinute?: number;
  /** Most calls in the last five minutes. */
  readonly perFiveMinutes?: number;
  /** Most calls in the last hour. */
  readonly perHour?: number;
  /** Most failed calls in the last minute. */
  readonly errorsPerMinute?: number;
  /** Most failed calls in the last five minutes. */
  readonly errorsPerFiveMinutes?: number;
  /** Most failed calls in the last hour. */
  readonly errorsPerHour?: number;
}

/** The name of one usage limit. */
export type UsageLimitName = keyof UsageLimits;

/** Options of {@link UsageTracker}. */
export interface UsageTrackerOptions {
  /** Limits `withinLimits` compares with. @default none */
  readonly limits?: UsageLimits;
  /** @default the system clock */
  readonly clock?: Clock;
  /** A tracker that also records every call recorded here (to aggregate several clients). @default none */
  readonly parent?: UsageTracker;
}

const usageTrackerSchema = z.strictObject({
  limits: usageLimitsSchema.optional(),
  clock: objectWith<Clock>('a clock with now()', ['now']).optional(),
  parent: objectWith<UsageTracker>('a UsageTracker', ['started', 'failed', 'snapshot']).optional(),
});

/** Calls and errors over a period. */
export interface UsageWindow {
  readonly calls: number;
  readonly errors: number;
}

/**
 * A usage report. Windows have 10-second resolution: `lastMinute` holds the calls started in the current 10-second
 * bucket and the five before it. A call counts when it starts; its error when it ends.
 */
export interface UsageSnapshot {
  readonly lastMinute: UsageWindow;
  readonly last5Minutes: UsageWindow;
  readonly lastHour: UsageWindow;
  /** Since the tracker was created. */
  readonly total: UsageWindow;
  /** The configured limits (only those that were given). */
  readonly limits: UsageLimits;
  /** True when every configured limit is respected. */
  readonly withinLimits: boolean;
  /** The limits usage is over now, in the order of {@link UsageLimits}; empty when within limits. */
  readonly exceeded: readonly UsageLimitName[];
}

/** Which window and which count each limit reads. */
const LIMITS: readonly (readonly [
  UsageLimitName,
  'lastMinute' | 'last5Minutes' | 'lastHour',
  keyof UsageWindow,
])[] = [
  ['perMinute', 'lastMinute', 'calls'],
  ['perFiveMinutes', 'last5Minutes', 'calls'],
  ['perHour', 'lastHour', 'calls'],
  ['errorsPerMinute', 'lastMinute', 'errors'],
  ['errorsPerFiveMinutes', 'last5Minutes', 'errors'],
  ['errorsPerHour', 'lastHour', 'errors'],
];

/**
 * Counts calls and errors in sliding windows (1 min, 5 min, 1 h) and in total. Give trackers a `parent` to
 * aggregate several clients (for example every client of a session) into one report. Recording is a few array
 * writes; the windows are summed only when a report is read.
 */
export class UsageTracker {
  readonly limits: UsageLimits;
  /** The clock its 10-second buckets follow. */
  readonly clock: Clock;
  readonly #parent: UsageTracker | undefined;
  readonly #calls = new Array<number>(BUCKETS).fill(0);
  readonly #errors = new Array<number>(BUCKETS).fill(0);
  #current = -1;
  #totalCalls = 0;
  #totalErrors = 0;

  constructor(options: UsageTrackerOptions = {}) {
    const o = parseOptions(usageTrackerSchema, options, 'usage');
    // Only the limits that were given, so a report lists what is configured and nothing else.
    const limits: Record<string, number> = {};
    for (const [name] of LIMITS) if (o.limits?.[name] !== undefined) limits[name] = o.limits[name];
    this.limits = Object.freeze(limits);
    this.clock = options.clock ?? systemClock;
    this.#parent = options.parent;
  }

  /** Records one finished call. */
  record(failed: boolean): void {
    this.started(this.clock, this.clock.now());
    if (failed) this.failed();
  }

  /**
   * Counts a call that started at `at` on `clock` (the call context's start, so recording reads no clock when the
   * clocks agree). The policy's fast path; {@link UsageTracker.record} is the one-step form.
   */
  started(clock: Clock, at: number): void {
    const index = this.#advance(clock === this.clock ? at : this.clock.now()) % BUCKETS;
    this.#calls[index]!++;
    this.#totalCalls++;
    this.#parent?.started(clock, at);
  }

  /**
   * Counts an error for a call counted by {@link UsageTracker.started}, in the latest bucket a call started in: at or
   * after the failed call's own start, and without reading the clock.
   */
  failed(): void {
    if (this.#current === -1) this.#advance(this.clock.now());
    this.#errors[this.#current % BUCKETS]!++;
    this.#totalErrors++;
    this.#parent?.failed();
  }

  /** The current report. */
  snapshot(): UsageSnapshot {
    const index = this.#advance(this.clock.now());
    // One pass, newest bucket first: the minute is the first 6 buckets, five minutes the first 30, the hour all.
    const sums = { lastMinute: [0, 0], last5Minutes: [0, 0], lastHour: [0, 0] };
    for (let i = 0; i < BUCKETS; i++) {
      const b = (index - i + BUCKETS * 2) % BUCKETS;
      const calls = this.#calls[b]!;
      const errors = this.#errors[b]!;
      if (calls === 0 && errors === 0) continue;
      for (const [span, sum] of [
        [6, sums.lastMinute],
        [30, sums.last5Minutes],
        [BUCKETS, sums.lastHour],
      ] as const) {
        if (i < span) {
          sum[0] += calls;
          sum[1] += errors;
        }
      }
    }
    const window = ([calls, errors]: number[]): UsageWindow => ({ calls: calls!, errors: errors! });
    const windows = {
      lastMinute: window(sums.lastMinute),
      last5Minutes: window(sums.last5Minutes),
      lastHour: window(sums.lastHour),
    };
    const exceeded: UsageLimitName[] = [];
    for (const [name, period, count] of LIMITS) {
      const limit = this.limits[name];
      if (limit !== undefined && windows[period][count] > limit) exceeded.push(name);
    }
    return {
      ...windows,
      total: { calls: this.#totalCalls, errors: this.#totalErrors },
      limits: this.limits,
      withinLimits: exceeded.length === 0,
      exceeded,
    };
  }

  /** Moves to the bucket of `now`, clearing the buckets passed since; returns the current bucket number. */
  #advance(now: number): number {
    const index = Math.floor(now / BUCKET_MS);
    if (index <= this.#current) return this.#current;
    if (this.#current === -1) this.#current = index;
    const steps = Math.min(index - this.#current, BUCKETS);
    for (let i = 1; i <= steps; i++) {
      const b = (this.#current + i) % BUCKETS;
      this.#calls[b] = 0;
      this.#errors[b] = 0;
    }
    this.#current = index;
    return index;
  }
}

/** The usage-tracking policy object. */
export interface UsagePolicy extends Policy {
  readonly name: 'usage';
  readonly tracker: UsageTracker;
}

/**
 * Records every call (once per call, retries included in one) into a {@link UsageTracker}. A call counts as
 * an error when it throws or ends with a status of 400 or more. Put it outermost; clients with a `usage` option
 * get it there.
 */
export function trackUsage(tracker: UsageTracker = new UsageTracker()): UsagePolicy {
  // Made once: a call adds one `then` and no closure. The call is counted when it starts (at the context's start
  // time, so no clock is read), its error when it ends.
  const settled = (response: HttpResponse): HttpResponse => {
    if (response.status >= 400) tracker.failed();
    return response;
  };
  const failed = (error: unknown): never => {
    tracker.failed();
    throw error;
  };
  return {
    name: 'usage',
    tracker,
    wrap: (next: Handler): Handler =>
      settlesOnAbort((request, ctx) => {
        tracker.started(ctx.clock, ctx.startedAt);
        let result: Promise<HttpResponse>;
        try {
          result = next(request, ctx);
        } catch (error) {
          tracker.failed();
          return Promise.reject(error);
        }
        return result.then(settled, failed);
      }, isSettlingOnAbort(next)),
  };
}

/** Whether a value is a {@link UsageTracker} (duck-typed, so one from another copy of reqforge counts too). */
export function isUsageTracker(value: unknown): value is UsageTracker {
  return typeof (value as UsageTracker | undefined)?.started === 'function';
}

/** The `usage` option of a client: `true` (track), limits (track and compare), a tracker to record into, or off. */
export type UsageOption = boolean | UsageLimits | UsageTracker;

/**
 * The usage policy a client's `usage` option asks for, or `undefined` when it is off. A tracker is recorded into as
 * it is (share one between clients, or give it a `parent`); `true` and limits get a tracker of their own.
 */
export function usageFromOption(option: UsageOption | undefined, clock: Clock): UsagePolicy | undefined {
  if (option === undefined || option === false) return undefined;
  if (isUsageTracker(option)) return trackUsage(option);
  return trackUsage(new UsageTracker({ clock, ...(option !== true && { limits: option as UsageLimits }) }));
}
