import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The demo client every sandbox OAuth server knows. **Sandbox only**: never use these credentials
 * (or this server) outside local development and tests.
 */
export const SANDBOX_DEMO_CLIENT = Object.freeze({ clientId: 'demo', clientSecret: 'demo-secret' });

/** The demo user of the password grant and the token chain. **Sandbox only.** */
export const SANDBOX_DEMO_USER = Object.freeze({ username: 'demo-user', password: 'demo-password' });

/** Options of {@link createOAuthSandbox} and {@link startOAuthServer}. */
export interface OAuthSandboxOptions {
  /** Clients besides `demo`: client id → secret. */
  readonly clients?: Readonly<Record<string, string>>;
  /** Users of the password grant besides `demo-user`: user name → password. */
  readonly users?: Readonly<Record<string, string>>;
  /**
   * Access token lifetime in seconds.
   * @default 3600
   */
  readonly tokenLifetime?: number;
  /**
   * Lifetime of the chain tokens (device, app, user) in seconds.
   * @default 600
   */
  readonly chainLifetime?: number;
  /** Add `refresh_in` (seconds) to token responses. */
  readonly refreshIn?: number;
  /**
   * Issue JWT-like tokens (unsigned, with `exp`) instead of opaque random strings.
   * @default false
   */
  readonly jwt?: boolean;
  /** Wall-clock time in epoch ms, for expiry and the `Date` header; tests pass a fake clock's `wallNow`. */
  readonly now?: () => number;
  /** Initial fault settings. */
  readonly fault?: OAuthFault;
  /**
   * Which discovery documents are served: `openid` (`/.well-known/openid-configuration`), `oauth` (RFC 8414
   * `/.well-known/oauth-authorization-server`), `both`, or `false` for none.
   * @default 'both'
   */
  readonly discovery?: 'openid' | 'oauth' | 'both' | false;
  /** The `issuer` the discovery documents name. @default the URL the request came to (`http://<host header>`) */
  readonly issuer?: string;
}

/** Faults injected into the token endpoints (`/oauth/token` and `/chain/*`). */
export interface OAuthFault {
  /** Delay every token answer by this many ms. */
  readonly latencyMs?: number;
  /** Fail the next N token requests with `status`. */
  readonly failNext?: number;
  /** Fail every token request until cleared (an IdP outage). */
  readonly down?: boolean;
  /**
   * The status of injected failures.
   * @default 503
   */
  readonly status?: number;
  /** Answer the next N token requests with a 200 and a body that is not JSON. */
  readonly garbageNext?: number;
}

/** Counters returned by `GET /_sandbox/stats` and `stats()`. */
export interface OAuthSandboxStats {
  /** Access tokens issued per client id (all grants). */
  tokensIssued: Record<string, number>;
  /** Token requests per grant type, including refused ones. */
  grants: Record<string, number>;
  /** Token requests refused with an OAuth2 error. */
  refused: number;
  /** Failures injected by the fault settings. */
  faultsInjected: number;
  /** Tokens issued by each chain step. */
  chain: { device: number; app: number; user: number };
  /** Calls to the protected resource, and how many got 401. */
  api: { calls: number; unauthorized: number };
  /** Tokens revoked. */
  revoked: number;
  /** Discovery documents served. */
  discovery: number;
}

interface IssuedToken {
  readonly kind: 'access' | 'refresh' | 'device' | 'app' | 'user';
  readonly clientId: string;
  readonly subject: string;
  readonly scope: string;
  readonly expiresAt: number;
  revoked: boolean;
}

/** A sandbox OAuth2 server as a request handler, with controls for tests. */
export interface OAuthSandbox {
  /**
   * A `node:http` request listener. With `next`, requests for paths it does not serve go there
   * (to compose with another sandbox handler); without, they get a 404.
   */
  handle(req: IncomingMessage, res: ServerResponse, next?: () => void): void;
  /** A copy of the counters. */
  stats(): OAuthSandboxStats;
  /** Changes the injected faults; `{}` clears them. */
  setFault(fault: OAuthFault): void;
  /** Revokes an access or refresh token. Returns false for an unknown token. */
  revoke(token: string): boolean;
  /** Every token value issued so far. **Sandbox only**, for leak tests. */
  issuedSecrets(): string[];
  /** Resets counters (not tokens). */
  resetStats(): void;
}

/** A running sandbox OAuth2 server. */
export interface OAuthServer extends Omit<OAuthSandbox, 'handle'> {
  /** Base URL, such as `http://127.0.0.1:53211`. The token endpoint is `${url}/oauth/token`. */
  readonly url: string;
  /** `${url}/oauth/token`. */
  readonly tokenUrl: string;
  /** The issuer for discovery (`issuer` in the options, else `url`). */
  readonly issuer: string;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

function newStats(): OAuthSandboxStats {
  return {
    tokensIssued: {},
    grants: {},
    refused: 0,
    faultsInjected: 0,
    chain: { device: 0, app: 0, user: 0 },
    api: { calls: 0, unauthorized: 0 },
    revoked: 0,
    discovery: 0,
  };
}

/**
 * Creates the sandbox OAuth2 server as a request handler:
 * - `POST /oauth/token`: `client_credentials`, `password`, `refresh_token` (rotating: a used refresh token
 *   is dead), client auth by `client_secret_basic` or `client_secret_post`;
 * - `POST /oauth/revoke`: RFC 7009 revocation (`token` form field);
 * - `POST /chain/device` (client auth) → JSON `device_token`; `POST /chain/app` (header `x-device-token`)
 *   → JSON `{ data: { app_token } }`; `POST /chain/user` (Bearer app token, `username`/`password` form)
 *   → token in the `x-user-token` response header;
 * - `GET /api/me`: a protected resource; 401 for missing, unknown, expired or revoked tokens;
 * - `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server` (RFC 8414): the issuer,
 *   token and revocation endpoints and the client authentication methods (see `discovery`);
 * - `GET /_sandbox/stats`, `POST /_sandbox/fault` (JSON {@link OAuthFault}).
 */
export function createOAuthSandbox(options: OAuthSandboxOptions = {}): OAuthSandbox {
  const clients = new Map<string, string>([
    [SANDBOX_DEMO_CLIENT.clientId, SANDBOX_DEMO_CLIENT.clientSecret],
    ...Object.entries(options.clients ?? {}),
  ]);
  const users = new Map<string, string>([
    [SANDBOX_DEMO_USER.username, SANDBOX_DEMO_USER.password],
    ...Object.entries(options.users ?? {}),
  ]);
  const now = options.now ?? Date.now;
  const lifetime = options.tokenLifetime ?? 3600;
  const chainLifetime = options.chainLifetime ?? 600;
  const tokens = new Map<string, IssuedToken>();
  let stats = newStats();
  let fault: OAuthFault = options.fault ?? {};
  let failLeft = fault.failNext ?? 0;
  let garbageLeft = fault.garbageNext ?? 0;

  const mint = (kind: IssuedToken['kind'], clientId: string, subject: string, scope: string, ttl: number) => {
    const expiresAt = now() + ttl * 1000;
    const random = randomBytes(24).toString('base64url');
    let value = `sbx_${kind}_${random}`;
    if (options.jwt && kind === 'access') {
      const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      value = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: subject, client_id: clientId, scope, exp: Math.floor(expiresAt / 1000), jti: random })}.sandbox`;
    }
    tokens.set(value, { kind, clientId, subject, scope, expiresAt, revoked: false });
    return value;
  };

  const valid = (value: string | undefined, kind: IssuedToken['kind']): IssuedToken | undefined => {
    if (!value) return undefined;
    const t = tokens.get(value);
    if (!t || t.kind !== kind || t.revoked || now() >= t.expiresAt) return undefined;
    return t;
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      date: new Date(now()).toUTCString(),
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  const oauthError = (res: ServerResponse, status: number, error: string, description: string) => {
    stats.refused++;
    send(res, status, { error, error_description: description });
  };

  /** Client authentication: Basic header or form fields. Returns the client id or undefined (answered). */
  const authenticate = (req: IncomingMessage, form: URLSearchParams, res: ServerResponse) => {
    let id = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    const header = req.headers.authorization;
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const dec = (s: string) => new URLSearchParams(`x=${s}`).get('x') ?? '';
      id = dec(decoded.slice(0, colon));
      secret = dec(decoded.slice(colon + 1));
    }
    if (!id || secret === undefined || clients.get(id) !== secret) {
      oauthError(res, 401, 'invalid_client', 'Client authentication failed');
      return undefined;
    }
    return id;
  };

  const issue = (
    res: ServerResponse,
    clientId: string,
    subject: string,
    scope: string,
    withRefresh: boolean,
  ) => {
    const access = mint('access', clientId, subject, scope, lifetime);
    stats.tokensIssued[clientId] = (stats.tokensIssued[clientId] ?? 0) + 1;
    const body: Record<string, unknown> = {
      access_token: access,
      token_type: 'Bearer',
      expires_in: lifetime,
      scope,
    };
    if (options.refreshIn !== undefined) body.refresh_in = options.refreshIn;
    if (withRefresh) body.refresh_token = mint('refresh', clientId, subject, scope, lifetime * 24);
    send(res, 200, body);
  };

  const faulted = (res: ServerResponse): boolean => {
    if (fault.down || failLeft > 0) {
      if (failLeft > 0) failLeft--;
      stats.faultsInjected++;
      send(res, fault.status ?? 503, {
        error: 'temporarily_unavailable',
        error_description: 'Injected fault',
      });
      return true;
    }
    if (garbageLeft > 0) {
      garbageLeft--;
      stats.faultsInjected++;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>gateway says hello</html>');
      return true;
    }
    return false;
  };

  const token = (req: IncomingMessage, res: ServerResponse, form: URLSearchParams) => {
    const grant = form.get('grant_type') ?? '';
    stats.grants[grant] = (stats.grants[grant] ?? 0) + 1;
    if (faulted(res)) return;
    const clientId = authenticate(req, form, res);
    if (!clientId) return;
    const scope = form.get('scope') ?? 'default';
    if (scope.split(' ').includes('forbidden')) {
      return oauthError(res, 400, 'invalid_scope', 'The scope "forbidden" is not allowed');
    }
    switch (grant) {
      case 'client_credentials':
        return issue(res, clientId, clientId, scope, false);
      case 'password': {
        const user = form.get('username') ?? '';
        if (!users.has(user) || users.get(user) !== form.get('password')) {
          return oauthError(res, 400, 'invalid_grant', 'Invalid resource owner credentials');
        }
        return issue(res, clientId, user, scope, true);
      }
      case 'refresh_token': {
        const value = form.get('refresh_token') ?? undefined;
        const old = valid(value, 'refresh');
        if (!old || old.clientId !== clientId || !value) {
          return oauthError(
            res,
            400,
            'invalid_grant',
            'The refresh token is invalid, expired, revoked or used',
          );
        }
        old.revoked = true; // rotation: a refresh token works once
        return issue(res, clientId, old.subject, old.scope, true);
      }
      default:
        return oauthError(res, 400, 'unsupported_grant_type', 'Unsupported grant_type');
    }
  };

  const chain = (step: string, req: IncomingMessage, res: ServerResponse, form: URLSearchParams) => {
    if (faulted(res)) return;
    if (step === 'device') {
      const clientId = authenticate(req, form, res);
      if (!clientId) return;
      stats.chain.device++;
      return send(res, 200, {
        device_token: mint('device', clientId, clientId, 'device', chainLifetime),
        expires_in: chainLifetime,
      });
    }
    if (step === 'app') {
      const device = valid(String(req.headers['x-device-token'] ?? ''), 'device');
      if (!device) return send(res, 401, { error: 'invalid_token' });
      stats.chain.app++;
      return send(res, 200, {
        data: { app_token: mint('app', device.clientId, device.subject, 'app', chainLifetime) },
        expires_in: chainLifetime,
      });
    }
    if (step === 'user') {
      const auth = req.headers.authorization ?? '';
      const app = valid(auth.startsWith('Bearer ') ? auth.slice(7) : undefined, 'app');
      if (!app) return send(res, 401, { error: 'invalid_token' });
      const user = form.get('username') ?? '';
      if (!users.has(user) || users.get(user) !== form.get('password')) {
        return oauthError(res, 400, 'invalid_grant', 'Invalid user credentials');
      }
      stats.chain.user++;
      const value = mint('user', app.clientId, user, 'user', chainLifetime);
      return send(
        res,
        200,
        { ok: true },
        { 'x-user-token': value, 'x-user-token-expires-in': String(chainLifetime) },
      );
    }
    send(res, 404, { error: 'not_found' });
  };

  const api = (req: IncomingMessage, res: ServerResponse) => {
    stats.api.calls++;
    const auth = req.headers.authorization ?? '';
    const value = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const t = value ? (valid(value, 'access') ?? valid(value, 'user')) : undefined;
    if (!t) {
      stats.api.unauthorized++;
      return send(
        res,
        401,
        { error: 'invalid_token' },
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    }
    send(res, 200, { sub: t.subject, client_id: t.clientId, scope: t.scope });
  };

  const revoke = (value: string): boolean => {
    const t = tokens.get(value);
    if (!t) return false;
    if (!t.revoked) stats.revoked++;
    t.revoked = true;
    return true;
  };

  const discovery = options.discovery ?? 'both';
  const metadata = (req: IncomingMessage, res: ServerResponse, kind: 'openid' | 'oauth') => {
    if (discovery !== 'both' && discovery !== kind) return send(res, 404, { error: 'not_found' });
    stats.discovery++;
    const issuer = options.issuer ?? `http://${req.headers.host ?? '127.0.0.1'}`;
    send(res, 200, {
      issuer,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      grant_types_supported: ['client_credentials', 'password', 'refresh_token'],
      response_types_supported: ['token'],
    });
  };

  const route = (req: IncomingMessage, res: ServerResponse, body: string, next?: () => void) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const form = () => new URLSearchParams(body);
    if (method === 'GET' && path === '/.well-known/openid-configuration') return metadata(req, res, 'openid');
    if (method === 'GET' && path === '/.well-known/oauth-authorization-server')
      return metadata(req, res, 'oauth');
    if (method === 'POST' && path === '/oauth/token') return token(req, res, form());
    if (method === 'POST' && path.startsWith('/chain/')) return chain(path.slice(7), req, res, form());
    if (method === 'GET' && path === '/api/me') return api(req, res);
    if (method === 'POST' && path === '/oauth/revoke') {
      revoke(form().get('token') ?? '');
      return send(res, 200, {});
    }
    if (method === 'GET' && path === '/_sandbox/stats') return send(res, 200, sandbox.stats());
    if (method === 'POST' && path === '/_sandbox/fault') {
      try {
        sandbox.setFault(JSON.parse(body || '{}') as OAuthFault);
        return send(res, 200, { ok: true });
      } catch {
        return send(res, 400, { error: 'invalid_request' });
      }
    }
    if (next) return next();
    send(res, 404, { error: 'not_found' });
  };

  const isOurs = (path: string) =>
    path === '/oauth/token' ||
    path === '/oauth/revoke' ||
    path.startsWith('/chain/') ||
    path === '/api/me' ||
    path.startsWith('/.well-known/') ||
    path.startsWith('/_sandbox/');

  const sandbox: OAuthSandbox = {
    handle(req, res, next) {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (next && !isOurs(path)) return next();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const delay = path === '/oauth/token' || path.startsWith('/chain/') ? (fault.latencyMs ?? 0) : 0;
        if (delay > 0) setTimeout(() => route(req, res, body, next), delay);
        else route(req, res, body, next);
      });
    },
    stats: () => structuredClone(stats),
    setFault(next) {
      fault = { ...next };
      failLeft = next.failNext ?? 0;
      garbageLeft = next.garbageNext ?? 0;
    },
    revoke,
    issuedSecrets: () => [...tokens.keys()],
    resetStats() {
      stats = newStats();
    },
  };
  return sandbox;
}

/** Options of {@link startOAuthServer}. */
export interface StartOAuthServerOptions extends OAuthSandboxOptions {
  /**
   * Port to listen on; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * Interface to listen on. The sandbox is for local use only.
   * @default '127.0.0.1'
   */
  readonly host?: string;
}

/**
 * Starts the sandbox OAuth2 server (see {@link createOAuthSandbox}) on loopback.
 *
 * @example
 * const idp = await startOAuthServer();
 * // … use idp.tokenUrl with client 'demo' / 'demo-secret' …
 * await idp.close();
 */
export async function startOAuthServer(options: StartOAuthServerOptions = {}): Promise<OAuthServer> {
  const sandbox = createOAuthSandbox(options);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => sandbox.handle(req, res));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  return {
    url,
    tokenUrl: `${url}/oauth/token`,
    issuer: options.issuer ?? url,
    stats: sandbox.stats,
    setFault: sandbox.setFault,
    revoke: sandbox.revoke,
    issuedSecrets: sandbox.issuedSecrets,
    resetStats: sandbox.resetStats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
