import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { z } from 'zod';
import { internalErrorBrand, ReqforgeError } from '../core/errors.js';
import {
  bulkheadFields,
  circuitBreakerFields,
  describeIssues,
  httpFields,
  rateLimitFields,
  retryFields,
  type Schema,
  schemasAt,
  duration as sharedDuration,
  sharedLimitFields,
  size as sharedSize,
  suggest,
  timeoutObjectSchema,
  unwrap,
  usageLimitsSchema,
} from '../core/options/index.js';
import { Secret } from '../core/secret.js';
import {
  encryptionKeySchema,
  headersSchema,
  headerValueSchema,
  memcachedServersSchema,
  startChecks,
  storeUrlSchema,
} from './config-checks.js';
import { applyUpstreamDefaults } from './config-defaults.js';
import { ConfigSyntaxError, parseConfigText } from './config-text.js';

/** One problem found in a gateway configuration, with the dotted path of the offending key. */
export interface ConfigIssue {
  /** Dotted path such as `upstreams.petstore.timeout.total`; empty for the whole document. */
  readonly path: string;
  /** What is wrong and, where possible, how to fix it. */
  readonly message: string;
}

/** The gateway configuration is invalid; `issues` lists every problem with its path. Code `ERR_CONFIG`. */
export class ConfigError extends ReqforgeError {
  /** Every problem found, in document order. */
  readonly issues: readonly ConfigIssue[];
  /** The file the configuration came from, if any. */
  readonly file: string | undefined;

  constructor(issues: readonly ConfigIssue[], file?: string) {
    const where = file ? ` in ${file}` : '';
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n');
    super(`Invalid gateway configuration${where}:\n${lines}`, 'ERR_CONFIG');
    this.issues = issues;
    this.file = file;
  }
}
internalErrorBrand.brand(ConfigError, 'ConfigError');

/** True for a {@link ConfigError}, also one thrown by another copy of reqforge. */
export const isConfigError = (e: unknown): e is ConfigError => internalErrorBrand.hasKind(e, 'ConfigError');

/** Durations and sizes are parsed by the options layer's one parser; re-exported for the gateway's users. */
export { parseDuration, parseSize } from '../core/options/index.js';

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
const upstreamDefaultsSchema = upstreamSchema.omit({ baseUrl: true }).partial();

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

/** Options of {@link parseGatewayConfig} and {@link loadGatewayConfig}. */
export interface ParseConfigOptions {
  /**
   * Variables for `${NAME}` interpolation.
   * @default process.env
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The file name, shown in errors. */
  readonly file?: string;
}

/**
 * Replaces `${NAME}` in every string value (never in keys) with the environment variable NAME.
 * `${NAME:-fallback}` uses the fallback when NAME is unset or empty; `$${` writes a literal `${`.
 * A missing variable is an issue naming it and the key it was used in.
 */
export function interpolateEnv(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  issues: ConfigIssue[],
  path: readonly (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(\$)?\{([^}]*)\}/g, (whole, escaped: string | undefined, inner: string) => {
      if (escaped) return whole.slice(1);
      const match = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(inner);
      if (!match) {
        issues.push({
          path: path.join('.'),
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the message shows the syntax.
          message: 'not a valid variable reference (expected ${NAME} or ${NAME:-fallback})',
        });
        return whole;
      }
      const name = match[1] as string;
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (match[2] !== undefined) return match[2];
      issues.push({
        path: path.join('.'),
        message: `environment variable ${name} is not set (referenced as \${${name}})`,
      });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, issues, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = interpolateEnv(v, env, issues, [...path, key]);
    return out;
  }
  return value;
}

/**
 * Validates a configuration object (already parsed from YAML or JSON): interpolates `${ENV}`,
 * applies defaults and checks every key. Throws a {@link ConfigError} listing every problem.
 */
export function parseGatewayConfig(input: unknown, options: ParseConfigOptions = {}): GatewayConfig {
  const issues: ConfigIssue[] = [];
  const interpolated = applyUpstreamDefaults(
    coerceText(
      interpolateEnv(input ?? {}, options.env ?? process.env, issues),
      unwrap(gatewayConfigSchema as unknown as Schema),
    ),
    (defaults) => upstreamDefaultsSchema.safeParse(defaults).success,
  );
  // reportInput: each issue carries the offending value, so describeIssues can make sure no message shows it.
  const result = gatewayConfigSchema.safeParse(interpolated, { reportInput: true });
  if (!result.success) {
    issues.push(...describeIssues(result.error.issues, gatewayConfigSchema as unknown as Schema, [], 'key'));
  }
  if (issues.length > 0 || !result.success) {
    issues.sort((a, b) => a.path.localeCompare(b.path));
    throw new ConfigError(issues, options.file);
  }
  const config = result.data;
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    const t = upstream.timeout;
    if (t?.total !== undefined && t.attempt !== undefined && t.total > 0 && t.attempt > t.total) {
      issues.push({
        path: `upstreams.${name}.timeout.attempt`,
        message: 'the attempt timeout exceeds the total timeout (timeout.total)',
      });
    }
  }
  issues.push(...startChecks(config, options.env ?? process.env));
  if (issues.length > 0) throw new ConfigError(issues, options.file);
  return config;
}

/**
 * Parses configuration text: JSON when it looks like JSON or `format` says so, YAML otherwise. `${VAR}` may stand
 * in YAML flow maps too. Syntax errors give the line and column, never the text.
 */
export function parseGatewayConfigText(
  text: string,
  options: ParseConfigOptions & { readonly format?: 'yaml' | 'json' } = {},
): GatewayConfig {
  let data: unknown;
  const format = options.format ?? (text.trimStart().startsWith('{') ? 'json' : 'yaml');
  try {
    data = parseConfigText(text, format);
  } catch (error) {
    if (!(error instanceof ConfigSyntaxError)) throw error;
    // Position and kind only: a parser's code frame would print the line (and the one above), secrets included.
    throw new ConfigError(
      error.problems.map((p) => ({ path: '', message: p.message })),
      options.file,
    );
  }
  return parseGatewayConfig(data, options);
}

/** Reads and validates a configuration file (`.yaml`, `.yml` or `.json`). */
export async function loadGatewayConfig(
  file: string,
  options: Omit<ParseConfigOptions, 'file'> = {},
): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [
        {
          path: '',
          message: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'error'})`,
        },
      ],
      file,
    );
  }
  return parseGatewayConfigText(text, {
    ...options,
    file,
    format: extname(file).toLowerCase() === '.json' ? 'json' : 'yaml',
  });
}

const NUMBER_TEXT = /^\s*-?\d+(\.\d+)?\s*$/;

/**
 * Values interpolated from `${ENV}` (and quoted YAML scalars) are text: turn the text into a number or boolean
 * where the schema expects one there and no text, so the shared option schemas never accept strings for numbers.
 */
export function coerceText(value: unknown, candidates: readonly Schema[]): unknown {
  if (typeof value === 'string') {
    const types = new Set(candidates.map((c) => c._zod.def.type));
    const literals = candidates.flatMap((c) => (c._zod.def as { values?: unknown[] }).values ?? []);
    if (
      (types.has('boolean') || literals.includes(false) || literals.includes(true)) &&
      /^(true|false)$/.test(value)
    ) {
      const b = value === 'true';
      if (types.has('boolean') || literals.includes(b)) return b;
    }
    if (types.has('number') && !types.has('string') && !types.has('custom') && NUMBER_TEXT.test(value)) {
      return Number(value);
    }
    return value;
  }
  if (Array.isArray(value)) {
    const inner = candidates.flatMap((c) => schemasAt(c, [0]));
    return value.map((v) => coerceText(v, inner));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = coerceText(
        v,
        candidates.flatMap((c) => schemasAt(c, [key])),
      );
    }
    return out;
  }
  return value;
}

/** The closest known key within a small edit distance (or a case-insensitive match), if any. */
export { suggest };
