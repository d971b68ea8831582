/**
 * The option sets of the policies and the HTTP transport, defined once. The `…Fields` objects hold what can be
 * written as data (numbers, durations, enums): the gateway's configuration schema is built from them, so the
 * library and the gateway cannot drift. The `…OptionsSchema` values add what only code can give (functions,
 * clocks, limiter and budget instances) and are what the library's factories parse with {@link parseOptions}.
 */
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { Policy } from '../types.js';
import { duration, fn, int, objectWith, ratio } from './schema.js';

const clock = () => objectWith<Clock>('a clock with now(), setTimeout() and clearTimeout()', ['now']);

/** Timeout fields: `total` for the whole call, `attempt` for one attempt; 0 or Infinity turns one off. */
export const timeoutFields = {
  total: duration({ infinite: true }).optional(),
  attempt: duration({ infinite: true }).optional(),
};
/** `{ total, attempt }` as an object. */
export const timeoutObjectSchema = z.strictObject(timeoutFields);
/** The `timeout` option: an object, a duration (the total) or `false` (both off). */
export const timeoutOptionSchema = z.union([
  z.literal(false),
  duration({ infinite: true }),
  timeoutObjectSchema,
]);

/** Retry budget fields (`retry.budget`). `ratio` may be 0 (only `minRetries` retries in flight), as `RetryBudget` takes it. */
export const retryBudgetFields = {
  ratio: z.number().min(0).max(1).optional(),
  minRetries: int(0).optional(),
  maxKeys: int(1).optional(),
};

/** Everything a `RetryBudget` takes. */
export const retryBudgetOptionsSchema = z.strictObject(retryBudgetFields);

const BACKOFF_KINDS = ['none', 'constant', 'exponential', 'decorrelated'] as const;
type BackoffKind = (typeof BACKOFF_KINDS)[number];

/** Retry fields that can be written as data. */
export const retryFields = {
  retries: int(0).optional(),
  backoff: z.enum(BACKOFF_KINDS).optional(),
  baseDelay: duration().optional(),
  maxDelay: duration().optional(),
  maxRetryAfter: duration().optional(),
  idempotencyKey: z.union([z.boolean(), z.string().min(1)]).optional(),
  budget: z.union([z.literal(false), retryBudgetOptionsSchema]).optional(),
};
/** What `retry()` and one call's `retry` both take: the data fields, a delay function, `retryOn` and `random`. */
const retryShapeFields = {
  ...retryFields,
  backoff: z
    .custom<BackoffKind | ((...args: never[]) => number)>(
      (v) =>
        typeof v === 'function' ||
        (typeof v === 'string' && (BACKOFF_KINDS as readonly string[]).includes(v)),
      {
        error: `expected one of ${BACKOFF_KINDS.map((k) => `"${k}"`)
          .join(', ')
          .replace(/, ([^,]*)$/, ' or $1')}, or a delay function (context) => ms`,
      },
    )
    .optional(),
  retryOn: fn().optional(),
  random: fn<() => number>().optional(),
};
/** Everything `retry()` takes. */
export const retryOptionsSchema = z.strictObject({
  ...retryShapeFields,
  budget: z
    .union([z.literal(false), objectWith('a RetryBudget', ['begin', 'tryRetry']), retryBudgetOptionsSchema])
    .optional(),
});
/**
 * One call's `retry` settings (`api.get(url, { retry: { retries: 5 } })`): the same fields as `retry()` except the
 * budget, which is shared by every call of the client.
 */
export const callRetryOptionsSchema = z.strictObject({
  ...retryShapeFields,
  budget: z
    .custom<never>(() => false, {
      error:
        'the retry budget is shared by every call of a client and cannot be set per call; set `retry.budget` on the client',
    })
    .optional(),
});

/** Circuit breaker fields that can be written as data. */
export const circuitBreakerFields = {
  failureRatio: ratio().optional(),
  minimumCalls: int(1).optional(),
  window: duration({ positive: true }).optional(),
  consecutiveFailures: int(0).optional(),
  openDuration: duration({ positive: true }).optional(),
  halfOpenProbes: int(1).optional(),
  keyBy: z.enum(['host', 'route', 'shared']).optional(),
  maxKeys: int(1).optional(),
};
/** Everything `circuitBreaker()` takes. */
export const circuitBreakerOptionsSchema = z.strictObject({
  ...circuitBreakerFields,
  keyBy: z.union([z.enum(['host', 'route', 'shared']), fn()]).optional(),
  isFailure: fn().optional(),
  clock: clock().optional(),
});

/** One more window on the same key (`rateLimit.windows`): `{ limit: 10_000, window: '1d' }`. */
export const limitWindowSchema = z.strictObject({
  limit: z.number().positive(),
  window: duration({ positive: true }),
  burst: int(1).optional(),
});

/** Rate limit fields that can be written as data. `limit` is required unless a `limiter` is given. */
export const rateLimitFields = {
  limit: z.number().positive().optional(),
  window: duration({ positive: true }).optional(),
  burst: int(1).optional(),
  windows: z.array(limitWindowSchema).optional(),
  maxPause: duration().optional(),
  strategy: z.enum(['queue', 'drop', 'raise']).optional(),
  queueSize: int(0).optional(),
  maxWait: duration().optional(),
  keyBy: z.enum(['host', 'shared']).optional(),
  maxKeys: int(1).optional(),
  serverAware: z.boolean().optional(),
};
/**
 * The settings of a limit shared through Redis that can be written as data: what to do when Redis is down, the
 * latency budget of one Redis operation, the breaker around Redis and the replica heartbeats.
 */
export const sharedLimitFields = {
  onStoreDown: z.enum(['open', 'closed', 'local']).optional(),
  expectedReplicas: int(1).optional(),
  storeTimeout: duration({ positive: true }).optional(),
  storeFailures: int(1).optional(),
  storeRetryAfter: duration({ positive: true }).optional(),
  heartbeat: duration({ positive: true }).optional(),
};

/** Where a shared limit lives: the Redis connection options of the token stores (`RedisTokenStore.connect`). */
export const limitStoreSchema = z.strictObject({
  type: z.literal('redis').optional(),
  url: z.string().min(1).optional(),
  client: objectWith<object>('an ioredis connection', ['defineCommand']).optional(),
  redisOptions: objectWith<object>('ioredis options').optional(),
  keyPrefix: z.string().optional(),
});

/** Everything a `TokenBucketLimiter` takes. */
export const tokenBucketOptionsSchema = z.strictObject({
  limit: z.number().positive(),
  window: rateLimitFields.window,
  burst: rateLimitFields.burst,
  windows: rateLimitFields.windows,
  maxKeys: rateLimitFields.maxKeys,
  clock: clock().optional(),
});

/** Everything `rateLimit()` takes. */
export const rateLimitOptionsSchema = z
  .strictObject({
    ...rateLimitFields,
    keyBy: z.union([z.enum(['host', 'shared']), fn()]).optional(),
    limiter: objectWith('a RateLimiter with reserve() and pause()', ['reserve', 'pause']).optional(),
    store: limitStoreSchema.optional(),
    ...sharedLimitFields,
    name: z.string().min(1).optional(),
    events: objectWith<object>('an EventHub', ['emit', 'on']).optional(),
    logger: objectWith<object>('a pino-compatible logger with info() and warn()', [
      'info',
      'warn',
    ]).optional(),
    clock: clock().optional(),
  })
  .superRefine((o, ctx) => {
    if (o.limiter !== undefined && o.store !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['store'],
        message: 'give either a limiter or a store (the store builds a shared limiter), not both',
      });
    }
    if (o.store === undefined) {
      for (const key of Object.keys(sharedLimitFields) as (keyof typeof sharedLimitFields)[]) {
        if (o[key] === undefined) continue;
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'applies to a limit shared through Redis only: add store: { url: "redis://…" }',
        });
      }
    }
    if (o.limiter === undefined && o.limit === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['limit'],
        message: 'required (a number of calls per window) unless a limiter is given',
      });
    }
  });

/** Bulkhead fields (all of them can be written as data). */
export const bulkheadFields = {
  maxConcurrent: int(1),
  queueSize: int(0).optional(),
  queueTimeout: duration().optional(),
};
/** Everything `bulkhead()` takes: the data fields and the fair queue's key function. */
export const bulkheadOptionsSchema = z.strictObject({ ...bulkheadFields, keyBy: fn().optional() });

/** Redirect fields: `max` hops before a `RedirectError`. */
export const redirectFields = {
  max: int(0).optional(),
};
/** Everything `followRedirects()` takes. */
export const redirectOptionsSchema = z.strictObject(redirectFields);

/** Undici transport fields that can be written as data. */
export const httpFields = {
  connections: int(1).optional(),
  pipelining: int(1).optional(),
  keepAliveTimeout: duration({ positive: true }).optional(),
  connectTimeout: duration({ positive: true }).optional(),
  headersTimeout: duration().optional(),
  bodyTimeout: duration().optional(),
  http2: z.boolean().optional(),
};
const pem = z.union([z.string(), z.instanceof(Uint8Array)]);
/** Everything the `http` option of `createClient` takes. */
export const httpOptionsSchema = z.strictObject({
  ...httpFields,
  tls: z
    .strictObject({
      ca: z.union([pem, z.array(pem)]).optional(),
      cert: pem.optional(),
      key: pem.optional(),
      passphrase: z.string().optional(),
      servername: z.string().optional(),
      rejectUnauthorized: z.boolean().optional(),
    })
    .optional(),
  proxy: z.union([z.literal(false), z.string().min(1)]).optional(),
  dispatcher: objectWith('an undici Dispatcher', ['dispatch']).optional(),
});

/** `{ onRequest, onResponse, onError }`, each optional. */
export const hooksObjectSchema = z.strictObject({
  onRequest: fn().optional(),
  onResponse: fn().optional(),
  onError: fn().optional(),
});
/** The `hooks` option: one hooks object or a list of them. */
export const hooksSchema = z.union([hooksObjectSchema, z.array(hooksObjectSchema)]);

/** A policy: an object with a name and a `wrap(next)` function. */
export const policySchema = objectWith<Policy>(
  'a policy such as retry(…): an object with a name and a wrap(next) function',
  ['wrap'],
);

/** The options of the preset pipeline (`standardPolicies()`, and `createClient` without `policies`). */
export const presetFields = {
  timeout: timeoutOptionSchema.optional(),
  retry: z.union([z.literal(false), retryOptionsSchema]).optional(),
  circuitBreaker: z.union([z.literal(false), circuitBreakerOptionsSchema]).optional(),
  rateLimit: z.union([z.literal(false), rateLimitOptionsSchema]).optional(),
  bulkhead: z.union([z.literal(false), bulkheadOptionsSchema]).optional(),
  auth: z.union([z.literal(false), policySchema]).optional(),
  redirect: z.union([z.literal(false), redirectOptionsSchema]).optional(),
};
/** Everything `standardPolicies()` takes. */
export const standardPolicyOptionsSchema = z.strictObject({
  ...presetFields,
  inner: z.array(policySchema).optional(),
});

/**
 * What `UsageTracker` compares usage with: calls (`perMinute`, …) and errors (`errorsPerMinute`, …) per period.
 * Every limit is optional; usage over one is reported (`withinLimits: false`, `exceeded`), never enforced.
 */
export const usageLimitsSchema = z.strictObject({
  perMinute: int(0).optional(),
  perFiveMinutes: int(0).optional(),
  perHour: int(0).optional(),
  errorsPerMinute: int(0).optional(),
  errorsPerFiveMinutes: int(0).optional(),
  errorsPerHour: int(0).optional(),
});

/**
 * The `usage` option of `createClient` and sessions: `true` (track, no limits), limits (track and compare), a
 * `UsageTracker` to record into, or `false`.
 */
export const usageOptionSchema = z.union([
  z.boolean(),
  objectWith('a UsageTracker', ['started', 'failed', 'snapshot']),
  usageLimitsSchema,
]);
