/**
 * How a session's settings reach its clients: session → service → `session.client()` overrides, merged field by
 * field, and the rate-limit buckets they share. Kept apart from `session.ts` so the merge rules can be read (and
 * tested) in one sitting.
 */
import type { ClientOptions } from '../client/options.js';
import type { Clock } from '../core/clock.js';
import { mergeHeaders } from '../core/request.js';
import { type RateLimiter, type RateLimitOptions, TokenBucketLimiter } from '../policies/rate-limit.js';

/**
 * Client options a session, a service or `session.client()` may set; each level overrides the one above it field
 * by field (`rateLimit: { limit: 50 }` keeps the inherited `window` and `strategy`), and `false` turns a policy off.
 */
export type SessionClientSettings = Omit<ClientOptions, 'baseUrl' | 'name' | 'auth' | 'policies'>;

/** Options whose value is an object merged key by key with the inherited one. */
const MERGED_OBJECTS: ReadonlySet<string> = new Set([
  'retry',
  'circuitBreaker',
  'rateLimit',
  'bulkhead',
  'timeout',
  'http',
  'redact',
  'propagate',
]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** One option, inherited value `parent`, own value `child`. */
function mergeField(key: string, parent: unknown, child: unknown): unknown {
  if (child === undefined) return parent;
  if (parent === undefined || parent === false) return child;
  if (key === 'headers') {
    // Header names are case-insensitive: merge them lower-cased, the child's value winning.
    return mergeHeaders(mergeHeaders({}, parent as never), child as never);
  }
  if (!MERGED_OBJECTS.has(key) || !isPlainObject(child)) return child;
  // A timeout given as one duration is the total: an object below it keeps that total.
  if (key === 'timeout' && (typeof parent === 'number' || typeof parent === 'string')) {
    return { total: parent, ...child };
  }
  return isPlainObject(parent) ? { ...parent, ...child } : child;
}

/** `levels` merged in order (later ones win), field by field; undefined levels are skipped. */
export function mergeSettings(...levels: readonly (object | undefined)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const level of levels) {
    if (!level) continue;
    for (const [key, value] of Object.entries(level)) {
      const merged = mergeField(key, out[key], value);
      if (merged !== undefined) out[key] = merged;
    }
  }
  return out;
}

/**
 * The rate-limit buckets of one session. The session's `rateLimit` is one bucket shared by every client that does
 * not override it; a service's `rateLimit` is one bucket shared by that service's clients; a client whose
 * `session.client()` overrides give any rate-limit field gets a bucket of its own. Each bucket uses the merged
 * settings, and a client is bound by its own bucket only (never also by the one above it).
 */
export class SessionLimits {
  readonly #clock: Clock | undefined;
  #session: RateLimiter | undefined;
  readonly #services = new Map<string, RateLimiter>();

  constructor(clock: Clock | undefined) {
    this.#clock = clock;
  }

  /**
   * The `rateLimit` option for one client, from the session's, the service's and the client's own values. Limits in
   * a session count per client (`keyBy: 'shared'`) unless one says otherwise: a session's clients already name
   * their upstream.
   */
  resolve(
    service: string,
    session: RateLimitOptions | false | undefined,
    own: { service: RateLimitOptions | false | undefined; client: RateLimitOptions | false | undefined },
    clock: Clock | undefined,
    clientName = service,
  ): RateLimitOptions | false | undefined {
    const merged = mergeField('rateLimit', mergeField('rateLimit', session, own.service), own.client) as
      | RateLimitOptions
      | false
      | undefined;
    if (merged === undefined || merged === false) return merged;
    if (merged.store !== undefined) return sharedThroughRedis(merged, service, own, clientName);
    const time = merged.clock ?? clock ?? this.#clock;
    const base: RateLimitOptions = {
      ...merged,
      keyBy: merged.keyBy ?? 'shared',
      ...(time !== undefined && { clock: time }),
    };
    // The level that set the last rate-limit field owns the bucket; an inherited `limiter` stays with its level.
    if (own.client !== undefined) return ownBucket(base, own.client);
    if (own.service !== undefined) {
      const settings = ownBucket(base, own.service);
      if (settings.limiter) return settings;
      let limiter = this.#services.get(service);
      if (!limiter) {
        limiter = bucketOf(settings);
        this.#services.set(service, limiter);
      }
      return { ...settings, limiter };
    }
    if (base.limiter) return base;
    this.#session ??= bucketOf(base);
    return { ...base, limiter: this.#session };
  }

  /** The session-wide bucket, once a client uses it (for state and status pages). */
  get sessionLimiter(): RateLimiter | undefined {
    return this.#session;
  }
}

/** The settings without a `limiter` inherited from above, unless this level gave one itself. */
function ownBucket(base: RateLimitOptions, level: RateLimitOptions | false): RateLimitOptions {
  const { limiter, ...rest } = base;
  return level !== false && level.limiter !== undefined ? { ...rest, limiter: level.limiter } : rest;
}

/**
 * A session limit shared through Redis (`store`): every client builds its own Redis limiter, and the level that owns
 * the bucket is the limit's `name` in Redis (`session`, `session:<service>`, `session:<service>:<client>` unless that
 * level gives a name), so the clients that share a bucket share one key, in this process and in every replica.
 */
function sharedThroughRedis(
  merged: RateLimitOptions,
  service: string,
  own: { service: RateLimitOptions | false | undefined; client: RateLimitOptions | false | undefined },
  clientName: string,
): RateLimitOptions {
  // A `name` counts only at the level that owns the bucket: one inherited from above would share the upper bucket.
  const owner = own.client ?? own.service;
  const name =
    owner === undefined
      ? (merged.name ?? 'session')
      : (owner !== false && owner.name) ||
        (own.client !== undefined ? `session:${service}:${clientName}` : `session:${service}`);
  return { ...merged, keyBy: merged.keyBy ?? 'shared', name };
}

function bucketOf(o: RateLimitOptions): RateLimiter {
  // `limit` is checked by the rateLimit policy's schema when the client is built; a missing one fails there.
  return new TokenBucketLimiter({
    limit: o.limit as number,
    ...(o.window !== undefined && { window: o.window }),
    ...(o.burst !== undefined && { burst: o.burst }),
    ...(o.windows !== undefined && { windows: o.windows }),
    ...(o.maxKeys !== undefined && { maxKeys: o.maxKeys }),
    ...(o.clock !== undefined && { clock: o.clock }),
  });
}
