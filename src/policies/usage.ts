import { z } from 'zod';
import { type Clock, systemClock } from '../core/clock.js';
import { objectWith, parseOptions, usageLimitsSchema } from '../core/options/index.js';
import type { Handler, Policy } from '../core/types.js';

const BUCKET_MS = 10_000;
const BUCKETS = 360; // one hour of 10-second buckets

/**
 * Configured limits usage is compared against (visibility only: nothing is enforced). Calls only: error limits
 * (`errorsPerMinute`, `errorsPerFiveMinutes`, `errorsPerHour`) are refused as not supported yet.
 */
export interface UsageLimits {
  /** Most calls in the last minute. */
  readonly perMinute?: number;
  /** Most calls in the last five minutes. */
  readonly perFiveMinutes?: number;
  /** Most calls in the last hour. */
  readonly perHour?: number;
}

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
  parent: objectWith<UsageTracker>('a UsageTracker', ['record', 'snapshot']).optional(),
});

/** Calls and errors over a period. */
export interface UsageWindow {
  readonly calls: number;
  readonly errors: number;
}

/** A usage report. Windows have 10-second resolution. */
export interface UsageSnapshot {
  readonly lastMinute: UsageWindow;
  readonly last5Minutes: UsageWindow;
  readonly lastHour: UsageWindow;
  /** Since the tracker was created. */
  readonly total: UsageWindow;
  readonly limits: UsageLimits;
  /** True when every configured limit is respected. */
  readonly withinLimits: boolean;
}

/**
 * Counts calls and errors in sliding windows (1 min, 5 min, 1 h) and in total. Give trackers a `parent` to
 * aggregate several clients (for example every client of a session) into one report.
 */
export class UsageTracker {
  readonly limits: UsageLimits;
  readonly #clock: Clock;
  readonly #parent: UsageTracker | undefined;
  readonly #calls = new Array<number>(BUCKETS).fill(0);
  readonly #errors = new Array<number>(BUCKETS).fill(0);
  #current = -1;
  #totalCalls = 0;
  #totalErrors = 0;

  constructor(options: UsageTrackerOptions = {}) {
    parseOptions(usageTrackerSchema, options, 'usage');
    this.limits = options.limits ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#parent = options.parent;
  }

  /** Records one finished call. */
  record(failed: boolean): void {
    const index = this.#advance();
    this.#calls[index % BUCKETS]!++;
    this.#totalCalls++;
    if (failed) {
      this.#errors[index % BUCKETS]!++;
      this.#totalErrors++;
    }
    this.#parent?.record(failed);
  }

  /** The current report. */
  snapshot(): UsageSnapshot {
    const index = this.#advance();
    const window = (buckets: number): UsageWindow => {
      let calls = 0;
      let errors = 0;
      for (let i = 0; i < buckets; i++) {
        const b = (index - i + BUCKETS * 2) % BUCKETS;
        calls += this.#calls[b]!;
        errors += this.#errors[b]!;
      }
      return { calls, errors };
    };
    const lastMinute = window(6);
    const last5Minutes = window(30);
    const lastHour = window(BUCKETS);
    const l = this.limits;
    const withinLimits =
      (l.perMinute === undefined || lastMinute.calls <= l.perMinute) &&
      (l.perFiveMinutes === undefined || last5Minutes.calls <= l.perFiveMinutes) &&
      (l.perHour === undefined || lastHour.calls <= l.perHour);
    return {
      lastMinute,
      last5Minutes,
      lastHour,
      total: { calls: this.#totalCalls, errors: this.#totalErrors },
      limits: l,
      withinLimits,
    };
  }

  #advance(): number {
    const index = Math.floor(this.#clock.now() / BUCKET_MS);
    if (this.#current === -1) this.#current = index;
    const steps = Math.min(index - this.#current, BUCKETS);
    for (let i = 1; i <= steps; i++) {
      const b = (this.#current + i) % BUCKETS;
      this.#calls[b] = 0;
      this.#errors[b] = 0;
    }
    if (index > this.#current) this.#current = index;
    return this.#current;
  }
}

/** The usage-tracking policy object. */
export interface UsagePolicy extends Policy {
  readonly name: 'usage';
  readonly tracker: UsageTracker;
}

/**
 * Records every call (once per call, retries included in one) into a {@link UsageTracker}. A call counts as
 * an error when it throws or ends with a status of 400 or more.
 */
export function trackUsage(tracker: UsageTracker = new UsageTracker()): UsagePolicy {
  return {
    name: 'usage',
    tracker,
    wrap:
      (next: Handler): Handler =>
      async (request, ctx) => {
        try {
          const response = await next(request, ctx);
          tracker.record(response.status >= 400);
          return response;
        } catch (error) {
          tracker.record(true);
          throw error;
        }
      },
  };
}
