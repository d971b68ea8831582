/**
 * Rate limits shared by every replica through Redis: `RedisRateLimiter` (GCRA on Redis's clock, one round trip
 * per permit), its events, and the error of a fail-closed limiter whose store is down.
 * @packageDocumentation
 */
export { isLimiterStoreDownError, LimiterStoreDownError } from './errors.js';
export {
  type LimitStoreOptions,
  type RedisLimiterStats,
  RedisRateLimiter,
  type RedisRateLimiterOptions,
} from './redis-limiter.js';
export { HEARTBEAT_LIFETIME } from './replicas.js';
export type { LimiterEvents, LimiterLogger, StoreDownMode } from './store-guard.js';
