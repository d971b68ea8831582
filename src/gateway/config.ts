import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { internalErrorBrand, ReqforgeError } from '../core/errors.js';
import { Secret } from '../core/secret.js';

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

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/**
 * Parses a duration: a number of milliseconds, or a string such as `500ms`, `1.5s`, `2m` or `1h`.
 * Returns undefined when the text is not a duration.
 */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(value);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (UNITS[(match[2] ?? 'ms').toLowerCase()] ?? 1));
}

/** Parses a size: a number of bytes, or a string such as `512kb`, `10mb` or `1gb` (binary units). */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as 500ms, 1s, 2m or a number of milliseconds, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a size such as 512kb, 10mb or a number of bytes, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return bytes;
});

const secret = z.string().transform((value) => new Secret(value));
// Values that came from ${ENV} are strings: numbers and booleans written as text are accepted too.
const numeric = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v), schema);
const bool = () => z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const positiveInt = numeric(z.number().int().positive());
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

const timeoutSchema = z.strictObject({
  /** Limit for the whole call, retries included. */
  total: duration.optional(),
  /** Limit for one attempt, until response headers. */
  attempt: duration.optional(),
});

const retrySchema = z.union([
  z.literal(false),
  z.strictObject({
    retries: numeric(z.number().int().min(0).max(20)).optional(),
    baseDelay: duration.optional(),
    maxDelay: duration.optional(),
    maxRetryAfter: duration.optional(),
    idempotencyKey: z.union([bool(), z.string()]).optional(),
  }),
]);

const breakerSchema = z.union([
  z.literal(false),
  z.strictObject({
    failureRatio: numeric(z.number().gt(0).max(1)).optional(),
    minimumCalls: positiveInt.optional(),
    consecutiveFailures: numeric(z.number().int().min(0)).optional(),
    window: duration.optional(),
    openDuration: duration.optional(),
    halfOpenProbes: positiveInt.optional(),
  }),
]);

const rateLimitSchema = z.strictObject({
  limit: positiveInt,
  window: duration,
  burst: positiveInt.optional(),
  strategy: z.enum(['queue', 'drop', 'raise']).optional(),
  queueSize: numeric(z.number().int().min(0)).optional(),
  maxWait: duration.optional(),
  keyBy: z.enum(['host', 'shared']).optional(),
});

const bulkheadSchema = z.strictObject({
  maxConcurrent: positiveInt,
  queueSize: numeric(z.number().int().min(0)).optional(),
  queueTimeout: duration.optional(),
});

const authSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('oauth2'),
    tokenUrl: httpUrl,
    clientId: z.string().min(1),
    clientSecret: secret,
    scopes: z.array(z.string()).optional(),
    audience: z.string().optional(),
    /** Where the client credentials go: HTTP basic auth (default) or the form body. */
    credentials: z.enum(['basic', 'body']).optional(),
  }),
  z.strictObject({ type: z.literal('bearer'), token: secret }),
  z.strictObject({
    type: z.literal('header'),
    name: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected an HTTP header name'),
    value: secret,
  }),
]);

const httpSchema = z.strictObject({
  connections: positiveInt.optional(),
  keepAliveTimeout: duration.optional(),
  connectTimeout: duration.optional(),
  headersTimeout: duration.optional(),
  bodyTimeout: duration.optional(),
  http2: bool().optional(),
  rejectUnauthorized: bool().optional(),
});

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
  headers: z.record(z.string(), z.string()).optional(),
  timeout: timeoutSchema.optional(),
  retry: retrySchema.optional(),
  circuitBreaker: breakerSchema.optional(),
  rateLimit: rateLimitSchema.optional(),
  bulkhead: bulkheadSchema.optional(),
  auth: authSchema.optional(),
  http: httpSchema.optional(),
  maxBodySize: size.optional(),
  responseHeaders: responseHeadersSchema.default({ remove: ['server', 'x-powered-by'], location: 'rewrite' }),
});

const apiKeySchema = z.strictObject({
  name: z.string().min(1),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/i, 'expected the SHA-256 of the key as 64 hex characters (never the key itself)')
    .transform((h) => h.toLowerCase()),
});

const storeCommon = {
  keyPrefix: z.string().optional(),
  encryptionKeys: z.array(secret).nonempty().optional(),
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
  z.strictObject({ type: z.literal('redis'), url: secret.optional(), ...storeCommon }),
  z.strictObject({ type: z.literal('postgres'), url: secret, table: z.string().optional(), ...storeCommon }),
  z.strictObject({ type: z.literal('mysql'), url: secret, table: z.string().optional(), ...storeCommon }),
  z.strictObject({ type: z.literal('memcached'), url: z.string().optional(), ...storeCommon }),
]);

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;
const RESERVED = new Set(['metrics', 'health', 'ready', 'status', 'status.json', 'favicon.ico']);

/** The zod schema of a gateway configuration (after `${ENV}` interpolation). */
export const gatewayConfigSchema = z.strictObject({
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
      headersTimeout: duration.default(10_000),
      requestTimeout: duration.default(300_000),
      keepAliveTimeout: duration.default(5_000),
    })
    .default({
      bodySize: 10 * 1024 * 1024,
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
    }),
  inbound: z
    .strictObject({
      apiKeys: z.array(apiKeySchema).optional(),
      apiKeyHeader: z
        .string()
        .transform((h) => h.toLowerCase())
        .default('x-api-key'),
      protectOperations: bool().default(false),
      rateLimit: z
        .strictObject({
          limit: positiveInt,
          window: duration,
          burst: positiveInt.optional(),
          by: z.enum(['global', 'ip', 'key']).default('ip'),
        })
        .optional(),
    })
    .default({ apiKeyHeader: 'x-api-key', protectOperations: false }),
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
  status: z
    .strictObject({ enabled: bool().default(true), refresh: duration.default(5_000) })
    .default({ enabled: true, refresh: 5_000 }),
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
        issues.push({ path: path.join('.'), message: `"\${${inner}}" is not a valid variable reference` });
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
  const interpolated = interpolateEnv(input ?? {}, options.env ?? process.env, issues);
  const result = gatewayConfigSchema.safeParse(interpolated);
  if (!result.success) {
    for (const issue of result.error.issues) issues.push(...describeIssue(issue));
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
        message: `the attempt timeout (${t.attempt} ms) exceeds the total timeout (${t.total} ms)`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, options.file);
  return config;
}

/** Parses configuration text: JSON when it looks like JSON or `format` says so, YAML otherwise. */
export function parseGatewayConfigText(
  text: string,
  options: ParseConfigOptions & { readonly format?: 'yaml' | 'json' } = {},
): GatewayConfig {
  let data: unknown;
  const format = options.format ?? (text.trimStart().startsWith('{') ? 'json' : 'yaml');
  try {
    data = format === 'json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError(
      [{ path: '', message: `not valid ${format.toUpperCase()}: ${(error as Error).message}` }],
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

type ZodIssue = z.core.$ZodIssue;

function describeIssue(issue: ZodIssue, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const path = [...prefix, ...issue.path].map(String);
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // Explain the branch that got furthest: the one whose problems are not just "wrong type here".
    const rootMismatch = (i: ZodIssue) =>
      i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value');
    const branch = issue.errors.find((list) => !list.some(rootMismatch));
    if (branch) return branch.flatMap((i) => describeIssue(i, [...prefix, ...issue.path]));
    const expected = issue.errors.map((list) => {
      const i = list[0];
      if (i?.code === 'invalid_type') return i.expected;
      if (i?.code === 'invalid_value') return i.values.map((v) => JSON.stringify(v)).join(' | ');
      return 'another value';
    });
    return [{ path: path.join('.'), message: `expected ${expected.join(' or ')}` }];
  }
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(gatewayConfigSchema, path);
    return issue.keys.map((key) => {
      const hint = suggest(key, known);
      return {
        path: [...path, key].join('.'),
        message: `unknown key${hint ? `; did you mean "${hint}"?` : ''}${known.length > 0 && !hint ? ` (allowed: ${known.join(', ')})` : ''}`,
      };
    });
  }
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    return [{ path: path.join('.'), message: `required (${issue.expected})` }];
  }
  return [{ path: path.join('.'), message: issue.message.replace(/^Invalid input: /, '') }];
}

interface Def {
  readonly type: string;
  readonly innerType?: Schema;
  readonly in?: Schema;
  readonly valueType?: Schema;
  readonly options?: readonly Schema[];
  readonly shape?: Record<string, Schema>;
}
interface Schema {
  readonly _zod: { readonly def: Def };
}

/** The keys a (possibly wrapped) object schema allows at `path`. */
function knownKeys(schema: Schema, path: readonly string[]): string[] {
  const candidates = resolve(schema, path);
  const keys = new Set<string>();
  for (const c of candidates) for (const k of Object.keys(c._zod.def.shape ?? {})) keys.add(k);
  return [...keys];
}

function unwrap(schema: Schema): Schema[] {
  const def = schema._zod.def;
  if (def.innerType) return unwrap(def.innerType);
  if (def.type === 'pipe' && def.in) return unwrap(def.in);
  if (def.options) return def.options.flatMap(unwrap);
  return [schema];
}

function resolve(schema: Schema, path: readonly string[]): Schema[] {
  let current = unwrap(schema);
  for (const segment of path) {
    const next: Schema[] = [];
    for (const s of current) {
      const def = s._zod.def;
      if (def.shape?.[segment]) next.push(...unwrap(def.shape[segment]));
      else if (def.valueType) next.push(...unwrap(def.valueType));
      else if (def.type === 'array' && 'element' in def)
        next.push(...unwrap((def as { element: Schema }).element));
    }
    current = next;
  }
  return current;
}

/** The closest known key within edit distance 2 (or a case-insensitive match), if any. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0 : distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
