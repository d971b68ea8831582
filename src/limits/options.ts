/** The option set of the shared (Redis) limiter, defined once in the options layer. */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import {
  int,
  limitStoreSchema,
  limitWindowSchema,
  objectWith,
  rateLimitFields,
  sharedLimitFields,
} from '../core/options/index.js';

/** Everything `new RedisRateLimiter(options)` takes. */
export const redisLimiterOptionsSchema = z.strictObject({
  limit: z.number().positive(),
  window: rateLimitFields.window,
  burst: rateLimitFields.burst,
  windows: z.array(limitWindowSchema).optional(),
  store: limitStoreSchema,
  name: z.string().min(1).optional(),
  ...sharedLimitFields,
  maxKeys: int(1).optional(),
  events: objectWith<object>('an EventHub', ['emit', 'on']).optional(),
  logger: objectWith<object>('a pino-compatible logger with info() and warn()', ['info', 'warn']).optional(),
  clock: objectWith<Clock>('a clock with now(), setTimeout() and clearTimeout()', ['now']).optional(),
});
