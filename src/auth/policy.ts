import { InvalidOptionError } from '../core/errors.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import { raceSignal } from '../core/race-signal.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler } from '../core/types.js';
import { isSafeToRepeat } from '../policies/predicates.js';
import {
  type AuthPolicy,
  checkedHeaderValue,
  headerNameOption,
  redactorExtender,
  setSecretHeader,
} from './static.js';
import type { Token } from './token.js';
import { relayTokenEvents, type TokenClientEvent } from './token-events.js';
import { TokenManager, type TokenManagerOptions } from './token-manager.js';
import type { TokenProvider, TokenRequest } from './types.js';

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions {
  /** Scopes and audience to ask for; the provider's defaults when omitted. */
  readonly request?: TokenRequest;
  /**
   * The header to set.
   * @default 'authorization'
   */
  readonly header?: string;
  /**
   * The scheme before the token; defaults to the token's type (`Bearer`). `''` sends the bare token.
   */
  readonly scheme?: string;
  /**
   * On a 401, invalidate the token, fetch a new one and repeat the call once, when the request is
   * replayable and safe to repeat (`isSafeToRepeat`: an idempotent method, an `Idempotency-Key`, or marked
   * `idempotent`), the same rule the retry policy follows.
   * @default true
   */
  readonly retryOnUnauthorized?: boolean;
  /** Options for the TokenManager created when a provider (not a manager) is given. */
  readonly manager?: Omit<TokenManagerOptions, 'provider'>;
}

/** The policy returned by {@link tokenAuth}; `manager` is the TokenManager it draws from. */
export interface TokenAuthPolicy extends AuthPolicy {
  /** The manager behind this policy. Close it when a provider was given (the policy created it). */
  readonly manager: TokenManager;
}

/**
 * Authenticates each attempt with a token from a {@link TokenManager} (or a provider, which gets a
 * manager of its own). On a 401 the token is invalidated and, when the request is safe to repeat,
 * the call is repeated once with a fresh token.
 *
 * @example
 * const tokens = new TokenManager({ provider: clientCredentials({ tokenUrl, clientId, clientSecret }) });
 * const api = createClient({ baseUrl, policies: [tokenAuth(tokens)] });
 */
export function tokenAuth(
  source: TokenManager | TokenProvider,
  options: TokenAuthOptions = {},
): TokenAuthPolicy {
  let manager: TokenManager;
  if (source instanceof TokenManager) manager = source;
  else if (source && typeof (source as TokenProvider).fetchToken === 'function') {
    manager = new TokenManager({ ...options.manager, provider: source as TokenProvider });
  } else {
    throw new InvalidOptionError('source', 'expected a TokenManager or a token provider');
  }
  const header = headerNameOption('header', options.header ?? 'authorization');
  const scheme = options.scheme;
  if (scheme !== undefined && (typeof scheme !== 'string' || /[\r\n]/.test(scheme))) {
    throw new InvalidOptionError('scheme', 'expected a string without line breaks');
  }
  const request = options.request;
  const retry = options.retryOnUnauthorized ?? true;
  const extend = redactorExtender({ headers: [header] });
  const format = (token: Token): string => {
    const s = scheme ?? token.tokenType;
    return s ? `${s} ${token.value.reveal()}` : token.value.reveal();
  };
  // The `cacheHit` event of the last token served, built once per token (no allocation per call).
  let hit: { token: Token; event: TokenClientEvent } | undefined;
  const hitEvent = (token: Token): TokenClientEvent => {
    if (hit?.token !== token) {
      const event = Object.freeze({
        kind: 'cacheHit' as const,
        key: manager.keyFor(request),
        provider: manager.provider.id,
        fingerprint: token.fingerprint(),
      });
      hit = { token, event };
    }
    return hit.event;
  };
  return {
    name: 'auth',
    manager,
    // The manager's lifecycle (fetches, refreshes, failures, invalidations, store errors) reaches the client's events.
    attach: (events) => relayTokenEvents(manager, events),
    wrap(next: Handler): Handler {
      const headerValue = checkedHeaderValue(header, format);
      // The common case is one `then` on the inner promise (no async frame); only a 401 goes on to `unauthorized`.
      const send = (req: HttpRequest, ctx: CallContext, token: Token): Promise<HttpResponse> => {
        let pending: Promise<HttpResponse>;
        try {
          pending = next(setSecretHeader(req, header, headerValue(token), extend, true), ctx);
        } catch (error) {
          return Promise.reject(error);
        }
        if (!retry) return pending;
        return pending.then((response) =>
          response.status === 401 ? unauthorized(req, ctx, token, response) : response,
        );
      };
      const unauthorized = async (
        req: HttpRequest,
        ctx: CallContext,
        token: Token,
        response: HttpResponse,
      ): Promise<HttpResponse> => {
        // The store update goes on in the background if the call aborts meanwhile.
        await raceSignal(manager.invalidate(token, request, 'unauthorized'), ctx.signal);
        if (!req.replayable || !isSafeToRepeat(req, ctx)) return response;
        await response.dump();
        const fresh = await manager.getToken(request, { signal: ctx.signal });
        const again = await next(setSecretHeader(req, header, headerValue(fresh), extend, true), ctx);
        // The replacement rejected as well: drop it now (the manager then holds fetches back for a while).
        if (again.status === 401)
          await raceSignal(manager.invalidate(fresh, request, 'unauthorized'), ctx.signal);
        return again;
      };
      // Every wait (a token fetch, the 401 path) ends when the call aborts.
      const handler: Handler = (req, ctx) => {
        // A cached token is taken synchronously: no promise for the common case.
        let token: Token | undefined;
        try {
          token = manager.cachedToken(request);
        } catch (error) {
          return Promise.reject(error);
        }
        if (token) {
          if (ctx.events.has('token')) ctx.events.emit('token', hitEvent(token));
          return send(req, ctx, token);
        }
        // The signal is read only on a cache miss: building an AbortSignal per call is not free.
        return manager
          .getToken(request, {
            get signal() {
              return ctx.signal;
            },
          })
          .then((fetched) => send(req, ctx, fetched));
      };
      return settlesOnAbort(handler, isSettlingOnAbort(next));
    },
  };
}

/** The same as {@link tokenAuth}: authenticates with OAuth2 (or any) tokens from a manager or provider. */
export const oauth2Auth: typeof tokenAuth = tokenAuth;
