import type { ClientOptions } from '../client/options.js';
import { reveal } from '../core/secret.js';
import type { Policy } from '../core/types.js';
import type { HttpTransportOptions } from '../transport/undici.js';
import { ConfigError, type ConfigIssue, type UpstreamConfig } from './config.js';
import type { StandardPoliciesOptions, UpstreamAuth, Wiring } from './wiring.js';

/** What {@link upstreamClientOptions} builds for one upstream. */
export interface UpstreamWiring {
  /** Options for `createClient`. */
  readonly options: ClientOptions;
  /** The auth step, when the upstream has auth. */
  readonly auth: UpstreamAuth | undefined;
  /** Policies that can describe themselves (breaker, limiter, bulkhead, usage), by policy name. */
  readonly snapshots: ReadonlyMap<string, () => unknown>;
}

/** Extra inputs for building an upstream's client. */
export interface UpstreamDeps {
  /** The token store for OAuth2 upstreams. */
  readonly store?: unknown;
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

/** A policy that sets one header on every attempt (static bearer tokens and API keys). */
function staticHeader(name: string, value: () => string): Policy {
  return {
    name: 'auth',
    wrap: (next) => (request, ctx) => next(request.withHeaders({ [name]: value() }), ctx),
  };
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
    auth = { policy: staticHeader('authorization', () => `Bearer ${reveal(a.token)}`) };
  } else if (a?.type === 'header') {
    auth = { policy: staticHeader(a.name.toLowerCase(), () => reveal(a.value)) };
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
      circuitBreaker:
        config.circuitBreaker === false
          ? false
          : config.circuitBreaker && defined({ ...config.circuitBreaker }),
      rateLimit: config.rateLimit && defined({ ...config.rateLimit }),
      bulkhead: config.bulkhead && defined({ ...config.bulkhead }),
      auth: auth?.policy,
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
    // Forward the caller's headers as they are: no client defaults for user-agent or accept.
    headers: { 'user-agent': null, accept: null, ...config.headers },
    policies,
    throwHttpErrors: false,
    http,
    // A custom auth header is a credential: redact it in errors and logs like the built-in secret headers.
    ...(a?.type === 'header' && { redact: { headers: [a.name] } }),
  };
  return { options, auth, snapshots };
}
