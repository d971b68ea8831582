/**
 * Operations, the gateway's own endpoints: `/health` (the process is up), `/ready` (it can serve),
 * `/metrics` (Prometheus, whole or by name prefix) and `/status` (the operations page, its JSON at `/status.json`
 * and `/status/json`, its login, logout and admin actions). Who may see what is decided here: an API key in the
 * header, or for the status page a login session.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logging.js';
import { metricsText } from '../observability/metrics.js';
import type { Admission, Refusal } from './admission.js';
import { type GatewayConfig, SESSION_DEFAULTS } from './config.js';
import { OperationsSessions } from './operations-session.js';
import { makeProblem, sendProblem } from './problem.js';
import { type OperationsCaller, StatusAdmin } from './status-admin.js';
import { renderLoginPage, renderStatusPage } from './status-html.js';
import type { GatewayStatus } from './status-model.js';
import type { StoreHealth, StoreHealthReport } from './store.js';
import type { UpstreamRuntime } from './upstreams.js';

const ENDPOINTS = new Set(['/health', '/ready', '/metrics', '/status', '/status.json', '/status/json']);
const POSTS = new Set(['/status/login', '/status/logout']);
const ACTIONS = '/status/actions/';

/**
 * The CSP of operations responses that are not the page (JSON, metrics, problems): nothing may load, nothing may
 * frame them.
 */
export const DATA_CSP = "default-src 'none'; frame-ancestors 'none'";

/** The refusal of a status page POST another site made a browser send (see {@link crossSite}). */
const CROSS_SITE: Refusal = {
  status: 403,
  slug: 'cross-site',
  title: 'Cross-site request refused',
  detail: 'Status page forms are accepted from the status page only',
};

/**
 * Whether a browser sent this request on another site's behalf: `Sec-Fetch-Site` other than `same-origin` (or
 * `none`, typed by the user), else an `Origin` whose host is not the one the request was sent to. Programs send
 * neither header and pass. This stops login CSRF (another site logging the browser in with the attacker's key),
 * which a session's CSRF token cannot, as there is no session yet.
 */
export function crossSite(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    // `Origin: null` (a sandboxed frame, a redirect across sites) or garbage.
    return true;
  }
}

/**
 * The operations endpoint a request names (its metrics route label), or undefined: GET and HEAD for the
 * endpoints, POST for the status page's login, logout and actions.
 */
export function operationFor(method: string, path: string): string | undefined {
  if (method === 'POST') return POSTS.has(path) || path.startsWith(ACTIONS) ? 'status.admin' : undefined;
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  if (ENDPOINTS.has(path))
    return path === '/status.json' || path === '/status/json' ? 'status.json' : path.slice(1);
  return path.startsWith('/metrics/') ? 'metrics' : undefined;
}

/** What the operations endpoints read. */
export interface OperationsDeps {
  readonly config: GatewayConfig;
  readonly registry: import('prom-client').Registry | undefined;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  /** Inbound API keys: who may see protected endpoints, and the failed-key throttle logins count toward. */
  readonly admission: Admission;
  readonly logger: Logger | undefined;
  /** The token store's health, when there is a shared store (`memory` has none). */
  readonly store: StoreHealth | undefined;
  /** Extra readiness check (see `GatewayOptions.ready`). */
  readonly ready: (() => boolean | Promise<boolean>) | undefined;
  /** Whether the gateway is shutting down. */
  readonly draining: () => boolean;
  /** The security headers of this gateway. */
  readonly security: Readonly<Record<string, string>>;
}

/** The operations endpoints of one gateway. */
export class Operations {
  readonly #deps: OperationsDeps;
  readonly #startedAt = Date.now();
  readonly #sessions: OperationsSessions;
  readonly #admin: StatusAdmin;
  /** Whether browsers log in to the status page: only where operations need a key. */
  readonly #login: boolean;
  /** Whether the status page offers admin actions (`status.actions`, and a login to guard them). */
  readonly #actions: boolean;

  constructor(deps: OperationsDeps) {
    this.#deps = deps;
    const { status, hsts } = deps.config;
    const session = status.session ?? SESSION_DEFAULTS;
    this.#sessions = new OperationsSessions({
      idle: session.idle,
      maxAge: session.maxAge,
      max: session.max,
      // Behind TLS (the gateway sends HSTS), the cookie must never travel in clear text.
      secure: status.session?.secure ?? hsts !== undefined,
    });
    this.#login = status.enabled && deps.admission.protectOperations;
    this.#actions = this.#login && (status.actions ?? true);
    this.#admin = new StatusAdmin({
      admission: deps.admission,
      sessions: this.#sessions,
      upstreams: deps.upstreams,
      logger: deps.logger,
      send: (res, code, type, body, headers) => this.#send(res, code, type, body, headers),
      htmlPolicy,
      formTimeout: deps.config.limits.headersTimeout,
    });
  }

  /**
   * Whether the gateway can serve: not draining, the injected check passes and, with `ready.requireStore`, the
   * token store answers (probed afresh). `store` is the store's health (reported whether or not it is required).
   */
  async readiness(): Promise<{ ready: boolean; store: StoreHealthReport | undefined }> {
    const { ready, store, config } = this.#deps;
    const health = await store?.check();
    if (this.#deps.draining()) return { ready: false, store: health };
    try {
      if (ready && !(await ready())) return { ready: false, store: health };
    } catch {
      return { ready: false, store: health };
    }
    return { ready: !(config.ready.requireStore && health?.up === false), store: health };
  }

  /** Whether the gateway can serve (see {@link readiness}). */
  async isReady(): Promise<boolean> {
    return (await this.readiness()).ready;
  }

  /** The status document (safe to show: secrets are redacted by each upstream's status row). */
  async status(): Promise<GatewayStatus> {
    const { ready, store } = await this.readiness();
    return {
      ready,
      draining: this.#deps.draining(),
      uptimeSeconds: (Date.now() - this.#startedAt) / 1000,
      ...(store && { store }),
      upstreams: [...this.#deps.upstreams.values()].map((u) => u.status()),
    };
  }

  /**
   * Answers an operations request: true once answered, a {@link Refusal} for the caller to send as a problem,
   * false when the endpoint is off (the caller answers 404).
   */
  async serve(
    req: IncomingMessage,
    res: ServerResponse,
    op: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<boolean | Refusal> {
    const { config, registry, admission } = this.#deps;
    if (op === 'health' || op === 'ready') return this.#probe(res, path, headers);
    const status = op.startsWith('status');
    if (status && !config.status.enabled) return false;
    const actionPath = path.startsWith(ACTIONS);
    if (op === 'status.admin') {
      if (!this.#login || (actionPath && !this.#actions)) return false;
      if (crossSite(req)) return CROSS_SITE;
      if (path === '/status/login') return this.#done(await this.#admin.login(req, res, headers));
    }
    const who = this.#who(req, status);
    if (who === undefined) {
      // A browser (asking for HTML) without a session gets the login form; anything else, and a wrong key in the
      // header (which counts as a wrong key), gets the same 401 problem as every other path.
      const browser = (req.headers.accept ?? '').includes('text/html');
      if (path === '/status' && this.#login && browser && !req.headers[admission.apiKeyHeader]) {
        const { nonce, csp } = htmlPolicy();
        const page = renderLoginPage(nonce);
        this.#send(res, 401, 'text/html; charset=utf-8', page, {
          ...headers,
          ...admission.unauthorized.headers,
          'content-security-policy': csp,
        });
        return true;
      }
      return admission.refuseKey(req);
    }
    if (op === 'status.admin') {
      const call = { req, res, who, headers };
      if (path === '/status/logout') return this.#done(await this.#admin.logout(call));
      return this.#done(await this.#admin.action(call, path.slice(ACTIONS.length)));
    }
    if (op === 'metrics') {
      if (!registry) return false;
      const prefix = path === '/metrics' ? undefined : decodeURIComponent(path.slice('/metrics/'.length));
      this.#send(res, 200, registry.contentType, await metricsText(registry, prefix), headers);
      return true;
    }
    const doc = await this.status();
    if (op === 'status.json') {
      this.#send(res, 200, 'application/json', JSON.stringify(doc), headers);
      return true;
    }
    const { nonce, csp } = htmlPolicy();
    const page = renderStatusPage(doc, {
      nonce,
      refresh: config.status.refresh,
      source: '/status/json',
      csrf: who.session?.csrf,
      caller: who.session?.caller,
      actions: this.#actions,
    });
    this.#send(res, 200, 'text/html; charset=utf-8', page, { ...headers, 'content-security-policy': csp });
    return true;
  }

  /**
   * Who is asking: `{ caller: '' }` when operations are open, the key's name for a right key in the header, or
   * (for the status endpoints, whose paths the cookie is scoped to) the session's caller; undefined otherwise.
   */
  #who(req: IncomingMessage, status: boolean): OperationsCaller | undefined {
    const admission = this.#deps.admission;
    const session = status && this.#login ? this.#sessions.find(req) : undefined;
    if (!admission.protectOperations) return { caller: '', session };
    if (req.headers[admission.apiKeyHeader] !== undefined) {
      const caller = admission.caller(req);
      return caller === undefined ? undefined : { caller };
    }
    return session && { caller: session.caller, session };
  }

  #done(answer: Refusal | 'done'): true | Refusal {
    return answer === 'done' ? true : answer;
  }

  /** `/health` and `/ready`: open to everyone (orchestrators probe them without keys). */
  async #probe(res: ServerResponse, path: string, headers: Record<string, string>): Promise<true> {
    const { config } = this.#deps;
    if (path === '/health') {
      this.#send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }), headers);
      return true;
    }
    const { ready, store } = await this.readiness();
    const draining = this.#deps.draining();
    if (!ready && store?.up === false && !draining) {
      // `ready.requireStore` and the store is down: say which dependency, as a problem.
      const problem = makeProblem(
        503,
        'store-unavailable',
        'Token store unavailable',
        `The ${store.name} token store does not answer (ready.requireStore is on)`,
        path,
        headers[config.requestIdHeader] ?? '',
        { dependency: 'store', store },
      );
      sendProblem(res, problem, headers, this.#deps.security);
      return true;
    }
    const body = JSON.stringify({ status: ready ? 'ready' : 'not ready', draining, ...(store && { store }) });
    this.#send(res, ready ? 200 : 503, 'application/json', body, headers);
    return true;
  }

  #send(
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    headers: Record<string, string>,
  ): void {
    res.writeHead(status, {
      ...this.#deps.security,
      'content-security-policy': DATA_CSP,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}

/**
 * A fresh nonce and the CSP of an HTML page carrying it: the page's own style and script only (no inline
 * handlers, no other origin), fetches and form posts to this origin, and never inside a frame.
 */
function htmlPolicy(): { nonce: string; csp: string } {
  const nonce = randomBytes(18).toString('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { nonce, csp };
}
