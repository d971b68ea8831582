/** The span of each traced call in flight, keyed by its call context. */
import type { Context, Span } from '@opentelemetry/api';
import type { CallContext } from '../core/types.js';

/** A call's span, found by its call context (a WeakMap: the call context's lazy `bag` is never created for it). */
export interface CallSpan {
  readonly span: Span;
  readonly context: Context;
  /** The wait the last 429/503 asked for (Retry-After or RateLimit headers), for the next retry event. */
  askedWait: number | undefined;
}

/** @internal */
export const calls = new WeakMap<CallContext, CallSpan>();

/** The span of a call in flight, if it is traced. */
export function callSpanOf(ctx: CallContext): CallSpan | undefined {
  return calls.get(ctx);
}

/**
 * @internal Traced calls and token spans in flight in this process; while 0 (always, without an SDK), attempts and
 * span-event listeners return at once.
 */
export const traced = { inFlight: 0 };
