/**
 * What counts against an upstream's health (its circuit breaker) when the gateway forwards: only what the
 * upstream did. The library's `isServiceFailure` already leaves out the gateway's own refusals (limiter,
 * bulkhead), token failures and oversized bodies; this adds what only the gateway can see, the caller's side
 * of a streamed body: too large, too slow, or gone.
 */
import type { IncomingMessage } from 'node:http';
import { CallAbort } from '../core/context.js';
import type { ReqforgeError } from '../core/errors.js';
import type { CallContext } from '../core/types.js';
import { isServiceFailure, type OutcomePredicate } from '../policies/predicates.js';
import type { LimitStream } from './admission.js';

/** Failures that happen before the request could be sent at all: the upstream's, whatever the caller did. */
const UPSTREAM_ONLY = new Set(['ERR_CONNECTION_REFUSED', 'ERR_CONNECT_TIMEOUT', 'ERR_DNS', 'ERR_TLS']);

/** The abort of one forwarded call, carrying the caller's body so the breaker can tell whose failure it was. */
export class GatewayCall extends CallAbort {
  /** The caller's body as it streams upstream, when there is one. */
  body: LimitStream | undefined;
  /** The inbound API key's name, or `''` when no keys are configured. */
  caller = '';
  /** The inbound request, read for the client address only when the call has to queue. */
  req: IncomingMessage | undefined;
  /** Reads the (`trustProxy`-aware) client address of a request. */
  addressOf: ((req: IncomingMessage) => string) | undefined;

  /**
   * The key the upstream's bulkhead queues this call under when it is full: the API key's name, or the client
   * address when no keys are configured. Computed only then, so a free bulkhead costs nothing per request.
   */
  queueKey(): string {
    if (this.caller !== '') return this.caller;
    return this.req && this.addressOf ? this.addressOf(this.req) : '';
  }

  /**
   * Whether the caller's body is to blame for a failure now: it went over the limit, or it had not fully
   * arrived while the upstream was waiting for it (nothing buffered: the caller is slow or gone).
   */
  callerAtFault(): boolean {
    const body = this.body;
    if (!body) return false;
    return body.exceeded || (!body.writableEnded && body.readableLength === 0);
  }
}

/**
 * The breaker predicate of the gateway's upstream clients: {@link isServiceFailure}, except for failures
 * the caller's body caused (see {@link GatewayCall.callerAtFault}); connection failures always count.
 */
export const upstreamFailure: OutcomePredicate = (outcome, ctx) => {
  if (!isServiceFailure(outcome, ctx)) return false;
  if (outcome.response) return true;
  if (UPSTREAM_ONLY.has(outcome.error.code)) return true;
  const call = ctx.callAbort;
  return !(call instanceof GatewayCall && call.callerAtFault());
};

/** The gateway bulkhead's `keyBy`: the inbound key of the call (see {@link GatewayCall.queueKey}). */
export function inboundKey(_request: unknown, ctx: CallContext): string {
  const call = ctx.callAbort;
  return call instanceof GatewayCall ? call.queueKey() : '';
}

/** Whether an error is a timeout (total, attempt, headers or body). */
export function isTimeout(error: ReqforgeError): boolean {
  const code = error.code;
  return code === 'ERR_TIMEOUT' || code === 'ERR_HEADERS_TIMEOUT' || code === 'ERR_BODY_TIMEOUT';
}
