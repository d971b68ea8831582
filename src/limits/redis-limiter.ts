/**
 * A rate limiter shared by every process through Redis: GCRA reservations computed by one Lua script on Redis's
 * clock (one round trip per permit), several windows per key, a server-aware pause read by the same script, and
 * an explicit behaviour when Redis degrades (see {@link StoreGuard}).
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { BoundedMap } from '../core/bounded-map.js';
import type { Clock } from '../core/clock.js';
import { EventHub } from '../core/events.js';
import { type Duration, parseOptions } from '../core/options/index.js';
import {
  GRANTED,
  gcra,
  type LimiterSnapshot,
  type LimitWindow,
  type LimitWindowOptions,
  limitWindows,
  type RateLimiter,
  type Reservation,
  snapshotOf,
  TokenBucketLimiter,
} from '../policies/token-bucket.js';
import { LimiterStoreDownError } from './errors.js';
import { redisLimiterOptionsSchema } from './options.js';
import { ReplicaCount } from './replicas.js';
import { HEARTBEAT, PAUSE, RESERVE } from './scripts.js';
import { type LimiterEvents, type LimiterLogger, type StoreDownMode, StoreGuard } from './store-guard.js';

/** Where the shared limit lives: the same Redis connection options as `RedisTokenStore.connect`. */
export interface LimitStoreOptions {
  /** Accepted for symmetry with the gateway's `store:` section; only Redis can share a limit. */
  readonly type?: 'redis';
  /** A `redis://` or `rediss://` URL. Ignored when `client` is given. @default 'redis://127.0.0.1:6379' */
  readonly url?: string;
  /**
   * Your own ioredis connection (single node, Sentinel or Cluster); the limiter does not close it. Create it
   * with `enableOfflineQueue: false` so commands fail fast during an outage.
   */
  readonly client?: Redis | Cluster;
  /** Extra ioredis options when the limiter creates the connection. */
  readonly redisOptions?: RedisOptions;
  /** Namespace of every key: `<prefix>rl:<name>:<key>`. @default 'reqforge:' */
  readonly keyPrefix?: string;
}

/** The settings of a shared limit besides its windows and store (also accepted by `rateLimit({ store })`). */
export interface SharedLimitSettings {
  /** This limit's namespace in Redis: processes share a limit when they share its name. @default 'default' */
  readonly name?: string;
  /**
   * While Redis is down or over budget: `local` serves an in-process limiter sized to limit ÷ live replicas,
   * `open` lets every call through, `closed` refuses every call with `LimiterStoreDownError`.
   * @default 'local'
   */
  readonly onStoreDown?: StoreDownMode;
  /** Replicas assumed when no heartbeat count is fresh (Redis down since start). @default 1 */
  readonly expectedReplicas?: number;
  /** Latency budget of one Redis operation; a slower answer counts as a failure. @default 200 */
  readonly storeTimeout?: Duration;
  /** Failures in a row that take the store down. @default 3 */
  readonly storeFailures?: number;
  /** How often a down store is probed. @default 1000 */
  readonly storeRetryAfter?: Duration;
  /** Heartbeat interval of this replica. @default 2000 */
  readonly heartbeat?: Duration;
  /** Receives `limiter:down`, `limiter:up`, `limiter:error` and `reservation`. @default a hub of its own */
  readonly events?: EventHub<LimiterEvents>;
  /** Logs each transition (warn when down, info when up). */
  readonly logger?: LimiterLogger;
}

/** Settings of {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions extends SharedLimitSettings {
  /** Permits per window, shared by every process using the same `name` and Redis. */
  readonly limit: number;
  /** Window length, in ms or as a duration. @default 1000 */
  readonly window?: Duration;
  /** Permits that may go at once after an idle period. @default limit */
  readonly burst?: number;
  /** More windows on the same key, checked in the same round trip (for example `[{ limit: 10_000, window: '1d' }]`). */
  readonly windows?: readonly LimitWindowOptions[];
  /** The Redis connection. */
  readonly store: LimitStoreOptions;
  /** Keys kept for snapshots and the local fallback. @default 10000 */
  readonly maxKeys?: number;
  /** Clock of the local fallback. @default the system clock */
  readonly clock?: Clock;
}

/** Counters of a {@link RedisRateLimiter}. */
export interface RedisLimiterStats {
  /** Reservations answered by Redis (one round trip each). */
  reservations: number;
  /** Heartbeats and probes sent. */
  heartbeats: number;
  /** Pauses written. */
  pauses: number;
  /** Redis operations that failed or went over budget. */
  failures: number;
  /** Reservations answered while Redis was down (by the fallback, fail-open or fail-closed). */
  degraded: number;
  /** Whether Redis is considered up. */
  storeUp: boolean;
  /** Live replicas from the last heartbeat (0 before the first). */
  replicas: number;
}

type Scripted = Redis & {
  rfReserve(key: string, ...args: (string | number)[]): Promise<[number, string, string, ...string[]]>;
  rfPause(key: string, ms: number): Promise<string>;
  rfHeartbeat(key: string, id: string, ttl: number): Promise<number>;
};

const SCRIPTS = { rfReserve: RESERVE, rfPause: PAUSE, rfHeartbeat: HEARTBEAT } as const;

/**
 * A {@link RateLimiter} shared through Redis (ioredis, loaded lazily). A reservation is one `EVALSHA` that reads
 * Redis's `TIME`, the key's pause and every window, and answers when the slot starts: callers sleep until then,
 * so every process's callers form one queue served in arrival order, with no polling.
 *
 * @example
 * const limiter = new RedisRateLimiter({ limit: 20, windows: [{ limit: 10_000, window: '1d' }], store: { url } });
 * const api = createClient({ baseUrl, rateLimit: { limiter } });
 */
export class RedisRateLimiter implements RateLimiter {
  readonly limit: number;
  readonly window: number;
  readonly windows: readonly LimitWindow[];
  readonly name: string;
  readonly mode: StoreDownMode;
  /** Where `limiter:down` / `limiter:up` / `limiter:error` / `reservation` go. */
  readonly events: EventHub<LimiterEvents>;
  readonly #args: number[];
  readonly #o: ReturnType<typeof parseLimiterOptions>;
  readonly #prefix: string;
  readonly #id = randomUUID();
  readonly #replicas: ReplicaCount;
  readonly #guard: StoreGuard;
  readonly #seen: BoundedMap<string, { tats: number[]; redisNow: number; localNow: number }>;
  readonly #stats: RedisLimiterStats;
  #client: Promise<Scripted> | undefined;
  #fallback: TokenBucketLimiter | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: RedisRateLimiterOptions) {
    const o = parseLimiterOptions(options);
    this.#o = o;
    this.windows = Object.freeze(limitWindows(o));
    const first = this.windows[0] as LimitWindow;
    this.limit = first.limit;
    this.window = first.window;
    this.name = o.name ?? 'default';
    this.mode = o.onStoreDown ?? 'local';
    this.#args = this.windows.flatMap((w) => {
      const { interval, tolerance } = gcra(w);
      return [interval, tolerance];
    });
    this.#prefix = `${options.store.keyPrefix ?? 'reqforge:'}rl:${this.name}:`;
    const heartbeat = o.heartbeat ?? 2_000;
    this.#replicas = new ReplicaCount(o.expectedReplicas ?? 1, heartbeat);
    this.events = (options.events as EventHub<LimiterEvents> | undefined) ?? new EventHub<LimiterEvents>();
    this.#seen = new BoundedMap(o.maxKeys ?? 10_000);
    this.#stats = {
      reservations: 0,
      heartbeats: 0,
      pauses: 0,
      failures: 0,
      degraded: 0,
      storeUp: true,
      replicas: 0,
    };
    this.#guard = new StoreGuard({
      name: this.name,
      budget: o.storeTimeout ?? 200,
      failures: o.storeFailures ?? 3,
      events: this.events,
      logger: options.logger,
      onDown: () => this.#down(),
    });
  }

  /** Connects (once) and starts the heartbeats; resolves once the first connection attempt is over. */
  async connect(): Promise<void> {
    await this.#connection().catch(() => undefined);
  }

  #connection(): Promise<Scripted> {
    this.#client ??= this.#open();
    return this.#client;
  }

  async #open(): Promise<Scripted> {
    const store = this.#o.store;
    let client: Redis;
    if (store.client) client = store.client as Redis;
    else {
      const { createRedisConnection } = await import('../stores/redis.js');
      client = await createRedisConnection({
        ...(store.url !== undefined && { url: store.url }),
        ...(store.redisOptions !== undefined && { redisOptions: store.redisOptions as RedisOptions }),
      });
    }
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      if (!(name in client)) client.defineCommand(name, { numberOfKeys: 1, lua });
    }
    this.#startTimer();
    if (!store.client) {
      // Unreachable at start: down at once (sized by expectedReplicas). The connection still reconnects in the
      // background, and the probe finds it when Redis is back.
      await client.connect().catch((error: unknown) => this.#guard.failed('connect', error, true));
      if (this.#closed) client.disconnect();
    }
    if (this.#guard.up) void this.#beat();
    return client as Scripted;
  }

  #startTimer(): void {
    if (this.#timer || this.#closed) return;
    const heartbeat = this.#o.heartbeat ?? 2_000;
    const probe = this.#o.storeRetryAfter ?? 1_000;
    let last = 0;
    // One timer: heartbeats while up, probes (the same script) while down.
    this.#timer = setInterval(
      () => {
        const now = Date.now();
        if (this.#guard.up ? now - last >= heartbeat - 5 : true) {
          last = now;
          void this.#beat();
        }
      },
      Math.min(heartbeat, probe),
    );
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    const client = await this.#connection();
    this.#stats.heartbeats++;
    try {
      const ttl = 3 * (this.#o.heartbeat ?? 2_000);
      const count = await this.#guard.run(
        'heartbeat',
        client.rfHeartbeat(`${this.#prefix}replicas`, this.#id, ttl),
      );
      this.#replicas.seen(Number(count), Date.now());
    } catch {
      this.#stats.failures++;
    }
  }

  /** Sizes the local fallback when Redis goes down: limit ÷ live replicas. */
  #down(): { replicas: number; fromHeartbeats: boolean; mode: StoreDownMode } {
    // The count Redis gave while it last answered: a heartbeat that was fresh then is the best count there is.
    const seenAt = this.#guard.lastSuccess;
    const fromHeartbeats = seenAt > 0 && this.#replicas.fresh(seenAt);
    const replicas = fromHeartbeats ? this.#replicas.current(seenAt) : this.#replicas.expected;
    if (this.mode === 'local') {
      const first = this.windows[0] as LimitWindow;
      const share = (w: LimitWindow) => ({
        limit: w.limit / replicas,
        window: w.window,
        burst: Math.max(1, Math.floor(w.burst / replicas)),
      });
      this.#fallback = new TokenBucketLimiter({
        ...share(first),
        windows: this.windows.slice(1).map(share),
        maxKeys: this.#o.maxKeys ?? 10_000,
        ...(this.#o.clock !== undefined && { clock: this.#o.clock }),
      });
    }
    return { replicas, fromHeartbeats, mode: this.mode };
  }

  /** The answer while Redis is down, per `onStoreDown`. */
  #degraded(key: string, maxWait: number): Reservation {
    this.#stats.degraded++;
    if (this.mode === 'open') return GRANTED;
    if (this.mode === 'closed') throw new LimiterStoreDownError(this.name, key);
    if (!this.#fallback) this.#down();
    return (this.#fallback as TokenBucketLimiter).reserve(key, maxWait);
  }

  reserve(key: string, maxWait: number): Promise<Reservation> | Reservation {
    if (this.#closed) throw new LimiterStoreDownError(this.name, key);
    if (!this.#guard.up) return this.#degraded(key, maxWait);
    return this.#reserve(key, maxWait);
  }

  async #reserve(key: string, maxWait: number): Promise<Reservation> {
    let answer: [number, string, string, ...string[]];
    try {
      const client = await this.#connection();
      // Lua reads the number from text: an unbounded wait is sent as a very long one.
      const budget = Math.min(maxWait, 1e12);
      answer = await this.#guard.run('reserve', client.rfReserve(this.#prefix + key, budget, ...this.#args));
    } catch {
      this.#stats.failures++;
      return this.#degraded(key, maxWait);
    }
    this.#stats.reservations++;
    const granted = answer[0] === 1;
    const wait = Number(answer[1]);
    const at = Number(answer[2]);
    if (granted)
      this.#seen.set(key, { tats: answer.slice(3).map(Number), redisNow: at, localNow: Date.now() });
    if (this.events.has('reservation'))
      this.events.emit('reservation', { name: this.name, key, granted, wait, at, start: at + wait });
    if (!granted) return { ok: false, retryAfter: wait };
    // A shared slot cannot be given back: others may have reserved after it. A cancelled one is simply unused.
    return wait <= 0 ? GRANTED : { ok: true, wait, cancel: () => undefined };
  }

  async pause(key: string, ms: number): Promise<void> {
    if (!(ms > 0)) return;
    this.#fallback?.pause(key, ms);
    if (!this.#guard.up || this.#closed) return;
    try {
      const client = await this.#connection();
      await this.#guard.run('pause', client.rfPause(this.#prefix + key, Math.ceil(ms)));
      this.#stats.pauses++;
    } catch {
      this.#stats.failures++;
    }
  }

  snapshot(): LimiterSnapshot[] {
    if (!this.#guard.up && this.#fallback) return this.#fallback.snapshot();
    const now = Date.now();
    return [...this.#seen.entries()].map(([key, s]) =>
      snapshotOf(key, this.windows, s.tats, s.redisNow + (now - s.localNow)),
    );
  }

  /** Counters since creation, and whether Redis is up. */
  stats(): RedisLimiterStats {
    return { ...this.#stats, storeUp: this.#guard.up, replicas: this.#replicas.last };
  }

  /** Stops the heartbeats, leaves the replica count and closes the connection the limiter opened. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const pending = this.#client;
    if (!pending) return;
    const client = await pending;
    // Leaves the replica count at once (else it ages out), within the latency budget.
    if (this.#guard.up)
      await this.#guard.run('leave', client.zrem(`${this.#prefix}replicas`, this.#id)).catch(() => undefined);
    if (this.#o.store.client) return;
    await client.quit().catch(() => client.disconnect());
  }
}

function parseLimiterOptions(options: RedisRateLimiterOptions) {
  return parseOptions(redisLimiterOptionsSchema, options, 'rateLimit');
}
