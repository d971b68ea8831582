import { BoundedMap } from '../core/bounded-map.js';
import { parseOptions, retryBudgetOptionsSchema } from '../core/options/index.js';

/** Retry budget settings (Envoy's retry budget). */
export interface RetryBudgetOptions {
  /**
   * Retries in flight may be at most this share of requests in flight, per host.
   * @default 0.2 (Envoy: a failing upstream sees at most 20 % extra load from retries)
   */
  readonly ratio?: number;
  /**
   * Retries allowed in flight whatever the ratio, so a quiet host can still retry.
   * @default 3 (Envoy's min_retry_concurrency)
   */
  readonly minRetries?: number;
  /**
   * Hosts tracked at most (least recently used ones are forgotten).
   * @default 10000
   */
  readonly maxKeys?: number;
}

/** One host's retry budget now: requests and retries in flight, and the retries it allows in flight. */
export interface RetryBudgetHost {
  /** The host (the budget's key). */
  readonly target: string;
  readonly requests: number;
  readonly retries: number;
  /** Retries allowed in flight now: `max(minRetries, ratio × requests)`. */
  readonly allowed: number;
}

/** One host's counters, with its release functions made once so calls allocate nothing. */
class Counters {
  requests = 0;
  retries = 0;
  readonly endRequest = (): void => {
    this.requests--;
  };
  readonly endRetry = (): void => {
    this.retries--;
  };
}

/**
 * Caps retries per host to a share of the requests in flight, so a failing upstream is not hit by a
 * multiple of its normal traffic. Share one budget between clients to budget a host globally.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetries: number;
  readonly #hosts: BoundedMap<string, Counters>;

  constructor(options: RetryBudgetOptions = {}) {
    const o = parseOptions(retryBudgetOptionsSchema, options, 'retry.budget');
    this.ratio = o.ratio ?? 0.2;
    this.minRetries = o.minRetries ?? 3;
    this.#hosts = new BoundedMap(o.maxKeys ?? 10_000);
  }

  #counters(host: string): Counters {
    let c = this.#hosts.get(host);
    if (!c) {
      c = new Counters();
      this.#hosts.set(host, c);
    }
    return c;
  }

  /** Records a call entering the retry policy; call the returned function when it ends. */
  begin(host: string): () => void {
    const c = this.#counters(host);
    c.requests++;
    return c.endRequest;
  }

  /** Takes a retry slot if the budget allows; call the returned function when the retry ends. */
  tryRetry(host: string): (() => void) | undefined {
    const c = this.#counters(host);
    if (c.retries >= Math.max(this.minRetries, this.ratio * c.requests)) return undefined;
    c.retries++;
    return c.endRetry;
  }

  /** Requests and retries in flight for a host. */
  inFlight(host: string): { requests: number; retries: number } {
    const c = this.#hosts.get(host);
    return { requests: c?.requests ?? 0, retries: c?.retries ?? 0 };
  }

  /** Every known host's budget now (read on demand from the counters the budget keeps anyway). */
  snapshot(): RetryBudgetHost[] {
    return [...this.#hosts.entries()].map(([target, c]) => ({
      target,
      requests: c.requests,
      retries: c.retries,
      allowed: Math.max(this.minRetries, this.ratio * c.requests),
    }));
  }
}
