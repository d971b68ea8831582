/**
 * What no auto-instrumentation records, as span events: each retry decision (attempt, delay, reason, the wait a
 * 429/503 asked for and whether it was honoured), breaker transitions, rate-limiter and bulkhead waits and refusals,
 * token cache hits, fetches, refreshes and failures (never a token, never a fingerprint), and token store fallbacks.
 * Retry events go to the call's span (found by its context); the others to the span active when they happen: the call
 * span inside a call, the token fetch span inside a fetch.
 */
import type { Attributes } from '@opentelemetry/api';
import type { EventHub } from '../core/events.js';
import type { ClientEvents } from '../core/types.js';
import type { OtelApi } from './otel.js';
import { callSpanOf, traced } from './tracing-calls.js';

/** Span event names, by the client event that makes them. */
export const SPAN_EVENTS = Object.freeze({
  retry: 'reqforge.retry',
  breakerTransition: 'reqforge.circuit_breaker.transition',
  breakerRefused: 'reqforge.circuit_breaker.refused',
  rateLimit: 'reqforge.rate_limiter',
  bulkhead: 'reqforge.bulkhead',
  token: 'reqforge.token',
  storeFallback: 'reqforge.token_store.fallback',
});

/** The span event name of each token event kind (`reqforge.token.cache_hit` …). */
const TOKEN_KINDS: Readonly<Record<string, string>> = Object.freeze({
  cacheHit: 'cache_hit',
  acquired: 'fetched',
  refreshed: 'refreshed',
  failed: 'failed',
  invalidated: 'invalidated',
  expired: 'expired',
});

interface Subscription {
  count: number;
  readonly offs: (() => void)[];
}

// Derived clients share their parent's events and build their policies again: subscribe each hub once.
const subscriptions = new WeakMap<EventHub<ClientEvents>, Subscription>();

/** Subscribes the span events to a client's events; returns what undoes it. */
export function subscribeSpanEvents(api: OtelApi, events: EventHub<ClientEvents>): () => void {
  let sub = subscriptions.get(events);
  if (sub) sub.count++;
  else {
    sub = { count: 1, offs: listen(api, events) };
    subscriptions.set(events, sub);
  }
  const held = sub;
  let attached = true;
  return () => {
    if (!attached) return;
    attached = false;
    if (--held.count > 0) return;
    for (const off of held.offs) off();
    subscriptions.delete(events);
  };
}

function listen(api: OtelApi, events: EventHub<ClientEvents>): (() => void)[] {
  // The span an event goes to, when one records (checked before any attributes are built).
  const active = () => {
    if (traced.inFlight === 0) return undefined;
    const span = api.trace.getActiveSpan();
    return span?.isRecording() ? span : undefined;
  };
  const onActive = (name: string, attributes: Attributes) => active()?.addEvent(name, attributes);
  return [
    events.on('retry', ({ ctx, attempt, delay, reason }) => {
      const call = traced.inFlight === 0 ? undefined : callSpanOf(ctx);
      if (!call?.span.isRecording()) return;
      const attributes: Attributes = {
        'reqforge.retry.attempt': attempt,
        'reqforge.retry.delay_ms': delay,
        'reqforge.retry.reason': reason,
      };
      const asked = call.askedWait;
      if (asked !== undefined) {
        attributes['reqforge.retry.asked_wait_ms'] = asked;
        attributes['reqforge.retry.asked_wait_honoured'] = delay >= asked;
        call.askedWait = undefined;
      }
      call.span.addEvent(SPAN_EVENTS.retry, attributes);
      if (reason === 'ERR_CIRCUIT_OPEN')
        call.span.addEvent(SPAN_EVENTS.breakerRefused, { 'reqforge.retry.attempt': attempt });
    }),
    events.on('breaker', ({ key, from, to }) =>
      onActive(SPAN_EVENTS.breakerTransition, {
        'reqforge.circuit_breaker.key': key,
        'reqforge.circuit_breaker.from': from,
        'reqforge.circuit_breaker.to': to,
      }),
    ),
    events.on('rateLimit', ({ key, outcome, wait }) => {
      if (traced.inFlight === 0 || (outcome === 'allowed' && wait === 0)) return;
      onActive(`${SPAN_EVENTS.rateLimit}.${outcome}`, {
        'reqforge.rate_limiter.key': key,
        'reqforge.rate_limiter.wait_ms': wait,
      });
    }),
    events.on('bulkhead', ({ outcome, wait }) =>
      onActive(`${SPAN_EVENTS.bulkhead}.${outcome}`, { 'reqforge.bulkhead.wait_ms': wait }),
    ),
    events.on('token', (event) => {
      const span = active();
      if (span === undefined) return;
      const attributes: Attributes = { 'reqforge.token.provider': event.provider };
      if ('source' in event && typeof event.source === 'string')
        attributes['reqforge.token.source'] = event.source;
      if ('error' in event && event.error instanceof Error) {
        const code = (event.error as { code?: unknown }).code;
        attributes['error.type'] = typeof code === 'string' ? code : event.error.name;
      }
      span.addEvent(`${SPAN_EVENTS.token}.${TOKEN_KINDS[event.kind] ?? event.kind}`, attributes);
    }),
    events.on('storeError', ({ store, operation, error }) => {
      const code = (error as { code?: unknown }).code;
      onActive(SPAN_EVENTS.storeFallback, {
        'reqforge.token_store': store,
        'reqforge.token_store.operation': operation,
        'error.type': typeof code === 'string' ? code : error.name,
      });
    }),
  ];
}
