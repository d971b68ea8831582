/**
 * The live numbers of one upstream for the status page: outcomes by class, retries and latencies over a sliding
 * window of per-second slots, plus totals since start. Everything lives in typed arrays allocated once, so a
 * request costs a clock read, a slot check and three increments; reading (at most a few times a second, by the
 * page) sums the window.
 */

/** How a request to an upstream ended, as the status page counts it. */
export const Outcome = Object.freeze({
  /** The upstream answered 1xx-3xx. */
  ok: 0,
  /** The upstream answered 4xx (passed through to the caller). */
  clientError: 1,
  /** The upstream answered 5xx (passed through to the caller). */
  serverError: 2,
  /** No answer from the upstream: connection failures, resets and timeouts. */
  network: 3,
  /** The gateway refused before or instead of sending: breaker open, limiter, bulkhead, method/path, token. */
  refused: 4,
  /** The caller left, or its body was too large or too slow: nobody's fault upstream. */
  aborted: 5,
});

/** One of the {@link Outcome} values. */
export type OutcomeKind = (typeof Outcome)[keyof typeof Outcome];

const OUTCOME_NAMES = ['ok', 'clientError', 'serverError', 'network', 'refused', 'aborted'] as const;
const RETRY = OUTCOME_NAMES.length;
const COUNTERS = RETRY + 1;

/** Latency buckets: geometric, 8 per doubling (each at most 9 % wide) from 0.05 ms to about 7 minutes. */
const MIN_MS = 0.05;
const PER_DOUBLING = 8;
const BUCKETS = 8 * 24;

function bucketOf(ms: number): number {
  if (ms <= MIN_MS) return 0;
  const i = Math.ceil(Math.log2(ms / MIN_MS) * PER_DOUBLING);
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** A bucket's geometric middle, in ms (what a percentile falling in it reports). */
function middleOf(bucket: number): number {
  return bucket === 0 ? MIN_MS : MIN_MS * 2 ** ((bucket - 0.5) / PER_DOUBLING);
}

/** Counts by outcome class (and retries). */
export interface OutcomeCounts {
  /** Every request that reached this upstream's route: the sum of the classes below. */
  readonly requests: number;
  readonly ok: number;
  readonly clientError: number;
  readonly serverError: number;
  readonly network: number;
  readonly refused: number;
  readonly aborted: number;
  /** Retries the upstream's client made (each one an extra attempt). */
  readonly retries: number;
}

/** What {@link LiveRecorder.summary} reports. */
export interface LiveSummary {
  /** Seconds the window covers (60), and the shorter one the rate is taken over (10). */
  readonly windowSeconds: number;
  readonly rateWindowSeconds: number;
  /** Requests per second over the rate window (since start while the recorder is younger). */
  readonly requestsPerSecond: number;
  /** Counts in the window. */
  readonly window: OutcomeCounts;
  /** Share of the window's requests per error class, in percent (0 when there were none). */
  readonly errorPercent: {
    readonly clientError: number;
    readonly serverError: number;
    readonly network: number;
    readonly refused: number;
  };
  /**
   * Latency percentiles in ms of the window's answered requests (ok, 4xx, 5xx, network failures; refusals are
   * not timed), accurate to the bucket width (±5 %); null when there were none.
   */
  readonly latencyMs: {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  } | null;
  /** Counts since the gateway started. */
  readonly totals: OutcomeCounts;
}

/** Options of {@link LiveRecorder}. */
export interface LiveRecorderOptions {
  /** Seconds of history kept. @default 60: the first screen of HAProxy's and Envoy's pages */
  readonly windowSeconds?: number;
  /** Seconds the rate is taken over. @default 10: steady enough to read, quick enough to see a change */
  readonly rateWindowSeconds?: number;
  /** Monotonic milliseconds, the clock `started` values come from. @default performance.now */
  readonly now?: () => number;
}

const round = (n: number, places: number) => {
  const f = 10 ** places;
  return Math.round(n * f) / f;
};

/** Per-upstream counters for the status page: one {@link LiveRecorder.record} call at the end of a request. */
export class LiveRecorder {
  readonly #window: number;
  readonly #rateWindow: number;
  readonly #now: () => number;
  readonly #started: number;
  /** The absolute second each slot holds (-1: never used). */
  readonly #slotSecond: Float64Array;
  readonly #counts: Uint32Array;
  readonly #latency: Uint32Array;
  readonly #max: Float64Array;
  readonly #totals = new Float64Array(COUNTERS);

  constructor(options: LiveRecorderOptions = {}) {
    this.#window = options.windowSeconds ?? 60;
    this.#rateWindow = Math.min(options.rateWindowSeconds ?? 10, this.#window);
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#slotSecond = new Float64Array(this.#window).fill(-1);
    this.#counts = new Uint32Array(this.#window * COUNTERS);
    this.#latency = new Uint32Array(this.#window * BUCKETS);
    this.#max = new Float64Array(this.#window);
  }

  /** The recorder's clock (the request path reads it once when a request starts). */
  now(): number {
    return this.#now();
  }

  /**
   * Counts one finished request of class `kind`; `started` (from {@link now}) times it unless it was refused or
   * aborted (those never reached the upstream, or say nothing about it).
   */
  record(kind: OutcomeKind, started: number): void {
    const now = this.#now();
    const slot = this.#slot(now);
    this.#counts[slot * COUNTERS + kind]++;
    this.#totals[kind]++;
    if (kind >= Outcome.refused) return;
    const ms = now - started;
    this.#latency[slot * BUCKETS + bucketOf(ms)]++;
    if (ms > (this.#max[slot] as number)) this.#max[slot] = ms;
  }

  /** Counts one retry (an extra attempt by the upstream's client). */
  retry(): void {
    const slot = this.#slot(this.#now());
    this.#counts[slot * COUNTERS + RETRY]++;
    this.#totals[RETRY]++;
  }

  /** The numbers now: rate, counts and percentiles over the window, totals since start. */
  summary(): LiveSummary {
    const now = this.#now();
    const second = Math.floor(now / 1000);
    const window = new Float64Array(COUNTERS);
    const latency = new Float64Array(BUCKETS);
    let inRate = 0;
    let max = 0;
    for (let slot = 0; slot < this.#window; slot++) {
      const age = second - (this.#slotSecond[slot] as number);
      if (this.#slotSecond[slot] === -1 || age >= this.#window || age < 0) continue;
      for (let c = 0; c < COUNTERS; c++) window[c] += this.#counts[slot * COUNTERS + c] as number;
      if (age < this.#rateWindow) {
        for (let c = 0; c < RETRY; c++) inRate += this.#counts[slot * COUNTERS + c] as number;
      }
      for (let b = 0; b < BUCKETS; b++) latency[b] += this.#latency[slot * BUCKETS + b] as number;
      max = Math.max(max, this.#max[slot] as number);
    }
    // While younger than the rate window, divide by the time it has run (at least a second).
    const seconds = Math.min(this.#rateWindow, Math.max(1, (now - this.#started) / 1000));
    const counts = countsOf(window);
    const pct = (n: number) => (counts.requests === 0 ? 0 : round((n * 100) / counts.requests, 2));
    return {
      windowSeconds: this.#window,
      rateWindowSeconds: this.#rateWindow,
      requestsPerSecond: round(inRate / seconds, 2),
      window: counts,
      errorPercent: {
        clientError: pct(counts.clientError),
        serverError: pct(counts.serverError),
        network: pct(counts.network),
        refused: pct(counts.refused),
      },
      latencyMs: percentiles(latency, max),
      totals: countsOf(this.#totals),
    };
  }

  /** The slot for `now`, cleared when it last held an older second. */
  #slot(now: number): number {
    const second = Math.floor(now / 1000);
    const slot = second % this.#window;
    if (this.#slotSecond[slot] !== second) {
      this.#slotSecond[slot] = second;
      this.#counts.fill(0, slot * COUNTERS, (slot + 1) * COUNTERS);
      this.#latency.fill(0, slot * BUCKETS, (slot + 1) * BUCKETS);
      this.#max[slot] = 0;
    }
    return slot;
  }
}

function countsOf(c: Float64Array): OutcomeCounts {
  let requests = 0;
  for (let i = 0; i < RETRY; i++) requests += c[i] as number;
  return {
    requests,
    ok: c[Outcome.ok] as number,
    clientError: c[Outcome.clientError] as number,
    serverError: c[Outcome.serverError] as number,
    network: c[Outcome.network] as number,
    refused: c[Outcome.refused] as number,
    aborted: c[Outcome.aborted] as number,
    retries: c[RETRY] as number,
  };
}

function percentiles(buckets: Float64Array, max: number): LiveSummary['latencyMs'] {
  let n = 0;
  for (const count of buckets) n += count;
  if (n === 0) return null;
  const at = (q: number) => {
    const rank = Math.max(1, Math.ceil(q * n));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += buckets[b] as number;
      if (seen >= rank) return round(Math.min(middleOf(b), max), 2);
    }
    return round(max, 2);
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round(max, 2) };
}

/** The class of an upstream's answer by its status. */
export function outcomeOfStatus(status: number): OutcomeKind {
  return status >= 500 ? Outcome.serverError : status >= 400 ? Outcome.clientError : Outcome.ok;
}
