/**
 * The status page's POST endpoints: login (an API key posted once, answered with a session cookie), logout, and
 * the admin actions, reset a breaker and force a token refresh. Authentication is decided by the caller
 * (`operations.ts`); this file reads the small form body, checks the CSRF token of a cookie session and acts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isReqforgeError } from '../core/errors.js';
import type { Logger } from '../observability/logging.js';
import type { Admission, Refusal } from './admission.js';
import { csrfMatches, type OperationsSession, type OperationsSessions } from './operations-session.js';
import { renderLoginPage } from './status-html.js';
import type { UpstreamRuntime } from './upstreams.js';

/** Largest form body read (a key, an upstream name and a target fit many times over). */
const FORM_LIMIT = 8 * 1024;

/** Who is asking: an API key in the header (no CSRF needed), or a cookie session (CSRF token required). */
export interface OperationsCaller {
  /** The API key's name. */
  readonly caller: string;
  /** The cookie session, when that is how the caller got in. */
  readonly session?: OperationsSession | undefined;
}

/** One admin POST: the exchange, who sent it, and the headers every answer carries (the request id …). */
export interface AdminCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly who: OperationsCaller;
  readonly headers: Record<string, string>;
}

/** What an endpoint here answers: a refusal for the problem module, or the response it wrote itself. */
export type AdminAnswer = Refusal | 'done';

/** What the POST endpoints use. */
export interface StatusAdminDeps {
  readonly admission: Admission;
  readonly sessions: OperationsSessions;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly logger: Logger | undefined;
  /** Writes a response with the operations' security headers (and a fresh CSP). */
  readonly send: (
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    headers: Record<string, string>,
  ) => void;
  /** A fresh CSP nonce and its header, for an HTML answer. */
  readonly htmlPolicy: () => { nonce: string; csp: string };
  /** Ms a form body may take to arrive (`limits.headersTimeout`). */
  readonly formTimeout: number;
}

const refusal = (status: number, slug: string, title: string, detail: string): Refusal => ({
  status,
  slug,
  title,
  detail,
});

/**
 * Reads a small `application/x-www-form-urlencoded` body; undefined when it is another type or too large,
 * `'slow'` when it has not all arrived within `timeout` ms (a slow body must not hold a connection for the
 * whole `limits.requestTimeout`).
 */
export async function readForm(
  req: IncomingMessage,
  timeout: number,
): Promise<URLSearchParams | undefined | 'slow'> {
  const type = (req.headers['content-type'] ?? 'application/x-www-form-urlencoded').split(';')[0]?.trim();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  if (Number(req.headers['content-length'] ?? 0) > FORM_LIMIT) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'slow'>((resolve) => {
    timer = setTimeout(resolve, timeout, 'slow');
  });
  try {
    const body = await Promise.race([readSmall(req), late]);
    return body === 'slow' || body === undefined ? body : new URLSearchParams(body.toString('utf8'));
  } finally {
    clearTimeout(timer);
  }
}

/** The whole body, or undefined once it passes {@link FORM_LIMIT}. */
async function readSmall(req: IncomingMessage): Promise<Buffer | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const SLOW_FORM = refusal(408, 'request-timeout', 'Request Timeout', 'The form did not arrive in time');

const BAD_FORM = refusal(
  415,
  'bad-form',
  'Form expected',
  `Send application/x-www-form-urlencoded, at most ${FORM_LIMIT} bytes`,
);

/** The login, logout and admin actions of one gateway's status page. */
export class StatusAdmin {
  readonly #d: StatusAdminDeps;

  constructor(deps: StatusAdminDeps) {
    this.#d = deps;
  }

  /** `POST /status/login`: a right key starts a session (303 to the page); a wrong one counts toward the throttle. */
  async login(
    req: IncomingMessage,
    res: ServerResponse,
    headers: Record<string, string>,
  ): Promise<AdminAnswer> {
    const form = await readForm(req, this.#d.formTimeout);
    if (form === 'slow') return SLOW_FORM;
    if (!form) return BAD_FORM;
    const key = form.get('key') ?? '';
    const caller = key === '' ? undefined : this.#d.admission.keyName(key);
    if (caller === undefined) {
      const refused = this.#d.admission.refuseWrongKey(req);
      const { nonce, csp } = this.#d.htmlPolicy();
      const message = refused.status === 429 ? refused.detail : 'That key is not valid.';
      this.#d.send(res, refused.status, 'text/html; charset=utf-8', renderLoginPage(nonce, message), {
        ...headers,
        ...refused.headers,
        'content-security-policy': csp,
      });
      return 'done';
    }
    const { cookie } = this.#d.sessions.create(caller);
    this.#d.logger?.info({ caller }, 'status page login');
    this.#d.send(res, 303, 'text/plain; charset=utf-8', 'See /status', {
      ...headers,
      location: '/status',
      'set-cookie': cookie,
    });
    return 'done';
  }

  /** `POST /status/logout`: ends the session (CSRF token required) and clears the cookie. */
  async logout(call: AdminCall): Promise<AdminAnswer> {
    const form = await this.#form(call);
    if (!(form instanceof URLSearchParams)) return form;
    const cookie = this.#d.sessions.end(call.req);
    this.#answer(call, 'Logged out', {}, { 'set-cookie': cookie });
    return 'done';
  }

  /** `POST /status/actions/<action>`: reset a breaker or force a token refresh. */
  async action(call: AdminCall, action: string): Promise<AdminAnswer> {
    const form = await this.#form(call);
    if (!(form instanceof URLSearchParams)) return form;
    const name = form.get('upstream') ?? '';
    const upstream = this.#d.upstreams.get(name);
    if (!upstream) {
      return refusal(
        404,
        'unknown-upstream',
        'Unknown upstream',
        `No upstream is named "${name.slice(0, 64)}"`,
      );
    }
    if (action === 'reset-breaker') return this.#resetBreaker(call, upstream, form);
    if (action === 'refresh-token') return this.#refreshToken(call, upstream);
    return refusal(
      404,
      'unknown-action',
      'Unknown action',
      'The actions are reset-breaker and refresh-token',
    );
  }

  /** The form of an admin POST, once its CSRF token checks out; else the refusal. */
  async #form(call: AdminCall): Promise<URLSearchParams | Refusal> {
    const form = await readForm(call.req, this.#d.formTimeout);
    if (form === 'slow') return SLOW_FORM;
    if (!form) return BAD_FORM;
    return this.#csrf(call.req, form, call.who) ?? form;
  }

  #resetBreaker(call: AdminCall, upstream: UpstreamRuntime, form: URLSearchParams): AdminAnswer {
    const breaker = upstream.breaker;
    if (!breaker) {
      return refusal(409, 'no-breaker', 'No circuit breaker', `"${upstream.name}" has no circuit breaker`);
    }
    const target = form.get('target') ?? '';
    const known = breaker.snapshot().find((b) => b.key === target);
    // Only a breaker that exists: reset() would create one for any text it is given.
    if (!known) {
      return refusal(
        404,
        'unknown-breaker',
        'Unknown breaker',
        `"${upstream.name}" has no breaker for that target`,
      );
    }
    breaker.reset(target);
    this.#d.logger?.info(
      { caller: call.who.caller, upstream: upstream.name, target },
      'circuit breaker reset',
    );
    const message = `Breaker of "${upstream.name}" for ${target} reset (was ${known.state})`;
    this.#answer(call, message, { upstream: upstream.name, target, was: known.state });
    return 'done';
  }

  async #refreshToken(call: AdminCall, upstream: UpstreamRuntime): Promise<AdminAnswer> {
    const refresh = upstream.auth?.refresh;
    if (!refresh) {
      return refusal(409, 'no-token', 'No token to refresh', `"${upstream.name}" does not use OAuth2`);
    }
    let result: Awaited<ReturnType<typeof refresh>>;
    try {
      result = await refresh.call(upstream.auth);
    } catch (error) {
      const code = isReqforgeError(error) ? error.code : 'ERR_UNKNOWN';
      return refusal(
        502,
        'upstream-auth-failed',
        'Token refresh failed',
        `The token endpoint failed (${code})`,
      );
    }
    if (!result.refreshed) {
      const wait = result.retryInSeconds ?? 1;
      return {
        ...refusal(
          429,
          'refresh-too-soon',
          'Token refreshed too recently',
          `A forced refresh ran less than the minimum interval ago; try again in ${wait} s`,
        ),
        headers: { 'retry-after': String(wait) },
      };
    }
    this.#d.logger?.info({ caller: call.who.caller, upstream: upstream.name }, 'token refresh forced');
    this.#answer(call, `Token of "${upstream.name}" refreshed`, { upstream: upstream.name });
    return 'done';
  }

  /** A cookie session must echo its CSRF token (form field `csrf` or header `x-csrf-token`); a key header need not. */
  #csrf(req: IncomingMessage, form: URLSearchParams, who: OperationsCaller): Refusal | undefined {
    if (!who.session) return undefined;
    const header = req.headers['x-csrf-token'];
    const given = form.get('csrf') ?? (Array.isArray(header) ? header[0] : header);
    if (csrfMatches(who.session, given)) return undefined;
    return refusal(
      403,
      'csrf',
      'CSRF token missing or wrong',
      'Post the form of the status page (it carries the token)',
    );
  }

  /** JSON for `fetch` (the page's script, programs); a 303 back to the page for a plain form post. */
  #answer(
    call: AdminCall,
    message: string,
    facts: Record<string, unknown>,
    extra: Record<string, string> = {},
  ): void {
    const headers = { ...call.headers, ...extra };
    if ((call.req.headers.accept ?? '').includes('application/json')) {
      this.#d.send(
        call.res,
        200,
        'application/json',
        JSON.stringify({ ok: true, message, ...facts }),
        headers,
      );
    } else {
      this.#d.send(call.res, 303, 'text/plain; charset=utf-8', message, { ...headers, location: '/status' });
    }
  }
}
