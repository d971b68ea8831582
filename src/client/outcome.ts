/**
 * What a client does once its pipeline settles: the attempt count on the response, an HTTP error when the client
 * throws on the status, the `response` or `error` event, and the end of following the caller's signal.
 */
import type { Clock } from '../core/clock.js';
import { CallAbort } from '../core/context.js';
import type { ReqforgeError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import type { HttpRequest } from '../core/request.js';
import { createHttpError, type HttpResponse } from '../core/response.js';
import type { CallContext } from '../core/types.js';
import type { CallOptions } from './options.js';

/** @internal One client's settlement rules (made once per client, used by every call). */
export class CallOutcome {
  readonly #clock: Clock;
  readonly #throws: (status: number) => boolean;
  readonly #errorBodyLimit: number;

  constructor(clock: Clock, throws: (status: number) => boolean, errorBodyLimit: number) {
    this.#clock = clock;
    this.#throws = throws;
    this.#errorBodyLimit = errorBodyLimit;
  }

  /** A response came back: an HTTP error when the client throws on its status, else the `response` event. */
  answered(
    request: HttpRequest,
    response: HttpResponse,
    ctx: CallContext,
    options: CallOptions,
  ): HttpResponse | Promise<HttpResponse> {
    try {
      response.attempts = ctx.attempt;
      const shouldThrow =
        options.throwHttpErrors === undefined
          ? this.#throws(response.status)
          : options.throwHttpErrors && !response.ok;
      if (shouldThrow) {
        return createHttpError(response, this.#errorBodyLimit).then(
          (error) => this.failed(request, error, ctx, options),
          (thrown: unknown) => this.failed(request, thrown, ctx, options),
        );
      }
      const events = ctx.events;
      if (events.has('response')) {
        events.emit('response', { request, response, ctx, duration: this.#clock.now() - ctx.startedAt });
      }
    } catch (thrown) {
      return this.failed(request, thrown, ctx, options);
    }
    settled(ctx, options);
    return response;
  }

  /** The call failed: the error, normalised, with the `error` event. */
  failed(request: HttpRequest, thrown: unknown, ctx: CallContext, options: CallOptions): never {
    const error: ReqforgeError = toReqforgeError(thrown, request, ctx.abort);
    try {
      const events = ctx.events;
      if (events.has('error'))
        events.emit('error', { request, error, ctx, duration: this.#clock.now() - ctx.startedAt });
    } finally {
      settled(ctx, options);
    }
    throw error;
  }
}

/** A body still being read keeps following the caller's signal until it ends (see CallAbort.retain). */
function settled(ctx: CallContext, options: CallOptions): void {
  if (options.signal && !(options.signal instanceof CallAbort)) ctx.callAbort.release();
}
