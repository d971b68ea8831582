/**
 * The gateway's upstreams: each configured upstream turned into a library client (policies, auth, pool) and
 * the facts the request path needs about it (where it lives, its configured headers and allowed paths).
 */
// Static credentials are the library's own auth policies; they need no optional module.
import { bearerAuth, headerAuth } from '../auth/static.js';
import { type Client, createClient } from '../client/client.js';
import type { ClientOptions } from '../client/options.js';
import type { ClientState } from '../client/state.js';
import { isInvalidOptionError } from '../core/errors.js';
import { defaultRedactor, Redactor } from '../core/redact.js';
import { mergeHeaders } from '../core/request.js';
import type { Policy } from '../core/types.js';
import { splitUrl } from '../core/url.js';
import type { LimitStoreOptions } from '../limits/redis-limiter.js';
import { type Logger, logClientEvents } from '../observability/logging.js';
import type { Metrics } from '../observability/metrics.js';
import type { CircuitBreakerPolicy } from '../policies/circuit-breaker.js';
import type { HttpTransportOptions } from '../transport/undici.js';
import { ConfigError, type ConfigIssue, type UpstreamConfig } from './config.js';
import { compilePathPattern } from './path-safety.js';
import { sharedLimitOptions, withoutShared } from './shared-limits.js';
import { sanitizeStatus, type UpstreamAction, type UpstreamStatus } from './status-model.js';
import { LiveRecorder } from './status-recorder.js';
import { inboundKey, upstreamFailure } from './upstream-health.js';
import type { StandardPoliciesOptions, UpstreamAuth, Wiring } from './wiring.js';

/** What {@link upstreamClientOptions} builds for one upstream. */
export interface UpstreamWiring {
  /** Options for `createClient`. */
  readonly options: ClientOptions;
  /** The auth step, when the upstream has auth. */
  readonly auth: UpstreamAuth | undefined;
  /** Policies that can describe themselves (breaker, limiter, bulkhead), by policy name (the metrics read them). */
  readonly snapshots: ReadonlyMap<string, () => unknown>;
}

/**
 * The bulkhead every upstream gets unless it says `bulkhead: false` (issue 12, item 7): without one, a stuck
 * upstream collects every caller's requests until memory and sockets run out, and one caller's flood delays
 * everyone else's calls to that upstream. Its queue is fair per inbound key (the API key's name, else the client
 * address), so a flood waits behind itself.
 */
export const GATEWAY_BULKHEAD = Object.freeze({
  /** @default 256: above the default pool (`http.connections`, 128), so it binds only when the upstream is stuck */
  maxConcurrent: 256,
  /** @default 64 per inbound key: a burst from one caller waits; a flood beyond it is that caller's 429 */
  queueSize: 64,
  /** @default 10s: a call that waited that long for a stuck upstream is better answered 503 so the caller backs off */
  queueTimeout: 10_000,
});

/** Extra inputs for building an upstream's client. */
export interface UpstreamDeps {
  /** The token store for OAuth2 upstreams. */
  readonly store?: unknown;
  /** The gateway's Redis connection options, for `rateLimit.shared` (absent: limits stay per replica). */
  readonly limitStore?: LimitStoreOptions | undefined;
  /** Where a shared limit logs its transitions. */
  readonly logger?: Logger | undefined;
  /** Where a shared limit reports whether its Redis is up. */
  readonly metrics?: Metrics | undefined;
}

type Defined<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/** A copy without undefined values (for `exactOptionalPropertyTypes` targets). */
function defined<T extends object>(value: T): Defined<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as Defined<T>;
}

/**
 * Turns one upstream's configuration into `createClient` options: base URL, pool settings, timeouts, the
 * standard policies (when the policies module is present) and auth. Throws a {@link ConfigError} naming the
 * key when the configuration asks for something this build lacks.
 */
export function upstreamClientOptions(
  name: string,
  config: UpstreamConfig,
  wiring: Wiring,
  deps: UpstreamDeps = {},
): UpstreamWiring {
  const issues: ConfigIssue[] = [];
  const at = (key: string) => `upstreams.${name}.${key}`;

  let auth: UpstreamAuth | undefined;
  const a = config.auth;
  if (a?.type === 'bearer') {
    auth = { policy: bearerAuth(a.token) };
  } else if (a?.type === 'header') {
    auth = { policy: headerAuth(a.name, a.value) };
  } else if (a?.type === 'oauth2') {
    if (!wiring.auth) {
      issues.push({
        path: at('auth'),
        message: 'OAuth2 needs the reqforge auth module, which this build lacks',
      });
    } else {
      auth = wiring.auth.gatewayOAuth2(
        defined({
          tokenUrl: a.tokenUrl,
          issuer: a.issuer,
          clientId: a.clientId,
          clientSecret: a.clientSecret.reveal(),
          scopes: a.scopes,
          audience: a.audience,
          resource: a.resource,
          credentials: a.credentials,
        }),
        { store: deps.store, name },
      );
    }
  }

  const timeout = config.timeout
    ? defined({ total: config.timeout.total, attempt: config.timeout.attempt })
    : undefined;
  if (issues.length > 0) throw new ConfigError(issues);
  const policies: Policy[] = wiring.policies.standardPolicies(
    defined({
      timeout,
      retry: config.retry === false ? false : config.retry && defined({ ...config.retry }),
      // Only what the upstream did counts against its breaker (see upstream-health.ts).
      circuitBreaker:
        config.circuitBreaker === false
          ? false
          : { ...defined({ ...config.circuitBreaker }), isFailure: upstreamFailure },
      rateLimit: config.rateLimit && {
        ...defined({ ...withoutShared(config.rateLimit) }),
        ...sharedLimitOptions(`up:${name}`, config.rateLimit, deps.limitStore, deps),
      },
      bulkhead:
        config.bulkhead === false
          ? false
          : { ...GATEWAY_BULKHEAD, ...defined({ ...config.bulkhead }), keyBy: inboundKey },
      auth: auth?.policy,
      // Never follow: an upstream's Location must not become a way to reach other hosts through the gateway.
      redirect: false,
    }) as StandardPoliciesOptions,
  );

  const snapshots = new Map<string, () => unknown>();
  for (const policy of policies) {
    const snap = (policy as { snapshot?: unknown }).snapshot;
    if (typeof snap === 'function') snapshots.set(policy.name, () => snap.call(policy));
  }

  const h = config.http;
  const http: HttpTransportOptions = defined({
    connections: h?.connections,
    pipelining: h?.pipelining,
    keepAliveTimeout: h?.keepAliveTimeout,
    connectTimeout: h?.connectTimeout,
    headersTimeout: h?.headersTimeout,
    bodyTimeout: h?.bodyTimeout,
    http2: h?.http2,
    tls: h?.rejectUnauthorized === undefined ? undefined : { rejectUnauthorized: h.rejectUnauthorized },
  });

  const options: ClientOptions = {
    baseUrl: config.baseUrl,
    name,
    // The gateway sends prepared requests (`client.send`): client default headers never apply.
    policies,
    throwHttpErrors: false,
    // Bodies are relayed as they came: the caller's own Accept-Encoding goes upstream and nothing is decoded.
    decompress: false,
    http,
    ...(config.usage !== undefined && {
      usage: typeof config.usage === 'boolean' ? config.usage : defined({ ...config.usage }),
    }),
    // A custom auth header is a credential: redact it in errors and logs like the built-in secret headers.
    ...(a?.type === 'header' && { redact: { headers: [a.name] } }),
  };
  return { options, auth, snapshots };
}

/** One configured upstream at run time. */
export interface GatewayUpstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly client: Client;
  readonly auth: UpstreamAuth | undefined;
  /** Its status row (safe to show). */
  status(): UpstreamStatus;
}

/** What the request path needs about one upstream, computed once at start. */
export interface UpstreamRuntime extends GatewayUpstream {
  /** Scheme, host and port of `baseUrl`. */
  readonly origin: string;
  /** The path of `baseUrl` without a trailing slash (`''` for the root). */
  readonly basePath: string;
  /** The configured `headers:`, lower-cased and checked. */
  readonly headers: Readonly<Record<string, string>>;
  /** Compiled `paths:` patterns, undefined when every path is allowed. */
  readonly patterns: readonly RegExp[] | undefined;
  /** The body limit: `maxBodySize`, else the gateway's `limits.bodySize`. */
  readonly bodyLimit: number;
  /** How requests to this upstream are shown in errors and logs. */
  readonly redactor: Redactor;
  /** Response headers removed before relaying (`responseHeaders.remove`). */
  readonly responseRemove: ReadonlySet<string>;
  /** Whether an absolute `Location` is rewritten to the gateway path or dropped (`responseHeaders.location`). */
  readonly rewriteLocation: boolean;
  /** Largest body buffered so a retryable request can be retried: `retryBodySize`, else `limits.retryBodySize`. */
  readonly retryBodySize: number;
  /** Counters for the status page. */
  readonly stats: { requests: number; inFlight: number };
  /** The upstream's circuit breaker policy (for the status page's reset action), when it has one. */
  readonly breaker: CircuitBreakerPolicy | undefined;
  /** The status page's live numbers (outcomes by class, retries, latencies), fed once per request. */
  readonly live: LiveRecorder;
}

/** Inputs of {@link createUpstream} besides the upstream's own configuration. */
export interface CreateUpstreamDeps extends UpstreamDeps {
  readonly wiring: Wiring;
  /** The gateway's `limits.bodySize`. */
  readonly bodySize: number;
  /** The gateway's `limits.retryBodySize`. */
  readonly retryBodySize: number;
  readonly metrics?: Metrics | undefined;
  /** Whether upstream calls are traced (`tracing.enabled` in the config): their spans are children of the server span. */
  readonly tracing?: boolean | undefined;
  /** Extra facts for the status row (see `GatewayOptions.status`). */
  readonly extraStatus?: ((upstream: string) => unknown) | undefined;
}

/**
 * Builds one upstream: its client (instrumented when metrics are on) and the facts the request path uses.
 * Configuration problems are thrown as a {@link ConfigError} naming `upstreams.<name>.<key>`.
 */
export function createUpstream(
  name: string,
  config: UpstreamConfig,
  deps: CreateUpstreamDeps,
): UpstreamRuntime {
  let built: UpstreamWiring;
  let headers: Record<string, string>;
  let origin: string;
  let basePath: string;
  try {
    built = upstreamClientOptions(name, config, deps.wiring, {
      store: deps.store,
      limitStore: deps.limitStore,
      logger: deps.logger,
      metrics: deps.metrics,
    });
    headers = configuredHeaders(name, config);
    ({ origin, path: basePath } = splitUrl(config.baseUrl, 'baseUrl'));
  } catch (error) {
    if (isInvalidOptionError(error)) {
      throw new ConfigError([{ path: `upstreams.${name}.${error.option}`, message: error.message }]);
    }
    throw error;
  }
  const q = basePath.indexOf('?');
  if (q !== -1) basePath = basePath.slice(0, q);
  if (basePath.endsWith('/')) basePath = basePath.slice(0, -1);
  const client = createClient(deps.tracing ? { ...built.options, tracing: true } : built.options);
  const { auth, snapshots } = built;
  const metrics = deps.metrics;
  // One line per breaker transition and per token refresh failure, sampled refusals; the store's outages are
  // logged once each by StoreHealth, and calls by the access log.
  if (deps.logger) {
    logClientEvents(client, deps.logger, { calls: false, storeErrors: false, fields: { upstream: name } });
  }
  if (metrics) {
    metrics.instrument(client, { upstream: name });
    auth?.onTokenEvent?.((e) => {
      if (e.kind === 'storeError')
        metrics.recordStoreError(e.store ?? 'unknown', e.operation ?? 'unknown', name);
      else metrics.recordToken(e.kind as 'hit' | 'fetch' | 'refresh' | 'error', name);
    });
    const limiter = snapshots.get('rateLimit');
    if (limiter) metrics.trackLimiter(name, { snapshot: limiter }, name);
  }
  const stats = { requests: 0, inFlight: 0 };
  const live = new LiveRecorder();
  // Only a retry emits this event: a request that is not retried pays nothing for it.
  client.events.on('retry', () => live.retry());
  const breaker = built.options.policies?.find((p) => p.name === 'circuitBreaker') as
    | CircuitBreakerPolicy
    | undefined;
  const actions: UpstreamAction[] = [];
  if (breaker) actions.push('reset-breaker');
  if (auth?.refresh) actions.push('refresh-token');
  const extraStatus = deps.extraStatus;
  const status = (): UpstreamStatus => {
    // The library's own state: the same shape as `client.state()`, through the same sanitiser as every status fact.
    let state: ClientState;
    try {
      state = sanitizeStatus(client.state()) as ClientState;
    } catch (error) {
      state = unavailableState(error);
    }
    let extra: unknown;
    try {
      extra = extraStatus ? sanitizeStatus(extraStatus(name)) : undefined;
    } catch {
      extra = 'unavailable';
    }
    const summary = live.summary();
    const t = summary.totals;
    return {
      name,
      baseUrl: defaultRedactor.url(config.baseUrl),
      requests: stats.requests,
      errors: t.clientError + t.serverError + t.network + t.refused,
      inFlight: stats.inFlight,
      live: summary,
      actions,
      state,
      ...(auth?.status && { auth: sanitizeStatus(auth.status()) }),
      ...(extra !== undefined && { extra }),
    };
  };
  return {
    name,
    config,
    client,
    auth,
    status,
    origin,
    basePath: basePath === '/' ? '' : basePath,
    headers,
    patterns: config.paths?.map(compilePathPattern),
    bodyLimit: config.maxBodySize ?? deps.bodySize,
    redactor: new Redactor(built.options.redact),
    responseRemove: new Set(config.responseHeaders.remove),
    rewriteLocation: config.responseHeaders.location === 'rewrite',
    retryBodySize: config.retryBodySize ?? deps.retryBodySize,
    stats,
    live,
    breaker,
  };
}

/** The configured `headers:` as a lower-cased record; a bad name or a value with CR/LF is a config error. */
function configuredHeaders(name: string, config: UpstreamConfig): Record<string, string> {
  try {
    return mergeHeaders({}, config.headers);
  } catch (error) {
    throw new ConfigError([{ path: `upstreams.${name}.headers`, message: (error as Error).message }]);
  }
}

/** The state shown when reading it failed: every policy off, and why (cut short). */
function unavailableState(error: unknown): ClientState {
  const off = { enabled: false as const };
  return {
    circuitBreaker: { enabled: false, state: 'disabled', breakers: [] },
    rateLimit: off,
    bulkhead: off,
    retryBudget: off,
    usage: off,
    unavailable: String((error as Error)?.message).slice(0, 100),
  } as ClientState;
}
