import type { HttpRequest } from './request.js';
import type { HttpResponse } from './response.js';
import type { CallContext, Handler, Policy } from './types.js';

/**
 * Builds a {@link Policy} from a name and a wrap function.
 *
 * @example
 * const stamp = definePolicy('stamp', (next) => (req, ctx) => next(req.withHeaders({ 'x-stamp': '1' }), ctx));
 */
export function definePolicy(name: string, wrap: (next: Handler) => Handler): Policy {
  return { name, wrap };
}

/**
 * Folds policies around an innermost handler: the first policy is the outermost.
 * Runs once at client construction, so calls pay nothing for composition. When the list follows redirects (a
 * policy named `redirect`), every policy named `auth` is skipped on hops that left the call's origin
 * (`ctx.crossOrigin`): credentials never go to an origin the caller did not name.
 */
export function compose(policies: readonly Policy[], innermost: Handler): Handler {
  const redirects = policies.some((p) => p.name === 'redirect');
  let handler = innermost;
  for (let i = policies.length - 1; i >= 0; i--) {
    const policy = policies[i]!;
    const inner = handler;
    handler = policy.wrap(inner);
    if (redirects && policy.name === 'auth') handler = notAcrossOrigins(handler, inner);
  }
  return handler;
}

/** `authed`, except on a redirect hop to a foreign origin, which goes to `inner` without credentials. */
function notAcrossOrigins(authed: Handler, inner: Handler): Handler {
  return settlesOnAbort(
    (request, ctx) => (ctx.crossOrigin ? inner(request, ctx) : authed(request, ctx)),
    isSettlingOnAbort(authed) && isSettlingOnAbort(inner),
  );
}

/**
 * @internal Marks a handler that settles promptly once `ctx.abort` fires (provided what it calls does too): the
 * undici transport, and the built-in policies around such a handler. A timeout around a marked handler needs no
 * race of its own, which saves a promise and a microtask hop per call; anything unmarked gets the race.
 */
export const SETTLES_ON_ABORT: unique symbol = Symbol('reqforge.settlesOnAbort');

/** @internal Marks `handler` as settling promptly on abort when `when` is true; returns it. */
export function settlesOnAbort<H extends Handler>(handler: H, when = true): H {
  if (when) (handler as H & { [SETTLES_ON_ABORT]?: true })[SETTLES_ON_ABORT] = true;
  return handler;
}

/** @internal Whether `handler` was marked with {@link settlesOnAbort}. */
export function isSettlingOnAbort(handler: Handler): boolean {
  return (handler as Handler & { [SETTLES_ON_ABORT]?: true })[SETTLES_ON_ABORT] === true;
}

/**
 * @internal What a handler does once its inner handler answered, when that is a check that usually passes the
 * response on (the redirect policy: "is this a redirect?"). A policy right outside it that already reacts to the
 * inner promise (the total timeout) may call `inner` itself and run `then` in its own reaction: one promise and one
 * reaction fewer per call. `then` returns the response itself when it has nothing to do.
 */
export interface Continuation {
  readonly inner: Handler;
  then(response: HttpResponse, request: HttpRequest, ctx: CallContext): HttpResponse | Promise<HttpResponse>;
}

const CONTINUATION: unique symbol = Symbol('reqforge.continuation');

/** @internal Marks `handler` as `continuation.inner` followed by `continuation.then`; returns it. */
export function withContinuation<H extends Handler>(handler: H, continuation: Continuation): H {
  (handler as H & { [CONTINUATION]?: Continuation })[CONTINUATION] = continuation;
  return handler;
}

/** @internal The {@link Continuation} `handler` was marked with, if any. */
export function continuationOf(handler: Handler): Continuation | undefined {
  return (handler as Handler & { [CONTINUATION]?: Continuation })[CONTINUATION];
}
