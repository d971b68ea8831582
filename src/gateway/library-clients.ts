/**
 * Library clients from the gateway's configuration file: the same file, schema, `${ENV}` interpolation, `defaults:`
 * block and error messages as `reqforge gateway` and `reqforge check`, turned into `createClient` clients for code
 * that calls the upstreams itself (PyFly's `pyfly.client.*` YAML, for TypeScript).
 */

import { clientCredentials } from '../auth/oauth2.js';
import { tokenAuth } from '../auth/policy.js';
import { bearerAuth, headerAuth } from '../auth/static.js';
import { TokenManager } from '../auth/token-manager.js';
import { type Client, createClient } from '../client/client.js';
import type { ClientOptions } from '../client/options.js';
import { InvalidOptionError, isInvalidOptionError } from '../core/errors.js';
import { suggest } from '../core/options/index.js';
import { fingerprint } from '../core/secret.js';
import type { Policy } from '../core/types.js';
import type { TokenStore } from '../stores/types.js';
import {
  ConfigError,
  type GatewayConfig,
  loadGatewayConfig,
  type ParseConfigOptions,
  type UpstreamConfig,
} from './config.js';
import { GATEWAY_BULKHEAD, upstreamClientOptions } from './upstreams.js';
import { loadWiring } from './wiring.js';

/** Options of {@link loadClients} and {@link clientsFromConfig}. */
export interface LoadClientsOptions<N extends string = string> extends Omit<ParseConfigOptions, 'file'> {
  /**
   * The upstreams the program needs: each must be in the file (an error names the missing ones, with a
   * did-you-mean), and only these get a client. By default every upstream gets one.
   */
  readonly upstreams?: readonly N[];
  /** A token store for OAuth2 upstreams instead of the file's `store:` (which is opened otherwise). */
  readonly store?: TokenStore;
  /** Client options set on every client after the file's (a test's `transport` or `clock`, `hooks`, …). */
  readonly client?: Omit<ClientOptions, 'baseUrl' | 'policies' | 'auth'>;
}

/** The clients built from a configuration, by upstream name. */
export interface ConfiguredClients<N extends string = string> {
  /** The validated configuration (secrets wrapped in `Secret`). */
  readonly config: GatewayConfig;
  /** One client per upstream. */
  readonly clients: Readonly<Record<N, Client>>;
  /** The client of one upstream; an unknown name is refused with a did-you-mean. */
  client(name: N): Client;
  /**
   * The TokenManager an OAuth2 upstream's client uses: shared by every upstream with the same token endpoint, client
   * id and secret (one token per client id, as in a session), so `tokenManager(name).getTokenInfo()` reads it.
   */
  tokenManager(name: N): TokenManager | undefined;
  /** Closes every client, token manager and the store this opened. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Reads a gateway configuration file (YAML or JSON) and builds a library client per upstream: base URL, headers,
 * timeouts, retry, circuit breaker, rate limit, bulkhead, HTTP pool settings and auth (static or OAuth2 client
 * credentials), each upstream inheriting `defaults:` field by field. The gateway-only keys (`methods`, `paths`,
 * `responseHeaders`, `retryBodySize`) shape what the gateway forwards and are not used here. Errors are the
 * {@link ConfigError}s of `reqforge check`, naming the file and every offending key.
 *
 * @example
 * const { clients, close } = await loadClients('reqforge.yaml', { upstreams: ['petstore'] });
 * const pets = await clients.petstore.get('/pets').json();
 */
export async function loadClients<const N extends string = string>(
  file: string,
  options: LoadClientsOptions<N> = {},
): Promise<ConfiguredClients<N>> {
  const { upstreams: _u, store: _s, client: _c, ...parse } = options;
  const config = await loadGatewayConfig(file, parse);
  return clientsFromConfig(config, options, file);
}

/** {@link loadClients} for a configuration already validated (`parseGatewayConfig`, `loadGatewayConfig`). */
export async function clientsFromConfig<const N extends string = string>(
  config: GatewayConfig,
  options: LoadClientsOptions<N> = {},
  file?: string,
): Promise<ConfiguredClients<N>> {
  const names = (options.upstreams ?? Object.keys(config.upstreams)) as readonly N[];
  const missing = names.filter((n) => !(n in config.upstreams));
  if (missing.length > 0) {
    const known = Object.keys(config.upstreams);
    throw new ConfigError(
      missing.map((n) => {
        const near = suggest(n, known);
        return {
          path: `upstreams.${n}`,
          message: `not configured${near ? `; did you mean "${near}"?` : ''}`,
        };
      }),
      file,
    );
  }
  // The same checks `reqforge check` runs, so the same configuration fails with the same message.
  const wiring = await loadWiring();
  for (const name of names) {
    await guard(name, file, async () => {
      await upstreamClientOptions(name, config.upstreams[name]!, wiring).auth?.close?.();
    });
  }
  const opened = options.store === undefined ? await openConfiguredStore(config) : undefined;
  const store = options.store ?? opened;
  const managers = new Map<string, TokenManager>();
  const byUpstream = new Map<string, TokenManager>();
  const clients = {} as Record<N, Client>;
  try {
    for (const name of names) {
      const upstream = config.upstreams[name]!;
      await guard(name, file, () => {
        const auth = authPolicy(upstream, store, managers, (m) => byUpstream.set(name, m));
        clients[name] = createClient({ ...libraryOptions(name, upstream, auth), ...options.client });
      });
    }
  } catch (error) {
    await closeAll(Object.values(clients), managers, opened);
    throw error;
  }
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= closeAll(Object.values(clients), managers, opened);
    return closed;
  };
  return {
    config,
    clients,
    client(name) {
      const found = clients[name];
      if (found) return found;
      const near = suggest(String(name), Object.keys(clients));
      throw new InvalidOptionError(
        'upstream',
        `no client named "${String(name)}"${near ? `; did you mean "${near}"?` : ''}`,
      );
    },
    tokenManager: (name) => byUpstream.get(name),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Runs `build`, turning an option error into the ConfigError `reqforge check` shows for it. */
async function guard(name: string, file: string | undefined, build: () => unknown): Promise<void> {
  try {
    await build();
  } catch (error) {
    if (isInvalidOptionError(error)) {
      throw new ConfigError([{ path: `upstreams.${name}.${error.option}`, message: error.message }], file);
    }
    throw error;
  }
}

async function openConfiguredStore(config: GatewayConfig): Promise<TokenStore | undefined> {
  const needsStore = Object.values(config.upstreams).some((u) => u.auth?.type === 'oauth2');
  if (config.store.type === 'memory' || !needsStore) return undefined;
  const { createTokenStore } = await import('../stores/connect.js');
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config.store)) {
    raw[k] = Array.isArray(v)
      ? v.map((x) => (typeof x === 'object' && x && 'reveal' in x ? x.reveal() : x))
      : v;
  }
  try {
    return await createTokenStore(raw as never);
  } catch (error) {
    if (isInvalidOptionError(error)) {
      throw new ConfigError([{ path: `store.${error.option}`, message: error.message }]);
    }
    throw error;
  }
}

/** The upstream's credentials as an auth policy; OAuth2 upstreams of one client share one TokenManager. */
function authPolicy(
  upstream: UpstreamConfig,
  store: TokenStore | undefined,
  managers: Map<string, TokenManager>,
  used: (manager: TokenManager) => void,
): Policy | undefined {
  const a = upstream.auth;
  if (a === undefined) return undefined;
  if (a.type === 'bearer') return bearerAuth(a.token);
  if (a.type === 'header') return headerAuth(a.name, a.value);
  const authMethod =
    a.credentials === undefined
      ? undefined
      : a.credentials === 'body'
        ? 'client_secret_post'
        : 'client_secret_basic';
  const endpoint = a.issuer !== undefined ? { issuer: a.issuer } : { tokenUrl: a.tokenUrl as string };
  const key = [a.issuer ?? a.tokenUrl, a.clientId, authMethod, fingerprint(a.clientSecret.reveal())].join(
    '\n',
  );
  let manager = managers.get(key);
  if (!manager) {
    const provider = clientCredentials({
      ...endpoint,
      clientId: a.clientId,
      clientSecret: a.clientSecret,
      ...(authMethod && { authMethod }),
    });
    manager = new TokenManager({ provider, ...(store && { store }) });
    managers.set(key, manager);
  }
  used(manager);
  return tokenAuth(manager, {
    request: {
      ...(a.scopes && { scopes: a.scopes }),
      ...(a.audience && { audience: a.audience }),
      ...(a.resource && { resource: a.resource }),
    },
  });
}

/** A copy without undefined values. */
function defined<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** The library options of one upstream: the preset policies from its settings, the pool settings, its auth. */
export function libraryOptions(name: string, u: UpstreamConfig, auth: Policy | undefined): ClientOptions {
  const h = u.http;
  const bulkhead =
    u.bulkhead === undefined || u.bulkhead === false
      ? u.bulkhead
      : defined({
          maxConcurrent: u.bulkhead.maxConcurrent ?? GATEWAY_BULKHEAD.maxConcurrent,
          queueSize: u.bulkhead.queueSize,
          queueTimeout: u.bulkhead.queueTimeout,
        });
  return defined<Record<string, unknown>>({
    name,
    baseUrl: u.baseUrl,
    headers: u.headers,
    timeout: u.timeout && defined({ ...u.timeout }),
    retry: u.retry === false ? false : u.retry && defined({ ...u.retry }),
    circuitBreaker: u.circuitBreaker === false ? false : u.circuitBreaker && defined({ ...u.circuitBreaker }),
    rateLimit: u.rateLimit && defined({ ...u.rateLimit }),
    bulkhead,
    maxBodySize: u.maxBodySize,
    http: h
      ? defined({
          connections: h.connections,
          pipelining: h.pipelining,
          keepAliveTimeout: h.keepAliveTimeout,
          connectTimeout: h.connectTimeout,
          headersTimeout: h.headersTimeout,
          bodyTimeout: h.bodyTimeout,
          http2: h.http2,
          tls: h.rejectUnauthorized === undefined ? undefined : { rejectUnauthorized: h.rejectUnauthorized },
        })
      : undefined,
    auth,
    // A custom auth header is a credential: redact it in errors and logs like the built-in secret headers.
    redact: u.auth?.type === 'header' ? { headers: [u.auth.name] } : undefined,
  }) as ClientOptions;
}

async function closeAll(
  clients: readonly Client[],
  managers: ReadonlyMap<string, TokenManager>,
  store: TokenStore | undefined,
): Promise<void> {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled([...managers.values()].map((m) => m.close()));
  await store?.close?.();
}
