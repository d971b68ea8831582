import { BoundedMap } from '../core/bounded-map.js';
import { type Clock, systemClock } from '../core/clock.js';
import { CircuitOpenError } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import { toReqforgeError } from '../core/normalize.js';
import { circuitBreakerOptionsSchema, type Duration, parseOptions } from '../core/options/index.js';
import { continuationOf, isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { BreakerState, CallContext, ClientEvents, Handler, Policy } from '../core/types.js';
import { isServiceFailure, type OutcomePredicate } from './predicates.js';

/** Circuit breaker settings. Each default carries its reason. */
export interface CircuitBreakerOptions {
  /**
   * Open when failures / calls in the window reach this ratio.
   * @default 0.5 (resilience4j and Polly's advanced breaker: half the calls failing means the upstream is sick)
   */
  readonly failureRatio?: number;
  /**
   * Calls the window must hold before the ratio counts.
   * @default 20 (so three unlucky calls on a quiet host do not open it)
   */
  readonly minimumCalls?: number;
  /**
   * Sliding window length, in ms or as a duration such as `'30s'`. Must be at least twice the attempt timeout.
   * @default 30000
   */
  readonly window?: Duration;
  /**
   * Open after this many consecutive failures, whatever the window says; 0 turns it off.
   * @default 5 (catches a dead upstream on a quiet client quickly)
   */
  readonly consecutiveFailures?: number;
  /**
   * How long the breaker stays open before letting probes through, in ms or as a duration such as `'30s'`.
   * @default 30000
   */
  readonly openDuration?: Duration;
  /**
   * Probe calls let through when half-open; it closes only when all succeed, and reopens on any failure.
   * @default 3 (the seed hfortix-core's half-open test calls: one lucky probe proves little)
   */
  readonly halfOpenProbes?: number;
  /**
   * What a breaker is keyed by: the request's host, host and route, one breaker for everything, or a function.
   * @default 'host'
   */
  readonly keyBy?: 'host' | 'route' | 'shared' | ((request: HttpRequest, ctx: CallContext) => string);
  /** What counts as a failure. @default {@link isServiceFailure}: 5xx, network errors, timeouts; not 4xx */
  readonly isFailure?: OutcomePredicate;
  /** Breakers kept at most (least recently used are forgotten). @default 10000 */
  readonly maxKeys?: number;
  /** Clock for windows and open durations; a client's clock is used when calls pass through. @default the system clock */
  readonly clock?: Clock;
}

/** Circuit breaker defaults. */
export const CIRCUIT_BREAKER_DEFAULTS = {
  failureRatio: 0.5,
  minimumCalls: 20,
  window: 30_000,
  consecutiveFailures: 5,
  openDuration: 30_000,
  halfOpenProbes: 3,
  maxKeys: 10_000,
} as const;

const BUCKETS = 10;
/** {@link Breaker.admit}: the call may go. */
const ALLOWED = -1;
/** {@link Breaker.admit}: the call may go as a half-open probe. */
const ALLOWED_PROBE = -2;

/** A JSON-safe snapshot of one breaker, for status pages, persistence and `restore()`. */
export interface BreakerSnapshot {
  readonly key: string;
  readonly state: BreakerState;
  /** Calls and failures in the current window. */
  readonly calls: number;
  readonly failures: number;
  readonly consecutiveFailures: number;
  /** Milliseconds until half-open, when open. */
  readonly opensIn?: number;
}

type Settings = {
  readonly [K in keyof typeof CIRCUIT_BREAKER_DEFAULTS as K extends 'maxKeys' ? never : K]: number;
};

/**
 * One breaker's state machine: closed → open → half-open → closed (or back to open). Time comes from the
 * clock passed to each method, so it is tested with a fake clock and no timers.
 */
export class Breaker {
  readonly key: string;
  #state: BreakerState = 'closed';
  #openedAt = 0;
  #consecutive = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  readonly #calls = new Array<number>(BUCKETS).fill(0);
  readonly #failures = new Array<number>(BUCKETS).fill(0);
  #bucketStart = 0;
  #bucket = 0;
  readonly #s: Settings;
  readonly #onChange: (from: BreakerState, to: BreakerState) => void;

  constructor(key: string, settings: Settings, onChange: (from: BreakerState, to: BreakerState) => void) {
    this.key = key;
    this.#s = settings;
    this.#onChange = onChange;
  }

  /** The current state (an open breaker whose time is up reports `half-open`). */
  state(now: number): BreakerState {
    if (this.#state === 'open' && now - this.#openedAt >= this.#s.openDuration) this.#transition('half-open');
    return this.#state;
  }

  /**
   * Asks to send a call. Returns `undefined` when allowed (then call {@link Breaker.record}), or the
   * milliseconds until it may half-open when refused.
   */
  tryAcquire(now: number): number | undefined {
    const state = this.state(now);
    if (state === 'closed') return undefined;
    if (state === 'isolated') return Number.POSITIVE_INFINITY;
    if (state === 'open') return this.#openedAt + this.#s.openDuration - now;
    if (this.#probesInFlight + this.#probeSuccesses >= this.#s.halfOpenProbes) return 0;
    this.#probesInFlight++;
    return undefined;
  }

  /**
   * {@link Breaker.tryAcquire} in one step for the policy's hot path: {@link ALLOWED}, {@link ALLOWED_PROBE}, or
   * the milliseconds (>= 0) until it may half-open when refused.
   * @internal
   */
  admit(now: number): number {
    if (this.#state === 'closed') return ALLOWED;
    const refused = this.tryAcquire(now);
    return refused === undefined ? ALLOWED_PROBE : refused;
  }

  /** Records the outcome of an allowed call: `undefined` for one that counts neither way (aborted). */
  record(now: number, failed: boolean | undefined, wasProbe: boolean): void {
    if (wasProbe) this.#probesInFlight = Math.max(0, this.#probesInFlight - 1);
    if (failed === undefined) return;
    if (this.#state === 'half-open') {
      if (!wasProbe) return;
      if (failed) {
        this.#open(now);
        return;
      }
      this.#probeSuccesses++;
      if (this.#probeSuccesses >= this.#s.halfOpenProbes) this.#close(now);
      return;
    }
    if (this.#state !== 'closed') return;
    this.#rotate(now);
    this.#calls[this.#bucket]!++;
    if (failed) {
      this.#failures[this.#bucket]!++;
      this.#consecutive++;
    } else {
      this.#consecutive = 0;
    }
    if (!failed) return;
    const calls = sum(this.#calls);
    if (
      (this.#s.consecutiveFailures > 0 && this.#consecutive >= this.#s.consecutiveFailures) ||
      (calls >= this.#s.minimumCalls && sum(this.#failures) / calls >= this.#s.failureRatio)
    ) {
      this.#open(now);
    }
  }

  /** Forces the breaker open until {@link Breaker.reset}. */
  isolate(): void {
    this.#transition('isolated');
  }

  /** Closes the breaker and forgets its history. */
  reset(now: number): void {
    this.#close(now);
  }

  /** A JSON-safe snapshot. */
  snapshot(now: number): BreakerSnapshot {
    this.#rotate(now);
    const state = this.state(now);
    return {
      key: this.key,
      state,
      calls: sum(this.#calls),
      failures: sum(this.#failures),
      consecutiveFailures: this.#consecutive,
      ...(state === 'open' && { opensIn: Math.max(0, this.#openedAt + this.#s.openDuration - now) }),
    };
  }

  /** Restores state from a snapshot (for example after a restart). */
  restore(snapshot: BreakerSnapshot, now: number): void {
    this.#close(now);
    if (snapshot.state === 'open')
      this.#open(now - (this.#s.openDuration - (snapshot.opensIn ?? this.#s.openDuration)));
    else if (snapshot.state === 'isolated') this.isolate();
    this.#consecutive = snapshot.consecutiveFailures;
  }

  #open(now: number): void {
    this.#openedAt = now;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#transition('open');
  }

  #close(now: number): void {
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#bucketStart = now;
    this.#consecutive = 0;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#transition('closed');
  }

  #transition(to: BreakerState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#onChange(from, to);
  }

  #rotate(now: number): void {
    const width = this.#s.window / BUCKETS;
    if (this.#bucketStart === 0 && sum(this.#calls) === 0) this.#bucketStart = now;
    let steps = Math.floor((now - this.#bucketStart) / width);
    if (steps <= 0) return;
    if (steps >= BUCKETS) {
      this.#calls.fill(0);
      this.#failures.fill(0);
      this.#bucketStart = now;
      return;
    }
    this.#bucketStart += steps * width;
    while (steps-- > 0) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#calls[this.#bucket] = 0;
      this.#failures[this.#bucket] = 0;
    }
  }
}

function sum(xs: number[]): number {
  let total = 0;
  for (const x of xs) total += x;
  return total;
}

/** The circuit breaker policy: keyed {@link Breaker}s plus manual control and snapshots. */
export interface CircuitBreakerPolicy extends Policy {
  readonly name: 'circuitBreaker';
  readonly options: Readonly<CircuitBreakerOptions>;
  /** The breaker for a key, created on first use. */
  breaker(key: string): Breaker;
  /** Forces one key (or every known key) open until reset. */
  isolate(key?: string): void;
  /** Closes one key (or every known key). */
  reset(key?: string): void;
  /** Snapshots of every known breaker. */
  snapshot(): BreakerSnapshot[];
  /** Same as {@link CircuitBreakerPolicy.snapshot}. */
  toJSON(): BreakerSnapshot[];
  /** Restores breakers from snapshots. */
  restore(snapshots: readonly BreakerSnapshot[]): void;
}

/**
 * A circuit breaker per host (by default): stops sending to an upstream that keeps failing, then lets a few
 * probe calls through to see whether it recovered. Refused calls throw {@link CircuitOpenError}.
 */
export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  const d = CIRCUIT_BREAKER_DEFAULTS;
  const o = parseOptions(circuitBreakerOptionsSchema, options, 'circuitBreaker');
  const settings: Settings = {
    failureRatio: o.failureRatio ?? d.failureRatio,
    minimumCalls: o.minimumCalls ?? d.minimumCalls,
    window: o.window ?? d.window,
    consecutiveFailures: o.consecutiveFailures ?? d.consecutiveFailures,
    openDuration: o.openDuration ?? d.openDuration,
    halfOpenProbes: o.halfOpenProbes ?? d.halfOpenProbes,
  };
  const keyBy = options.keyBy ?? 'host';
  const keyOf =
    typeof keyBy === 'function'
      ? keyBy
      : keyBy === 'shared'
        ? () => '*'
        : keyBy === 'route'
          ? (req: HttpRequest, ctx: CallContext) => `${req.host} ${req.method} ${ctx.tags.route ?? req.path}`
          : (req: HttpRequest) => req.host;
  const isFailure = options.isFailure ?? isServiceFailure;
  // The breaker's clock: the option, else the clock of the client whose calls pass through.
  let clock = options.clock ?? systemClock;
  const breakers = new BoundedMap<string, Breaker>(options.maxKeys ?? d.maxKeys);
  const listeners = new Set<EventHub<ClientEvents>>();
  let lastHub: EventHub<ClientEvents> | undefined;
  const get = (key: string): Breaker => {
    let b = breakers.get(key);
    if (!b) {
      b = new Breaker(key, settings, (from, to) => {
        for (const hub of listeners) if (hub.has('breaker')) hub.emit('breaker', { key, from, to });
      });
      breakers.set(key, b);
    }
    return b;
  };
  const each = (key: string | undefined, fn: (b: Breaker) => void) => {
    if (key !== undefined) fn(get(key));
    else for (const b of breakers.values()) fn(b);
  };
  return {
    name: 'circuitBreaker',
    options,
    breaker: get,
    isolate: (key) => each(key, (b) => b.isolate()),
    reset: (key) => each(key, (b) => b.reset(clock.now())),
    snapshot: () => [...breakers.values()].map((b) => b.snapshot(clock.now())),
    toJSON() {
      return this.snapshot();
    },
    restore: (snapshots) => {
      for (const s of snapshots) get(s.key).restore(s, clock.now());
    },
    wrap: (next: Handler): Handler => {
      // A continuation right inside (the rate limit's back-off check) runs in this policy's reaction, and its inner
      // handler is called directly: no promise of its own.
      const fused = continuationOf(next);
      const inner = fused ? fused.inner : next;
      // One `then` on the inner promise, not an async frame around it: a promise and a turn fewer per call.
      return settlesOnAbort((request, ctx) => {
        let breaker: Breaker;
        let startedAt: number;
        let probe: boolean;
        let pending: Promise<HttpResponse>;
        try {
          if (ctx.events !== lastHub) {
            listeners.add(ctx.events);
            lastHub = ctx.events;
          }
          if (!options.clock) clock = ctx.clock;
          breaker = get(keyOf(request, ctx));
          startedAt = clock.now();
          const admitted = breaker.admit(startedAt);
          if (admitted >= 0) return Promise.reject(new CircuitOpenError(breaker.key, admitted, { request }));
          probe = admitted === ALLOWED_PROBE;
        } catch (error) {
          return Promise.reject(error);
        }
        try {
          pending = inner(request, ctx);
        } catch (error) {
          // A handler that throws instead of rejecting still counts, as it did inside an async frame.
          pending = Promise.reject(error);
        }
        const failed = (thrown: unknown): never => {
          const error = toReqforgeError(thrown, request, ctx.abort);
          const counts = error.code === 'ERR_ABORTED' ? undefined : isFailure({ error }, ctx);
          breaker.record(clock.now(), counts, probe);
          throw error;
        };
        const settled = (response: HttpResponse): HttpResponse => {
          let failure: boolean;
          try {
            failure = isFailure === isServiceFailure ? response.status >= 500 : isFailure({ response }, ctx);
          } catch (thrown) {
            return failed(thrown);
          }
          // A success is counted in the window at the time it started; a failure at the time it happened.
          breaker.record(failure ? clock.now() : startedAt, failure, probe);
          return response;
        };
        return pending.then((response) => {
          if (!fused) return settled(response);
          // What the continuation makes of the response (the same one, mostly) is what this breaker judges.
          let out: HttpResponse | Promise<HttpResponse>;
          try {
            out = fused.then(response, request, ctx);
          } catch (thrown) {
            return failed(thrown);
          }
          return out === response ? settled(response) : (out as Promise<HttpResponse>).then(settled, failed);
        }, failed);
      }, isSettlingOnAbort(next));
    },
  };
}
