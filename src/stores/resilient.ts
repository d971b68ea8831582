import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { EventHub } from '../core/events.js';
import { type Duration, parseOptions } from '../core/options/index.js';
import { MemoryTokenStore } from './memory.js';
import { resilientStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** A store operation, as named in {@link StoreEvents}. */
export type StoreOperation =
  | 'get'
  | 'set'
  | 'delete'
  | 'acquireLease'
  | 'release'
  | 'close'
  | 'decrypt'
  | 'probe';

/** The key {@link ResilientTokenStore.probe} reads; no token is ever stored under it. */
export const PROBE_KEY = 'reqforge:health-probe';

/** Events of the store wrappers. Payloads never carry keys, values or error messages (which may echo them). */
export interface StoreEvents {
  /** An operation failed or timed out; the caller got a miss (or a degraded lease) instead of an error. */
  'store:error': {
    /** The backend name, such as `redis`. */
    readonly store: string;
    readonly operation: StoreOperation;
    /** The error's code (`ECONNREFUSED`, `ERR_TIMEOUT`, `ERR_DECRYPT`) or class name. */
    readonly error: string;
    readonly timedOut: boolean;
  };
  /** The store was healthy and has now failed: operations use the in-process fallback for a while. */
  'store:down': { readonly store: string; readonly operation: StoreOperation; readonly error: string };
  /** The store answered again after being down for `downMs` milliseconds. */
  'store:up': { readonly store: string; readonly downMs: number };
  /**
   * An operation reached the store and succeeded (`ok`) or failed (timeouts included), after `duration` ms.
   * Operations skipped while the store is down are not among them. Emitted only while someone listens.
   */
  'store:operation': {
    readonly store: string;
    readonly operation: StoreOperation;
    readonly ok: boolean;
    readonly duration: number;
  };
}

/** Options of {@link ResilientTokenStore}. */
export interface ResilientTokenStoreOptions {
  /**
   * Longest wait for any one operation, in milliseconds; a slower one counts as failed.
   * @default 1000
   */
  readonly timeoutMs?: Duration;
  /**
   * After a failure, how long operations skip the store and use the in-process fallback before the
   * next operation probes it again, in milliseconds. Keeps an outage from costing a timeout per call.
   * @default 1000
   */
  readonly retryAfterMs?: Duration;
  /** Where failures are reported; a new hub is created when omitted (see {@link ResilientTokenStore.events}). */
  readonly events?: EventHub<StoreEvents>;
  /** Timer source; tests pass a FakeClock. */
  readonly clock?: Clock;
}

/** A lease from {@link ResilientTokenStore}; `degraded` when the store was down and it is only in-process. */
export interface ResilientLease extends Lease {
  /** True when the store could not be asked and this lease only excludes callers in this process. */
  readonly degraded: boolean;
}

/** True for a lease handed out while the store was down (see {@link ResilientLease}). */
export function isDegradedLease(lease: Lease | undefined): boolean {
  return (lease as Partial<ResilientLease> | undefined)?.degraded === true;
}

class StoreTimeoutError extends Error {
  readonly code = 'ERR_TIMEOUT';
}

function describe(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(code)) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(name)) return name;
  }
  return 'Error';
}

/**
 * Wraps a {@link TokenStore} so that it never throws and never hangs: every operation has a timeout, and a
 * store that errors or times out is treated as a miss. The wrapper mirrors every value in an in-process
 * copy and serves it while the store is down; `acquireLease` then hands out a
 * {@link ResilientLease} that is `degraded` (exclusive in this process only), so the caller fetches directly
 * instead of waiting for a lock nobody can grant. Each failure is an `store:error` event; transitions are
 * `store:down` / `store:up`.
 *
 * @example
 * const store = new ResilientTokenStore(await RedisTokenStore.connect({ url }), { timeoutMs: 500 });
 * store.events.on('store:down', (e) => console.warn(`token store ${e.store} down`));
 */
export class ResilientTokenStore implements TokenStore {
  readonly name: string;
  /** Failure and recovery events. */
  readonly events: EventHub<StoreEvents>;
  readonly #inner: TokenStore;
  readonly #local: MemoryTokenStore;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #retryAfterMs: number;
  #downSince: number | undefined;
  #downUntil = 0;
  #probing: Promise<boolean> | undefined;

  constructor(inner: TokenStore, options: ResilientTokenStoreOptions = {}) {
    const o = parseOptions(resilientStoreOptionsSchema, options);
    this.#inner = inner;
    this.name = inner.name;
    this.events = options.events ?? new EventHub<StoreEvents>();
    this.#clock = options.clock ?? systemClock;
    this.#local = new MemoryTokenStore({ clock: this.#clock });
    this.#timeoutMs = o.timeoutMs ?? 1_000;
    this.#retryAfterMs = o.retryAfterMs ?? 1_000;
  }

  /** The wrapped store. */
  get inner(): TokenStore {
    return this.#inner;
  }

  /** True while the store is considered down (operations use the in-process fallback). */
  get down(): boolean {
    return this.#downSince !== undefined;
  }

  /**
   * Asks the store itself whether it answers: a `get` of {@link PROBE_KEY} with the usual timeout, sent even
   * while operations skip the store, so an outage and a recovery are seen without traffic. Updates
   * {@link down} (with `store:down` / `store:up` events) and never throws; concurrent calls share one probe.
   */
  probe(): Promise<boolean> {
    this.#probing ??= this.#run('probe', () => this.#inner.get(PROBE_KEY), undefined, true).then((r) => {
      this.#probing = undefined;
      return r.ok;
    });
    return this.#probing;
  }

  async get(key: string): Promise<string | undefined> {
    const result = await this.#run('get', () => this.#inner.get(key));
    if (result.ok) return result.value;
    return this.#local.get(key);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#local.set(key, value, ttlMs);
    await this.#run('set', () => this.#inner.set(key, value, ttlMs));
  }

  async delete(key: string): Promise<void> {
    await this.#local.delete(key);
    await this.#run('delete', () => this.#inner.delete(key));
  }

  async acquireLease(key: string, ttlMs: number): Promise<ResilientLease | undefined> {
    const result = await this.#run(
      'acquireLease',
      () => this.#inner.acquireLease(key, ttlMs),
      (late) =>
        // A lease granted after we gave up would block everyone until it expires: give it back.
        late?.release().catch(() => undefined),
    );
    if (result.ok) {
      const lease = result.value;
      if (!lease) return undefined;
      return {
        key: lease.key,
        owner: lease.owner,
        degraded: false,
        release: async () => {
          await this.#run('release', () => lease.release());
        },
      };
    }
    const local = await this.#local.acquireLease(key, ttlMs);
    if (!local) return undefined;
    return { key: local.key, owner: local.owner, degraded: true, release: () => local.release() };
  }

  async close(): Promise<void> {
    await this.#local.close();
    await this.#run('close', () => this.#inner.close(), undefined, true);
  }

  #operation(operation: StoreOperation, ok: boolean, started: number): void {
    this.events.emit('store:operation', {
      store: this.name,
      operation,
      ok,
      duration: this.#clock.now() - started,
    });
  }

  async #run<T>(
    operation: StoreOperation,
    fn: () => Promise<T>,
    onLate?: (value: T) => void,
    force = false,
  ): Promise<{ ok: true; value: T } | { ok: false }> {
    if (!force && this.#downSince !== undefined && this.#clock.now() < this.#downUntil) return { ok: false };
    let timer: TimerHandle | undefined;
    let timedOut = false;
    const started = this.events.has('store:operation') ? this.#clock.now() : undefined;
    const pending = Promise.resolve().then(fn);
    try {
      const value = await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = this.#clock.setTimeout(() => {
            timedOut = true;
            reject(new StoreTimeoutError(`token store ${operation} timed out`));
          }, this.#timeoutMs);
        }),
      ]);
      if (this.#downSince !== undefined) {
        const downMs = this.#clock.now() - this.#downSince;
        this.#downSince = undefined;
        this.events.emit('store:up', { store: this.name, downMs });
      }
      if (started !== undefined) this.#operation(operation, true, started);
      return { ok: true, value };
    } catch (error) {
      if (timedOut) {
        pending.then(onLate, () => undefined);
      }
      const code = describe(error);
      if (started !== undefined) this.#operation(operation, false, started);
      if (this.events.has('store:error')) {
        this.events.emit('store:error', { store: this.name, operation, error: code, timedOut });
      }
      if (this.#downSince === undefined) {
        this.#downSince = this.#clock.now();
        this.events.emit('store:down', { store: this.name, operation, error: code });
      }
      this.#downUntil = this.#clock.now() + this.#retryAfterMs;
      return { ok: false };
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }
}
