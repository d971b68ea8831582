import { type Client, createClient } from '../client/client.js';
import type { ClientOptions } from '../client/options.js';
import { PRESET_OPTIONS } from '../client/schema.js';
import type { ClientState, UsageState } from '../client/state.js';
import type { Clock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import { parseOptions } from '../core/options/index.js';
import { isSecret, type Secret } from '../core/secret.js';
import type { Policy } from '../core/types.js';
import type { RateLimitOptions } from '../policies/rate-limit.js';
import type { UsageOption } from '../policies/usage.js';
import type { TokenStore } from '../stores/types.js';
import { type ClientAuthMethod, clientCredentials } from './oauth2.js';
import { tokenAuth } from './policy.js';
import {
  sessionClientEntrySchema,
  sessionClientOverridesSchema,
  sessionOptionsSchema,
} from './session-schema.js';
import { mergeSettings, type SessionClientSettings, SessionLimits } from './session-settings.js';
import { type SessionUsage, SessionUsageTrackers } from './session-usage.js';
import type { Token } from './token.js';
import { relayTokenEvents, type TokenHubEvents } from './token-events.js';
import { TokenManager, type TokenManagerOptions } from './token-manager.js';
import type { TokenInfo, TokenProvider, TokenRequest } from './types.js';
import { describe, urlOption } from './validate.js';

export type { SessionClientSettings } from './session-settings.js';

/** The credentials of one OAuth2 client in a session, and what its tokens are for by default. */
export interface SessionClientCredentials {
  /** The client secret. Kept as a {@link Secret}. */
  readonly clientSecret: string | Secret;
  /** @default 'client_secret_basic' (with an `issuer`: the first of basic and post its metadata lists) */
  readonly authMethod?: ClientAuthMethod;
  /** Scopes asked for when a service or `getToken()` names none. Part of the token's identity. */
  readonly scopes?: readonly string[];
  /** Audience (Auth0's `audience` form field) asked for when a service names none. */
  readonly audience?: string;
  /** RFC 8707 resource indicator(s) asked for when a service names none (Okta, Keycloak, Azure AD v1). */
  readonly resource?: string | readonly string[];
  /** Extra form fields of every token request of this client id; part of the token's identity (hashed). */
  readonly extraParams?: Readonly<Record<string, string>>;
}

/** A service a session talks to: client options plus which client id's token it uses. */
export interface SessionServiceOptions extends Omit<ClientOptions, 'policies' | 'name' | 'auth'> {
  /** The service's base URL. */
  readonly baseUrl: string;
  /** The client id whose token this service uses; the session's default when omitted. */
  readonly clientId?: string;
  /** Scopes to ask for (they are part of the token's cache key). */
  readonly scopes?: readonly string[];
  /** Audience to ask for. */
  readonly audience?: string;
  /** RFC 8707 resource indicator(s) to ask for (part of the token's cache key). */
  readonly resource?: string | readonly string[];
  /** Replaces the session-wide policies for this service. */
  readonly policies?: readonly Policy[];
}

/** Per-client overrides of {@link Session.client}. */
export interface SessionClientOverrides extends Omit<ClientOptions, 'policies' | 'baseUrl' | 'auth'> {
  /** Use another client id's token than the service's default. */
  readonly clientId?: string;
  /** Replaces the service's (or the session's) policies for this client. */
  readonly policies?: readonly Policy[];
}

/**
 * Options of {@link createSession}. The client settings (`timeout`, `retry`, `circuitBreaker`, `rateLimit`,
 * `bulkhead`, `headers`, …) apply to every client of the session; a service and `session.client()` override them
 * field by field. The session's `rateLimit` is one bucket shared by every client that does not override it.
 */
export interface SessionOptions extends Omit<SessionClientSettings, 'clock'> {
  /**
   * The token endpoint of the client credentials grant. Needed (or `issuer`) unless every client id has a provider.
   */
  readonly tokenUrl?: string;
  /**
   * The issuer, instead of `tokenUrl`: its token endpoint and supported client authentication methods are read
   * from its metadata (`/.well-known/openid-configuration`, else RFC 8414) once, on the first token request.
   */
  readonly issuer?: string;
  /** Credentials per client id: a secret, or `{ clientSecret, authMethod }`. */
  readonly clients?: Readonly<Record<string, string | Secret | SessionClientCredentials>>;
  /** Custom token providers per client id (a token pipeline, another grant), used instead of `clients`. */
  readonly providers?: Readonly<Record<string, TokenProvider>>;
  /** The client id used by services that name none; required when there are several. */
  readonly defaultClientId?: string;
  /** The services, by name. */
  readonly services: Readonly<Record<string, SessionServiceOptions>>;
  /**
   * Policies every client inherits (outermost first); the auth policy is inserted before the
   * `attemptTimeout` policy, or last. Without it, each client gets the preset pipeline built from its
   * options (`timeout`, `retry`, …) with auth in its standard place. With it, those preset options are refused
   * (they would be ignored): put the policy into `policies` instead.
   */
  readonly policies?: readonly Policy[];
  /** A shared token store (one token per client id across processes). */
  readonly store?: TokenStore;
  /** The clock for token expiry and refresh timers, and of every client (and the shared rate limit). */
  readonly clock?: Clock;
  /** Options for every TokenManager the session creates. */
  readonly tokens?: Omit<TokenManagerOptions, 'provider' | 'store' | 'clock'>;
  /**
   * Usage tracking for every client of the session, read with `session.usage()` (aggregated and per client name):
   * `true`, or limits the aggregate is compared with (`{ perMinute, errorsPerHour, … }`, reported, never enforced),
   * or a `UsageTracker` to aggregate into. A client's own `usage` limits apply to that client; `usage: false` leaves
   * it out. Without it, only clients with their own `usage` are tracked (and still aggregated).
   * @default off
   */
  readonly usage?: UsageOption;
}

/** What {@link Session.state} reports: each client's {@link ClientState} by name, and usage of the whole session. */
export interface SessionState {
  readonly closed: boolean;
  /** By client name; a name made more than once shows its latest client. */
  readonly clients: Readonly<Record<string, ClientState>>;
  /** Every tracked client together (`{ enabled: false }` when no client tracks usage). */
  readonly usage: UsageState;
}

/** One client's entry in {@link SessionStatus}. */
export interface SessionClientStatus {
  readonly name: string;
  readonly service: string;
  readonly clientId: string;
  readonly baseUrl: string;
  /** The token this client sends, without the token. */
  readonly token: TokenInfo | undefined;
}

/** What {@link Session.status} reports: tokens per client id and every client made so far. */
export interface SessionStatus {
  readonly closed: boolean;
  /** Cached tokens per client id (every scope/audience combination). */
  readonly tokens: Readonly<Record<string, readonly TokenInfo[]>>;
  readonly clients: readonly SessionClientStatus[];
}

interface MadeClient {
  readonly name: string;
  readonly service: string;
  readonly clientId: string;
  readonly baseUrl: string;
  readonly scopes: readonly string[] | undefined;
  readonly audience: string | undefined;
  readonly resource: string | readonly string[] | undefined;
  readonly client: Client;
}

/**
 * One set of credentials for several services: one TokenManager (so one token) per client id,
 * shared by every client that uses that client id. Create with {@link createSession}.
 */
export class Session {
  /**
   * Token events of every client id's manager (`token`: acquired, refreshed, failed, invalidated, expired; and
   * `storeError`), in one place. Cache hits are per call: each client's own events carry them.
   */
  readonly events: EventHub<TokenHubEvents> = new EventHub<TokenHubEvents>();
  readonly #options: SessionOptions;
  readonly #managers = new Map<string, TokenManager>();
  readonly #made: MadeClient[] = [];
  /** Usage trackers of the clients, by client name (see `usage`). */
  readonly #usage: SessionUsageTrackers;
  readonly #defaultClientId: string;
  readonly #limits: SessionLimits;
  #closed = false;

  /** @internal use {@link createSession}. */
  constructor(options: SessionOptions) {
    parseOptions(sessionOptionsSchema, options);
    if (options.policies) refusePresetOptions(options as ClientOptions, "the session's policies");
    const ids = new Set([...Object.keys(options.clients ?? {}), ...Object.keys(options.providers ?? {})]);
    if (ids.size === 0)
      throw new InvalidOptionError('clients', 'give at least one client id with its credentials');
    for (const [id, cred] of Object.entries(options.clients ?? {})) {
      if (typeof cred === 'object' && cred !== null && !isSecret(cred)) {
        parseOptions(sessionClientEntrySchema, cred, `clients.${id}`);
      }
      const secret = typeof cred === 'object' && !isSecret(cred) ? cred.clientSecret : cred;
      if (!isSecret(secret) && (typeof secret !== 'string' || secret === '')) {
        throw new InvalidOptionError(`clients.${id}`, `expected a client secret, got ${describe(secret)}`);
      }
    }
    if (Object.keys(options.clients ?? {}).length > 0) {
      if (options.issuer !== undefined && options.tokenUrl !== undefined) {
        throw new InvalidOptionError('issuer', 'give tokenUrl or issuer, not both');
      }
      if (options.issuer !== undefined) urlOption('issuer', options.issuer);
      else urlOption('tokenUrl', options.tokenUrl);
    }
    if (options.defaultClientId !== undefined) {
      if (!ids.has(options.defaultClientId)) {
        throw new InvalidOptionError(
          'defaultClientId',
          `"${options.defaultClientId}" is not in clients or providers`,
        );
      }
      this.#defaultClientId = options.defaultClientId;
    } else if (ids.size === 1) {
      this.#defaultClientId = [...ids][0]!;
    } else {
      this.#defaultClientId = '';
    }
    if (typeof options.services !== 'object' || options.services === null) {
      throw new InvalidOptionError('services', 'expected an object of services by name');
    }
    for (const [name, service] of Object.entries(options.services)) {
      urlOption(`services.${name}.baseUrl`, service?.baseUrl);
      const id = service.clientId ?? this.#defaultClientId;
      if (!id) {
        throw new InvalidOptionError(
          `services.${name}.clientId`,
          'the session has several client ids and no defaultClientId; name one',
        );
      }
      if (!ids.has(id))
        throw new InvalidOptionError(`services.${name}.clientId`, `unknown client id "${id}"`);
    }
    this.#options = options;
    this.#usage = new SessionUsageTrackers(options.usage, options.clock);
    this.#ids = ids;
    this.#limits = new SessionLimits(options.clock);
  }

  readonly #ids: ReadonlySet<string>;

  /** The TokenManager of a client id (created on first use, shared by every client using it). */
  tokenManager(clientId: string = this.#defaultClientId): TokenManager {
    if (!this.#ids.has(clientId)) throw new InvalidOptionError('clientId', `unknown client id "${clientId}"`);
    let manager = this.#managers.get(clientId);
    if (!manager) {
      const o = this.#options;
      const provider = o.providers?.[clientId] ?? this.#credentialsProvider(clientId);
      manager = new TokenManager({
        ...o.tokens,
        provider,
        ...(o.store ? { store: o.store } : {}),
        ...(o.clock ? { clock: o.clock } : {}),
      });
      this.#managers.set(clientId, manager);
      relayTokenEvents(manager, this.events);
    }
    return manager;
  }

  /**
   * A valid token of a client id (the default one when omitted), fetching it if none is cached; concurrent callers
   * and every client of that client id share it. `request` asks for other scopes, audience or resource than the
   * client id's defaults (another token, cached apart).
   */
  getToken(clientId: string = this.#defaultClientId, request?: TokenRequest): Promise<Token> {
    if (this.#closed) return Promise.reject(new InvalidOptionError('session', 'the session is closed'));
    try {
      return this.tokenManager(clientId).getToken(request);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * What is known about a client id's cached token, without the token (`expiresIn`, `state`, `refreshAt`, …):
   * undefined before the first fetch.
   */
  getTokenInfo(clientId: string = this.#defaultClientId, request?: TokenRequest): TokenInfo | undefined {
    if (!this.#ids.has(clientId)) throw new InvalidOptionError('clientId', `unknown client id "${clientId}"`);
    return this.#managers.get(clientId)?.getTokenInfo(request);
  }

  /**
   * A client for a service, authenticated with its client id's shared token. `overrides` may pick another client
   * id, other policies, or any client option; settings merge field by field over the service's and the session's
   * (`{ rateLimit: { limit: 50 } }` keeps the inherited window and strategy, and gives this client its own bucket).
   */
  client(service: string, overrides: SessionClientOverrides = {}): Client {
    if (this.#closed) throw new InvalidOptionError('session', 'the session is closed');
    const s = this.#options.services[service];
    if (!s) {
      throw new InvalidOptionError(
        'service',
        `unknown service "${service}"; known: ${Object.keys(this.#options.services).join(', ')}`,
      );
    }
    parseOptions(sessionClientOverridesSchema, overrides);
    const { clientId: sId, scopes, audience, resource, policies: sPolicies, ...serviceClient } = s;
    const { clientId: oId, policies: oPolicies, ...clientOverrides } = overrides;
    const clientId = oId ?? sId ?? this.#defaultClientId;
    const manager = this.tokenManager(clientId);
    const auth = tokenAuth(manager, {
      request: {
        ...(scopes ? { scopes } : {}),
        ...(audience ? { audience } : {}),
        ...(resource ? { resource } : {}),
      },
    });
    const base = oPolicies ?? sPolicies ?? this.#options.policies;
    const name = overrides.name ?? service;
    const merged: ClientOptions = this.#usage.withUsage(
      name,
      this.#settings(service, serviceClient, clientOverrides),
    );
    let client: Client;
    if (base) {
      const from = oPolicies
        ? 'policies'
        : sPolicies
          ? `services.${service}.policies`
          : "the session's policies";
      refusePresetOptions(merged, from);
      client = createClient({ ...merged, name, policies: insertAuth([...base], auth) });
    } else {
      client = createClient({ ...merged, name, auth });
    }
    this.#made.push({ name, service, clientId, baseUrl: s.baseUrl, scopes, audience, resource, client });
    return client;
  }

  /** Session settings, then the service's, then the client's, merged field by field; limits shared by level. */
  #settings(service: string, own: object, overrides: object): ClientOptions {
    const {
      tokenUrl: _t,
      issuer: _i,
      clients: _c,
      providers: _p,
      defaultClientId: _d,
      services: _s,
      policies: _policies,
      store: _store,
      tokens: _tokens,
      // The session's usage is its aggregate tracker (see SessionUsageTrackers), not a client setting.
      usage: _usage,
      ...session
    } = this.#options;
    const merged = mergeSettings(session, own, overrides) as ClientOptions & Record<string, unknown>;
    const rateLimit = this.#limits.resolve(
      service,
      session.rateLimit,
      {
        service: (own as { rateLimit?: RateLimitOptions | false }).rateLimit,
        client: (overrides as { rateLimit?: RateLimitOptions | false }).rateLimit,
      },
      merged.clock,
      (overrides as { name?: string }).name ?? service,
    );
    const { rateLimit: _r, ...rest } = merged;
    return rateLimit === undefined ? rest : { ...rest, rateLimit };
  }

  /** Tokens per client id and every client made so far, without any token. */
  status(): SessionStatus {
    const tokens: Record<string, TokenInfo[]> = {};
    for (const [id, manager] of this.#managers) tokens[id] = manager.listTokenInfo();
    return { closed: this.#closed, tokens, clients: this.#made.map((m) => this.#clientStatus(m)) };
  }

  /** The status of the clients made under `name` (a client can be made more than once). */
  clientStatus(name: string): SessionClientStatus | undefined {
    const made = [...this.#made].reverse().find((m) => m.name === name);
    return made ? this.#clientStatus(made) : undefined;
  }

  /**
   * Calls and errors of the session's tracked clients in the last minute, 5 minutes and hour: all of them together
   * (compared with the session's `usage` limits) and each by client name (compared with its own). `undefined` when
   * no client tracks usage (give the session or a client `usage: true` or limits).
   */
  usage(): SessionUsage | undefined {
    return this.#usage.report();
  }

  /** What each client's policies know (see `client.state()`), by client name, and the session's usage. */
  state(): SessionState {
    const clients: Record<string, ClientState> = {};
    for (const m of this.#made) clients[m.name] = m.client.state();
    return { closed: this.#closed, clients, usage: this.#usage.state() };
  }

  /** Stops every refresh timer and closes every client and token manager. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([
      ...this.#made.map((m) => m.client.close()),
      ...[...this.#managers.values()].map((m) => m.close()),
    ]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #clientStatus(m: MadeClient): SessionClientStatus {
    const manager = this.#managers.get(m.clientId);
    const request = {
      ...(m.scopes ? { scopes: m.scopes } : {}),
      ...(m.audience ? { audience: m.audience } : {}),
      ...(m.resource ? { resource: m.resource } : {}),
    };
    return {
      name: m.name,
      service: m.service,
      clientId: m.clientId,
      baseUrl: m.baseUrl,
      token: manager?.getTokenInfo(request),
    };
  }

  #credentialsProvider(clientId: string): TokenProvider {
    const cred = this.#options.clients?.[clientId];
    if (cred === undefined)
      throw new InvalidOptionError('clients', `no credentials for client id "${clientId}"`);
    const o: SessionClientCredentials =
      typeof cred === 'object' && !isSecret(cred) ? cred : { clientSecret: cred };
    const { tokenUrl, issuer } = this.#options;
    return clientCredentials({
      ...(issuer !== undefined ? { issuer } : { tokenUrl: tokenUrl as string }),
      clientId,
      clientSecret: o.clientSecret,
      ...(o.authMethod ? { authMethod: o.authMethod } : {}),
      ...(o.scopes ? { scopes: o.scopes } : {}),
      ...(o.audience ? { audience: o.audience } : {}),
      ...(o.resource ? { resource: o.resource } : {}),
      ...(o.extraParams ? { extraParams: o.extraParams } : {}),
    });
  }
}

/** Preset options next to policies would be ignored: refuse them, naming the policy to add instead. */
function refusePresetOptions(options: ClientOptions, from: string): void {
  for (const key in PRESET_OPTIONS) {
    if (options[key as keyof ClientOptions] !== undefined) {
      throw new InvalidOptionError(
        key,
        `${from} replace the preset, so it would be ignored; ${PRESET_OPTIONS[key]}`,
      );
    }
  }
}

/** Puts auth just outside the attempt timeout (the standard order), or innermost. */
function insertAuth(policies: Policy[], auth: Policy): Policy[] {
  const withoutAuth = policies.filter((p) => p.name !== 'auth');
  const at = withoutAuth.findIndex((p) => p.name === 'attemptTimeout');
  if (at === -1) withoutAuth.push(auth);
  else withoutAuth.splice(at, 0, auth);
  return withoutAuth;
}

/**
 * Creates a multi-service session.
 *
 * @example
 * const session = createSession({
 *   tokenUrl,
 *   clients: { demo: new Secret('demo-secret') },
 *   services: { billing: { baseUrl: billingUrl }, inventory: { baseUrl: inventoryUrl } },
 * });
 * const billing = session.client('billing');
 */
export function createSession(options: SessionOptions): Session {
  return new Session(options);
}
