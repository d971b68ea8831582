/**
 * Limits shared by every gateway replica: `shared: true` on an upstream's `rateLimit` or on `inbound.rateLimit`
 * makes that limit a Redis GCRA limit through the gateway's Redis `store` (the config check refuses `shared: true`
 * without one). Each shared limit has its own name in Redis (`up:<upstream>`, `inbound`), reports its transitions
 * as log lines and as the `reqforge_token_store_up{store="ratelimit:<name>"}` gauge.
 */
import { EventHub } from '../core/events.js';
import { isSecret } from '../core/secret.js';
import type { LimitStoreOptions } from '../limits/redis-limiter.js';
import type { LimiterEvents } from '../limits/store-guard.js';
import type { Logger } from '../observability/logging.js';
import type { Metrics } from '../observability/metrics.js';
import type { GatewayConfig } from './config.js';

/** The settings of a shared limit that can be written in the gateway's YAML, as the schema outputs them. */
export interface SharedLimitConfig {
  readonly shared?: boolean | undefined;
  readonly onStoreDown?: 'open' | 'closed' | 'local' | undefined;
  readonly expectedReplicas?: number | undefined;
  readonly storeTimeout?: number | undefined;
  readonly storeFailures?: number | undefined;
  readonly storeRetryAfter?: number | undefined;
  readonly heartbeat?: number | undefined;
}

/** The Redis connection options of the gateway's `store:` (URL revealed for the driver), when it is Redis. */
export function limitStore(config: Pick<GatewayConfig, 'store'>): LimitStoreOptions | undefined {
  const store = config.store;
  if (store.type !== 'redis') return undefined;
  const url =
    store.url === undefined ? undefined : isSecret(store.url) ? store.url.reveal() : String(store.url);
  return {
    ...(url !== undefined && { url }),
    ...(store.keyPrefix !== undefined && { keyPrefix: store.keyPrefix }),
  };
}

/**
 * The library options that make a configured limit shared: the store, its name, the degradation settings, and
 * events that feed the gateway's log and store gauge. Empty for a limit that is not shared.
 */
export function sharedLimitOptions(
  name: string,
  limit: SharedLimitConfig,
  store: LimitStoreOptions | undefined,
  deps: { readonly logger?: Logger | undefined; readonly metrics?: Metrics | undefined },
): Record<string, unknown> {
  if (!limit.shared || !store) return {};
  const events = new EventHub<LimiterEvents>();
  let up = true;
  events.on('limiter:down', () => {
    up = false;
  });
  events.on('limiter:up', () => {
    up = true;
  });
  deps.metrics?.trackStore(`ratelimit:${name}`, () => up);
  const out: Record<string, unknown> = { store, name, events };
  if (deps.logger) out.logger = deps.logger;
  for (const key of [
    'onStoreDown',
    'expectedReplicas',
    'storeTimeout',
    'storeFailures',
    'storeRetryAfter',
    'heartbeat',
  ] as const) {
    if (limit[key] !== undefined) out[key] = limit[key];
  }
  return out;
}

/** Without the shared-only keys (`shared` itself and the degradation settings), for a limit that is not shared. */
export function withoutShared<T extends SharedLimitConfig>(limit: T): Omit<T, keyof SharedLimitConfig> {
  const {
    shared: _shared,
    onStoreDown: _o,
    expectedReplicas: _e,
    storeTimeout: _t,
    storeFailures: _f,
    storeRetryAfter: _r,
    heartbeat: _h,
    ...rest
  } = limit;
  return rest;
}
