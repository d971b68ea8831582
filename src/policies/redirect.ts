import { RedirectError, type RedirectHop, type RedirectRefusal } from '../core/errors.js';
import { parseOptions, redirectOptionsSchema } from '../core/options/index.js';
import { isSettlingOnAbort, settlesOnAbort, withContinuation } from '../core/pipeline.js';
import { copyHeaders, type HeaderRecord, HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler, Policy } from '../core/types.js';

/** Options of {@link followRedirects}. */
export interface RedirectOptions {
  /**
   * Most redirects followed for one call; one more fails with a `RedirectError` (`too-many`). `0` refuses every
   * redirect with that error (fetch's `redirect: 'error'`); `redirect: false` returns redirects as they are.
   * @default 10: got's default. fetch (and so ky) allows 20 and axios 21, for browsers following chains of
   * login, locale and tracking hops; between services one or two hops is normal and a long chain is a loop or a
   * misconfiguration, whose every hop would cost part of the call's total timeout.
   */
  readonly max?: number;
}

/** Redirect defaults; see {@link RedirectOptions}. */
export const REDIRECT_DEFAULTS = { max: 10 } as const;

/** The statuses that are followed (RFC 9110 §15.4): 300, 304 and 305/306 are returned as they are. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** The redirect policy object: a {@link Policy} with its settings. */
export interface RedirectPolicy extends Policy {
  readonly name: 'redirect';
  readonly max: number;
}

// Headers that describe a body: dropped with it when a redirect turns the request into a GET (fetch does the same).
const BODY_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
  'transfer-encoding',
];

/**
 * Follows 301, 302, 303, 307 and 308 redirects with a `Location`, up to `max` hops. Each hop goes through the rest
 * of the pipeline as a request of its own (so the retry, breaker and rate limiter of the hop's origin apply), and the
 * response lists the hops in `response.redirects`.
 *
 * Method and body follow RFC 9110 §15.4 as fetch applies it: 303 turns any method but HEAD into a body-less GET, 301
 * and 302 turn a POST into one, 307 and 308 keep method and body (a body sent once, a stream, cannot be sent again:
 * `RedirectError` `body-not-replayable`). Once a hop leaves the call's first origin (scheme, host or port differ),
 * every credential is dropped for the rest of the chain: headers the client treats as secret (`authorization`,
 * `cookie`, `proxy-authorization`, API-key headers, any name in `redact.headers`), and the client's `auth` policies
 * do not run again (`ctx.crossOrigin`).
 *
 * The standard pipeline places it just inside the total timeout, which so covers every hop.
 *
 * @example
 * const api = createClient({ baseUrl, redirect: { max: 3 } });
 * const res = await api.get('/moved');
 * res.redirects.map((hop) => hop.status); // [301]
 */
export function followRedirects(options: RedirectOptions = {}): RedirectPolicy {
  const o = parseOptions(redirectOptionsSchema, options, 'redirect');
  const max = o.max ?? REDIRECT_DEFAULTS.max;
  return {
    name: 'redirect',
    max,
    wrap: (next: Handler): Handler => {
      // A response that is not a redirect passes at the cost of one check. The total timeout of the presets, right
      // outside, runs this check in its own reaction (see withContinuation); alone, the policy adds one reaction.
      const then = (response: HttpResponse, request: HttpRequest, ctx: CallContext) => {
        if (!isRedirect(response)) return response;
        const override = ctx.options.redirect;
        if (override === false) return response;
        return follow(next, request, ctx, override?.max ?? max, response);
      };
      const handler = settlesOnAbort((request, ctx) => {
        const sent = next(request, ctx);
        if (ctx.options.redirect === false) return sent;
        return sent.then((response) => then(response, request, ctx));
      }, isSettlingOnAbort(next));
      return withContinuation(handler, { inner: next, then });
    },
  };
}

async function follow(
  next: Handler,
  first: HttpRequest,
  ctx: CallContext,
  max: number,
  answer: HttpResponse,
): Promise<HttpResponse> {
  let response = answer;
  const hops: RedirectHop[] = [];
  const wasCrossOrigin = ctx.crossOrigin;
  let attempts = ctx.attempt;
  let request = first;
  try {
    while (isRedirect(response)) {
      const status = response.status;
      const refuse = async (reason: RedirectRefusal, message: string): Promise<never> => {
        await response.dump();
        throw new RedirectError(reason, status, Object.freeze(hops.slice()), message, { request });
      };
      const target = locationOf(response, request);
      if (target === undefined) {
        return await refuse(
          'bad-location',
          `${request.method} ${request.redactedUrl} answered ${status} with a Location that is not an http(s) URL without credentials`,
        );
      }
      const shown = request.redactor.url(target.href);
      if (hops.length >= max) {
        return await refuse(
          'too-many',
          `Too many redirects: more than ${max} (the last, ${status}, to ${shown}); raise redirect.max if the chain is expected`,
        );
      }
      const toGet = status === 303 ? request.method !== 'HEAD' : status <= 302 && request.method === 'POST';
      if (!toGet && request.body !== undefined && !request.replayable) {
        return await refuse(
          'body-not-replayable',
          `Cannot follow the ${status} to ${shown}: the request body was a stream sent once; pass a function returning the body to make it replayable`,
        );
      }
      if (target.origin !== first.origin) ctx.crossOrigin = true;
      hops.push({ status, request });
      await response.dump();
      request = new HttpRequest({
        method: toGet ? 'GET' : request.method,
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        headers: hopHeaders(request, toGet, ctx.crossOrigin),
        body: toGet ? undefined : request.body,
        redactor: request.redactor,
      });
      // Each hop counts its own attempts (a retry policy inside restores the number only for an enclosing retry).
      ctx.attempt = 1;
      response = await next(request, ctx);
      attempts += ctx.attempt;
    }
  } finally {
    ctx.crossOrigin = wasCrossOrigin;
  }
  ctx.attempt = attempts;
  response.redirects = Object.freeze(hops);
  return response;
}

function isRedirect(response: HttpResponse): boolean {
  return REDIRECT_STATUSES.has(response.status) && response.headers.location !== undefined;
}

/** The `Location` resolved against the request's URL; undefined unless it is http(s) without user-info. */
function locationOf(response: HttpResponse, request: HttpRequest): URL | undefined {
  const given = response.headers.location;
  const location = Array.isArray(given) ? given[0] : given;
  if (typeof location !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(location, request.url);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  return url;
}

/** The next hop's headers: without body headers when the body goes, without any credential once cross-origin. */
function hopHeaders(request: HttpRequest, toGet: boolean, crossOrigin: boolean): HeaderRecord {
  const headers = copyHeaders(request.headers);
  // A Host the caller set names the old origin.
  delete headers.host;
  if (toGet) for (const name of BODY_HEADERS) delete headers[name];
  if (crossOrigin) {
    for (const name of Object.keys(headers)) if (request.redactor.isSecretHeader(name)) delete headers[name];
  }
  return headers;
}
