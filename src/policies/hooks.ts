import type { ReqforgeError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import { hooksSchema, parseOptions } from '../core/options/index.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler, Policy } from '../core/types.js';

type MaybePromise<T> = T | Promise<T>;

/** Callbacks around a call. Each may be async. */
export interface Hooks {
  /** Sees the request before it is sent; may return a replacement (for example with extra headers). */
  readonly onRequest?: (
    request: HttpRequest,
    ctx: CallContext,
  ) => MaybePromise<HttpRequest | undefined | void>;
  /** Sees every response, whatever its status; may return a replacement. */
  readonly onResponse?: (
    response: HttpResponse,
    ctx: CallContext,
  ) => MaybePromise<HttpResponse | undefined | void>;
  /** Sees errors (network, timeouts, policy errors); returning a response recovers from the error. */
  readonly onError?: (
    error: ReqforgeError,
    ctx: CallContext,
  ) => MaybePromise<HttpResponse | undefined | void>;
}

/**
 * Turns hooks into a policy. The client's `hooks` option places it outermost (once per call);
 * put `hooks(...)` inside a custom pipeline to run them per attempt instead.
 */
export function hooks(list: Hooks | readonly Hooks[]): Policy {
  parseOptions(hooksSchema, list, 'hooks');
  const all = Array.isArray(list) ? (list as readonly Hooks[]) : [list as Hooks];
  const onRequest = all.flatMap((h) => (h.onRequest ? [h.onRequest] : []));
  const onResponse = all.flatMap((h) => (h.onResponse ? [h.onResponse] : []));
  const onError = all.flatMap((h) => (h.onError ? [h.onError] : []));
  return {
    name: 'hooks',
    wrap:
      (next: Handler): Handler =>
      async (request, ctx) => {
        let req = request;
        for (const hook of onRequest) req = (await hook(req, ctx)) ?? req;
        let response: HttpResponse;
        try {
          response = await next(req, ctx);
        } catch (thrown) {
          const error = toReqforgeError(thrown, req, ctx.abort);
          for (const hook of onError) {
            const recovered = await hook(error, ctx);
            if (recovered) return recovered;
          }
          throw error;
        }
        for (const hook of onResponse) response = (await hook(response, ctx)) ?? response;
        return response;
      },
  };
}
