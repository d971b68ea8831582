/**
 * The breaker around the shared limiter's Redis: a latency budget per operation, `storeFailures` failures in a row
 * take the store down (the limiter then serves per `onStoreDown`), and a probe every `storeRetryAfter` ms brings
 * it back up. Every transition is an event and a log line; the state is readable for metrics.
 */
import type { EventHub } from '../core/events.js';

/** What a shared limiter does while its Redis store is down. */
export type StoreDownMode = 'open' | 'closed' | 'local';

/** Events of a shared (Redis) limiter. Payloads carry names, keys and messages, never connection URLs. */
export interface LimiterEvents {
  /** Redis failed too often or too slowly: the limiter now serves per `mode`. */
  'limiter:down': {
    readonly name: string;
    readonly mode: StoreDownMode;
    /** Live replicas the local fallback divides the limit by (mode `local`). */
    readonly replicas: number;
    /** Whether `replicas` came from a fresh heartbeat (else from `expectedReplicas`). */
    readonly fromHeartbeats: boolean;
    readonly error: string;
  };
  /** Redis answers again: the shared limit is used again. */
  'limiter:up': { readonly name: string; readonly downMs: number };
  /** One Redis operation failed or went over its latency budget. */
  'limiter:error': { readonly name: string; readonly operation: string; readonly error: string };
  /**
   * A reservation answered by Redis (only emitted while someone listens): `at` is when Redis handled it and
   * `start` when its slot starts, both in ms on Redis's clock.
   */
  reservation: {
    readonly name: string;
    readonly key: string;
    readonly granted: boolean;
    readonly wait: number;
    readonly at: number;
    readonly start: number;
  };
}

/** A pino-compatible logger (only the two levels the limiter uses). */
export interface LimiterLogger {
  info(fields: Record<string, unknown>, message?: string): void;
  warn(fields: Record<string, unknown>, message?: string): void;
}

/** Thrown when an operation goes over its latency budget. */
class BudgetExceeded extends Error {
  constructor(budget: number) {
    super(`no answer within ${budget} ms`);
  }
}

/** The one-line description of a Redis failure (never the connection URL: ioredis messages do not carry it). */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 200);
  return String(error).slice(0, 200);
}

/** Settings of {@link StoreGuard}. */
export interface StoreGuardOptions {
  readonly name: string;
  readonly budget: number;
  readonly failures: number;
  readonly events: EventHub<LimiterEvents>;
  readonly logger: LimiterLogger | undefined;
  /** Called when the store goes down; returns the replica count the fallback uses, and where it came from. */
  readonly onDown: () => { replicas: number; fromHeartbeats: boolean; mode: StoreDownMode };
}

/** Up/down state of the shared limiter's store, with a latency budget per operation. */
export class StoreGuard {
  #up = true;
  #failures = 0;
  #downSince = 0;
  /** Transitions since creation (down and up). */
  transitions = 0;
  readonly #o: StoreGuardOptions;

  constructor(options: StoreGuardOptions) {
    this.#o = options;
  }

  /** Whether the store is considered up (reservations go to Redis). */
  get up(): boolean {
    return this.#up;
  }

  /** Runs one Redis operation within the latency budget, recording its outcome; rejects on failure. */
  run<T>(operation: string, work: Promise<T>): Promise<T> {
    const budget = this.#o.budget;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      // Decided after the poll phase: when this process's event loop was blocked past the budget, an answer that
      // already arrived is read first, so a stalled process does not blame Redis for its own delay.
      timer = setTimeout(() => setImmediate(() => reject(new BudgetExceeded(budget))), budget);
    });
    return Promise.race([work, late]).then(
      (value) => {
        clearTimeout(timer);
        this.succeeded();
        return value;
      },
      (error: unknown) => {
        clearTimeout(timer);
        // A late answer still arrives: swallow its rejection (its value is simply unused).
        work.catch(() => undefined);
        this.failed(operation, error);
        throw error;
      },
    );
  }

  /** When Redis last answered (epoch ms), 0 before it ever did. */
  lastSuccess = 0;

  /** Records a success: the failure streak ends, and a store that was down is up again. */
  succeeded(): void {
    this.#failures = 0;
    this.lastSuccess = Date.now();
    if (this.#up) return;
    this.#up = true;
    this.transitions++;
    const downMs = Math.round(Date.now() - this.#downSince);
    if (this.#o.events.has('limiter:up')) this.#o.events.emit('limiter:up', { name: this.#o.name, downMs });
    this.#o.logger?.info(
      { limiter: this.#o.name, downMs },
      'shared rate limiter: Redis is back, limit shared again',
    );
  }

  /** Records a failure; after `failures` in a row (or at once when `immediately`) the store goes down. */
  failed(operation: string, error: unknown, immediately = false): void {
    const message = describe(error);
    const name = this.#o.name;
    if (this.#o.events.has('limiter:error'))
      this.#o.events.emit('limiter:error', { name, operation, error: message });
    if (!this.#up || (++this.#failures < this.#o.failures && !immediately)) return;
    this.#up = false;
    this.transitions++;
    this.#downSince = Date.now();
    const { replicas, fromHeartbeats, mode } = this.#o.onDown();
    if (this.#o.events.has('limiter:down'))
      this.#o.events.emit('limiter:down', { name, mode, replicas, fromHeartbeats, error: message });
    this.#o.logger?.warn(
      { limiter: name, mode, replicas, fromHeartbeats, error: message },
      `shared rate limiter: Redis is down, serving ${mode === 'local' ? `1/${replicas} of the limit locally` : mode === 'open' ? 'every call (fail open)' : 'no call (fail closed)'}`,
    );
  }
}
