/**
 * The gateway configuration's schema: every key, its type, its default and the checks that span keys. Parsing,
 * `${ENV}` interpolation and errors are in config.ts, which re-exports what is public here.
 */
import { z } from 'zod';
import {
  bulkheadFields,
  circuitBreakerFields,
  httpFields,
  rateLimitFields,
  retryFields,
  duration as sharedDuration,
  sharedLimitFields,
  size as sharedSize,
  timeoutObjectSchema,
  usageLimitsSchema,
} from '../core/options/index.js';
import { Secret } from '../core/secret.js';
import {
  encryptionKeySchema,
  headersSchema,
  headerValueSchema,
  memcachedServersSchema,
  storeUrlSchema,
} from './config-checks.js';

const duration = sharedDuration();
const size = sharedSize();

const secret = z.string().transform((value) => new Secret(value));
// Text from ${ENV} (or quoted in YAML) becomes a number or boolean in `coerceText`, guided by the schema, before
// validation; these stay as names so schemas read as before.
const numeric = <T extends z.ZodType>(schema: T): T => schema;
const bool = () => z.boolean();
const positiveInt = z.number().int().positive();

/** Defaults of `status.session` (the status page's login session). */
export const SESSION_DEFAULTS = Object.freeze({
  /** @default 30 min: an operator who walks away is logged out soon after; an open tab's polling keeps it alive */
  idle: 30 * 60_000,
  /** @default 12 h: one shift; a stolen cookie is worthless after it */
  maxAge: 12 * 3_600_000,
  /** @default 1000: bounded memory whatever a client with a valid key does */
  max: 1000,
});
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const method = z
  .string()
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(METHODS, { error: () => `expected one of ${METHODS.join(', ')}` }));

const httpUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password;
    } catch {
      return false;
    }
  },
  { message: 'expected an absolute http(s) URL without credentials, such as https://api.example.com/v1' },
);

// The policies' option sets come from the options layer, so the gateway and the library cannot drift.
const timeoutSchema = timeoutObjectSchema;
const retrySchema = z.union([z.literal(false), z.strictObject(retryFields)]);
const breakerSchema = z.union([z.literal(false), z.strictObject(circuitBreakerFields)]);
// `shared: true` makes the limit one for every replica, through the gateway's Redis store (issue 17).
const sharedLimit = { shared: bool().optional(), ...sharedLimitFields };
const rateLimitSchema = z.strictObject({ ...rateLimitFields, ...sharedLimit, limit: z.number().positive() });
// Every field optional: what is left out comes from the gateway's default bulkhead (see upstreams.ts).
const bulkheadSchema = z.union([z.literal(false), z.strictObject(bulkheadFields).partial()]);

const headerSecret = headerValueSchema.transform((value) => new Secret(value));
const authSchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('oauth2'),
      /** The token endpoint; or `issuer`, whose metadata names it (read once, see auth/discovery.ts). */
      tokenUrl: httpUrl.optional(),
      issuer: httpUrl.optional(),
      clientId: z.string().min(1),
      clientSecret: secret,
      scopes: z.array(z.string()).optional(),
      audience: z.string().optional(),
      /** RFC 8707 resource indicator(s), each sent as a `resource` form field. */
      resource: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
      /** Where the client credentials go: HTTP basic auth (default; with `issuer`, what its metadata lists) or the form body. */
      credentials: z.enum(['basic', 'body']).optional(),
    })
    .superRefine((a, ctx) => {
      if ((a.tokenUrl === undefined) === (a.issuer === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: [a.tokenUrl === undefined ? 'tokenUrl' : 'issuer'],
          message:
            a.tokenUrl === undefined
              ? 'required (the token endpoint), unless an issuer is given'
              : 'give tokenUrl or issuer, not both',
        });
      }
    }),
  // Both go into a header as they are: CR/LF would pass here and then fail every request.
  z.strictObject({ type: z.literal('bearer'), token: headerSecret }),
  z.strictObject({
    type: z.literal('header'),
    name: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected an HTTP header name'),
    value: headerSecret,
  }),
]);

const httpSchema = z.strictObject({ ...httpFields, rejectUnauthorized: bool().optional() });

// Gateway hardening (issue 12): a base URL's query would be dropped silently, and what the upstream may
// send back to callers is a per-upstream policy.
const baseUrl = httpUrl.refine((value) => !value.includes('?') && !value.includes('#'), {
  message: 'a base URL cannot carry a query string or fragment (put query parameters in the forwarded path)',
});

const responseHeadersSchema = z.strictObject({
  /** Response headers removed before relaying. */
  remove: z
    .array(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected an HTTP header name'))
    .transform((names) => names.map((n) => n.toLowerCase()))
    .default(['server', 'x-powered-by']),
  /** `rewrite` an absolute Location on the upstream's own origin to the gateway path (drop others); `keep` it. */
  location: z.enum(['rewrite', 'keep']).default('rewrite'),
});

const upstreamSchema = z.strictObject({
  baseUrl,
  methods: z.array(method).nonempty().optional(),
  paths: z.array(z.string().startsWith('/', 'path patterns start with /')).nonempty().optional(),
  headers: headersSchema.optional(),
  timeout: timeoutSchema.optional(),
  retry: retrySchema.optional(),
  circuitBreaker: breakerSchema.optional(),
  rateLimit: rateLimitSchema.optional(),
  bulkhead: bulkheadSchema.optional(),
  /** Usage tracking shown in `/status.json` (`state.usage`): `true`, or limits it is compared with. */
  usage: z.union([z.boolean(), usageLimitsSchema]).optional(),
  auth: authSchema.optional(),
  http: httpSchema.optional(),
  maxBodySize: size.optional(),
  responseHeaders: responseHeadersSchema.default({ remove: ['server', 'x-powered-by'], location: 'rewrite' }),
  /** Overrides `limits.retryBodySize` for this upstream. */
  retryBodySize: size.optional(),
});

/** `defaults:`: any upstream setting but `baseUrl`, inherited by every upstream field by field. */
export const upstreamDefaultsSchema = upstreamSchema.omit({ baseUrl: true }).partial();

const apiKeySchema = z.strictObject({
  name: z.string().min(1),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/i, 'expected the SHA-256 of the key as 64 hex characters (never the key itself)')
    .transform((h) => h.toLowerCase()),
});

const storeCommon = {
  keyPrefix: z.string().optional(),
  encryptionKeys: z.array(encryptionKeySchema).nonempty().optional(),
};
const storeSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('memory') }),
  z.strictObject({ type: z.literal('file'), path: z.string().min(1), ...storeCommon }),
  z.strictObject({
    type: z.literal('sqlite'),
    path: z.string().min(1),
    table: z.string().optional(),
    ...storeCommon,
  }),
  z.strictObject({
    type: z.literal('redis'),
    url: storeUrlSchema(['redis:', 'rediss:'], true).optional(),
    ...storeCommon,
  }),
  z.strictObject({
    type: z.literal('postgres'),
    url: storeUrlSchema(['postgres:', 'postgresql:'], true),
    table: z.string().optional(),
    ...storeCommon,
  }),
  z.strictObject({
    type: z.literal('mysql'),
    url: storeUrlSchema(['mysql:', 'mariadb:'], false),
    table: z.string().optional(),
    ...storeCommon,
  }),
  z.strictObject({ type: z.literal('memcached'), url: memcachedServersSchema.optional(), ...storeCommon }),
]);

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;
const RESERVED = new Set(['metrics', 'health', 'ready', 'status', 'status.json', 'favicon.ico']);

// The configuration's fields; the exported schema adds the checks that span sections.
const gatewayConfigFields = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: numeric(z.number().int().min(0).max(65535)).default(8787),
    })
    .default({ host: '127.0.0.1', port: 8787 }),
  requestIdHeader: z
    .string()
    .regex(/^[a-z0-9-]+$/i)
    .transform((h) => h.toLowerCase())
    .default('x-request-id'),
  limits: z
    .strictObject({
      bodySize: size.default(10 * 1024 * 1024),
      // Bodies of requests that may be retried are held in memory up to this size (per request in flight).
      retryBodySize: size.default(64 * 1024),
      headersTimeout: duration.default(10_000),
      requestTimeout: duration.default(300_000),
      keepAliveTimeout: duration.default(5_000),
      /** Connections open at once; more are closed on arrival (a flood of idle connections). */
      maxConnections: positiveInt.default(1024),
    })
    .default({
      bodySize: 10 * 1024 * 1024,
      retryBodySize: 64 * 1024,
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
      maxConnections: 1024,
    }),
  inbound: z
    .strictObject({
      apiKeys: z.array(apiKeySchema).optional(),
      apiKeyHeader: z
        .string()
        .transform((h) => h.toLowerCase())
        .default('x-api-key'),
      /** Require a key for /metrics and /status. Default: true when apiKeys are set (see docs/gateway.md). */
      protectOperations: bool().optional(),
      /** Wrong keys allowed per client address before 429 (valid keys are never counted or refused). */
      failedKeyLimit: z
        .strictObject({ limit: positiveInt, window: duration })
        .default({ limit: 10, window: 60_000 }),
      rateLimit: z
        .strictObject({
          limit: positiveInt,
          window: duration,
          burst: positiveInt.optional(),
          by: z.enum(['global', 'ip', 'key']).default('ip'),
          ...sharedLimit,
        })
        .optional(),
    })
    .default({ apiKeyHeader: 'x-api-key', failedKeyLimit: { limit: 10, window: 60_000 } }),
  shutdown: z.strictObject({ grace: duration.default(10_000) }).default({ grace: 10_000 }),
  /** Trust one proxy in front: keep its Forwarded / X-Forwarded-* / X-Real-IP and take the client address from it. */
  trustProxy: bool().default(false),
  /** `Strict-Transport-Security` on responses the gateway writes, for gateways reached over TLS. */
  hsts: z.strictObject({ maxAge: duration, includeSubDomains: bool().default(false) }).optional(),
  store: storeSchema.default({ type: 'memory' }),
  metrics: z
    .strictObject({
      enabled: bool().default(true),
      prefix: z
        .string()
        .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/)
        .default(''),
      defaultMetrics: bool().default(true),
    })
    .default({ enabled: true, prefix: '', defaultMetrics: true }),
  /**
   * OpenTelemetry tracing (needs `@opentelemetry/api` and an SDK you start, e.g. with `node --import`): a server span per
   * request continuing the caller's trace, and the upstream call spans as its children. Off without the API installed.
   */
  tracing: z.strictObject({ enabled: bool().default(true) }).default({ enabled: true }),
  /**
   * The gateway's JSON log lines on stdout (pino): the lowest level written (`reqforge gateway --log-level`
   * overrides), and `access: true` for one `info` line per proxied request (off by default: a busy gateway would
   * write a line per request; the metrics already count them).
   */
  logging: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
      access: bool().default(false),
    })
    .default({ level: 'info', access: false }),
  /** The status page (`/status`, `/status.json`): see docs/gateway.md, "The status page". */
  status: z
    .strictObject({
      enabled: bool().default(true),
      /** How often the page polls `/status/json` for fresh numbers. */
      refresh: duration.default(5_000),
      /**
       * Offer admin actions (reset a breaker, force a token refresh). Default: true where operations need a key;
       * refused where they do not (there is no login to guard them).
       */
      actions: bool().optional(),
      /** The login session a browser gets after posting an API key once. */
      session: z
        .strictObject({
          /** Ends after this long without a request (the page polls, so an open tab keeps it). */
          idle: duration.default(SESSION_DEFAULTS.idle),
          /** Ends this long after login, whatever happens. */
          maxAge: duration.default(SESSION_DEFAULTS.maxAge),
          /** Sessions kept at most (the least recently used goes first). */
          max: positiveInt.default(SESSION_DEFAULTS.max),
          /** Send the cookie with `Secure`. Default: when `hsts` is set (the gateway is reached over TLS). */
          secure: bool().optional(),
        })
        .optional(),
    })
    .default({ enabled: true, refresh: 5_000 }),
  /** Serve /metrics, /health, /ready and /status on their own address (and not on `listen`). */
  operations: z
    .strictObject({
      listen: z.strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: numeric(z.number().int().min(0).max(65535)),
      }),
    })
    .optional(),
  // requireStore defaults off: on Kubernetes a shared store outage would take every replica out of service,
  // while each one can still serve from its in-process fallback.
  ready: z.strictObject({ requireStore: bool().default(false) }).default({ requireStore: false }),
  /** Settings every upstream inherits, each overridable per upstream field by field (see config-defaults.ts). */
  defaults: upstreamDefaultsSchema.optional(),
  upstreams: z.record(z.string(), upstreamSchema).superRefine((upstreams, ctx) => {
    for (const name of Object.keys(upstreams)) {
      if (!NAME.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'upstream names are 1-63 letters, digits, "-" or "_" (they become the first path segment)',
        });
      } else if (RESERVED.has(name.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `"${name}" is reserved for an operations endpoint`,
        });
      }
    }
  }),
});

/** The zod schema of a gateway configuration (after `${ENV}` interpolation). */
export const gatewayConfigSchema = gatewayConfigFields.superRefine((config, ctx) => {
  // The status page's login and admin actions exist only where operations need a key: elsewhere their settings
  // would be accepted and do nothing.
  const login =
    config.status.enabled &&
    (config.inbound.apiKeys?.length ?? 0) > 0 &&
    config.inbound.protectOperations !== false;
  for (const key of ['actions', 'session'] as const) {
    if (login || config.status[key] === undefined) continue;
    ctx.addIssue({
      code: 'custom',
      path: ['status', key],
      message: config.status.enabled
        ? 'applies only where operations need a key (the status page then has a login): add inbound.apiKeys ' +
          '(with protectOperations not false), or drop this setting'
        : 'the status page is off (status.enabled: false): drop this setting',
    });
  }
  const limits: [(string | number)[], { shared?: boolean | undefined } | undefined][] = [
    [['inbound', 'rateLimit'], config.inbound.rateLimit],
    ...Object.entries(config.upstreams).map(([name, u]): [(string | number)[], typeof u.rateLimit] => [
      ['upstreams', name, 'rateLimit'],
      u.rateLimit,
    ]),
  ];
  for (const [path, limit] of limits) {
    if (!limit) continue;
    if (limit.shared && config.store.type !== 'redis') {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'shared'],
        message:
          `a shared limit lives in Redis, and the gateway's store is "${config.store.type}": ` +
          'add store: { type: redis, url: redis://… } (or drop shared: true for a limit per replica)',
      });
    }
    if (limit.shared) continue;
    for (const key of Object.keys(sharedLimitFields)) {
      if ((limit as Record<string, unknown>)[key] === undefined) continue;
      ctx.addIssue({
        code: 'custom',
        path: [...path, key],
        message: 'applies to a shared limit only: add shared: true (with a Redis store)',
      });
    }
  }
});

/** A validated gateway configuration: durations in ms, sizes in bytes, secrets wrapped in {@link Secret}. */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
/** A configuration as written in YAML or JSON (before defaults and parsing). */
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
/** One validated upstream. */
export type UpstreamConfig = GatewayConfig['upstreams'][string];
