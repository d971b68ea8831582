/**
 * The one place the gateway reaches into the auth, policies and store modules: everything the gateway
 * needs from them goes through the small functions here, so the rest of the gateway depends only on
 * the shapes declared in this file.
 */
import { clientCredentials, TokenManager, tokenAuth } from '../auth/index.js';
import type { EventHub } from '../core/events.js';
import { Secret } from '../core/secret.js';
import type { Policy } from '../core/types.js';
import { type StandardPolicyOptions, standardPolicies } from '../policies/index.js';
import { createTokenStore, type TokenStoreConfig } from '../stores/connect.js';
import type { StoreEvents } from '../stores/resilient.js';
import type { TokenStore } from '../stores/types.js';

export type { StoreEvents };

/** Options of the standard pipeline, as `standardPolicies` takes them. */
export type StandardPoliciesOptions = StandardPolicyOptions;

/** What the gateway uses from the policies module. */
export interface PoliciesModule {
  standardPolicies(options: StandardPoliciesOptions): Policy[];
}

/** A per-upstream auth step. */
export interface UpstreamAuth {
  /** The policy that adds credentials to each attempt. */
  readonly policy: Policy;
  /** Token facts for the status page (never the token itself): expiry, state, failures. */
  status?(): unknown;
  /**
   * Drops the cached token and fetches a new one, unless a forced refresh ran less than the token manager's
   * `forcedRefreshInterval` ago (then nothing is fetched). Returns facts about it, never the token.
   */
  refresh?(): Promise<TokenRefreshResult>;
  /**
   * Subscribes to token events. The built-in OAuth2 auth leaves it out: its token events reach the upstream
   * client's own events (`token`, `storeError`), which the gateway's metrics already count.
   */
  onTokenEvent?(
    listener: (event: {
      readonly kind: string;
      readonly store?: string;
      readonly operation?: string;
    }) => void,
  ): void;
  close?(): Promise<void>;
}

/** What a forced token refresh did (see {@link UpstreamAuth.refresh}). */
export interface TokenRefreshResult {
  /** Whether a new token was fetched. */
  readonly refreshed: boolean;
  /** When not: seconds until a forced refresh is allowed again (the minimum refresh interval). */
  readonly retryInSeconds?: number;
  /** Facts about the cached tokens afterwards (never a token). */
  readonly tokens: unknown;
}

/** An OAuth2 client-credentials setting from the gateway configuration. */
export interface OAuth2Settings {
  /** The token endpoint, or undefined with an `issuer`. */
  readonly tokenUrl?: string;
  /** The issuer whose metadata names the token endpoint (instead of `tokenUrl`). */
  readonly issuer?: string;
  readonly clientId: string;
  /** Raw secret, wrapped in a Secret again before it leaves this file. */
  readonly clientSecret: string;
  readonly scopes?: readonly string[];
  readonly audience?: string;
  /** RFC 8707 resource indicator(s). */
  readonly resource?: string | readonly string[];
  readonly credentials?: 'basic' | 'body';
}

/** What the gateway uses from the auth module. */
export interface AuthModule {
  /** Builds the auth step of one upstream from OAuth2 client-credentials settings and a token store. */
  gatewayOAuth2(
    settings: OAuth2Settings,
    deps: { readonly store: unknown; readonly name: string },
  ): UpstreamAuth;
}

/** A token store as the gateway sees it. */
export interface GatewayStore {
  readonly name: string;
  get(key: string): Promise<string | undefined>;
  close(): Promise<void>;
  /** Whether the store itself answers, past any outage-as-miss fallback (see `ResilientTokenStore.probe`). */
  probe?(): Promise<boolean>;
  /** Where the store reports going down and coming back (`ResilientTokenStore.events`). */
  readonly events?: EventHub<StoreEvents>;
}

/** What the gateway uses from the stores module. */
export interface StoresModule {
  createTokenStore(
    config: Record<string, unknown>,
    events?: EventHub<StoreEvents>,
  ): GatewayStore | Promise<GatewayStore>;
}

/** The modules the gateway is wired with. Tests and embedders may replace any of them. */
export interface Wiring {
  readonly policies: PoliciesModule;
  readonly auth: AuthModule | undefined;
  readonly stores: StoresModule | undefined;
}

const POLICIES: PoliciesModule = { standardPolicies: (options) => standardPolicies(options, 'standard') };

const AUTH: AuthModule = {
  gatewayOAuth2(settings, deps) {
    const provider = clientCredentials({
      ...(settings.issuer !== undefined ? { issuer: settings.issuer } : { tokenUrl: settings.tokenUrl }),
      clientId: settings.clientId,
      clientSecret: new Secret(settings.clientSecret),
      // Without `credentials`, basic (or with an issuer, the first of basic and post its metadata lists).
      ...(settings.credentials && {
        authMethod: settings.credentials === 'body' ? 'client_secret_post' : 'client_secret_basic',
      }),
      scopes: settings.scopes,
      audience: settings.audience,
      resource: settings.resource,
    });
    const manager = new TokenManager({ provider, store: deps.store as TokenStore | undefined });
    const facts = () =>
      manager.listTokenInfo().map((info) => ({
        state: info.state,
        expiresAt: new Date(info.expiresAt).toISOString(),
        expiresInSeconds: Math.round(info.expiresIn / 1000),
        refreshAt: new Date(info.refreshAt).toISOString(),
        scope: info.scope,
        failures: info.failures,
        lastErrorCode: info.lastErrorCode,
        fingerprint: info.fingerprint,
        forcedRefreshInSeconds: Math.ceil(info.forcedRefreshIn / 1000),
      }));
    return {
      policy: tokenAuth(manager),
      status: () => ({ clientId: settings.clientId, cached: facts() }),
      async refresh() {
        // A forced refresh sooner than `forcedRefreshInterval` after the last one fetches nothing.
        const wait = manager.getTokenInfo()?.forcedRefreshIn ?? 0;
        if (wait > 0) return { refreshed: false, retryInSeconds: Math.ceil(wait / 1000), tokens: facts() };
        await manager.invalidate(undefined, undefined, 'manual');
        await manager.getToken();
        return { refreshed: true, tokens: facts() };
      },
      close: () => manager.close(),
    };
  },
};

const STORES: StoresModule = {
  createTokenStore: (config, events) =>
    createTokenStore({ ...(config as unknown as TokenStoreConfig), ...(events && { events }) }),
};

/** The wiring of this build: the standard policies, OAuth2 client credentials and every token store. */
export const DEFAULT_WIRING: Wiring = Object.freeze({ policies: POLICIES, auth: AUTH, stores: STORES });

/** Policies only: no OAuth2, no store module. Tests and embedders may pass it explicitly. */
export const MINIMAL_WIRING: Wiring = Object.freeze({
  policies: POLICIES,
  auth: undefined,
  stores: undefined,
});

/** The default wiring (kept async so a build can load optional modules lazily). */
export async function loadWiring(): Promise<Wiring> {
  return DEFAULT_WIRING;
}
