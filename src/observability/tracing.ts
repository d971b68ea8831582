/**
 * OpenTelemetry tracing for reqforge clients, on `@opentelemetry/api` only (the user brings the SDK): a span per
 * call (kind INTERNAL) around the whole pipeline, a child span per attempt (kind CLIENT) just outside the transport,
 * following the HTTP client semantic conventions, with W3C trace context injected into every attempt through the
 * API's propagator. What the policies decide (retries, breaker, limiter, bulkhead, tokens, store fallbacks) becomes
 * span events (see `tracing-events.ts`); token fetches get spans of their own (see `core/trace-hook.ts`).
 */
import type { Span, Tracer, TracerProvider } from '@opentelemetry/api';
import { z } from 'zod';
import { type DeadlineAwareHandler, deadlineEntry } from '../core/deadlines.js';
import { isReqforgeError } from '../core/errors.js';
import { objectWith, parseOptions } from '../core/options/index.js';
import { isSettlingOnAbort, settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import { parseRateLimitWait } from '../core/retry-after.js';
import { setSpanHook } from '../core/trace-hook.js';
import type { CallContext, Handler, Policy } from '../core/types.js';
import { VERSION } from '../version.js';
import { KNOWN_METHODS, serverOf } from './http-attributes.js';
import { loadOtelApi, type OtelApi, SUPPRESS_TRACING_KEY_NAME } from './otel.js';
import { type CallSpan, calls, traced } from './tracing-calls.js';
import { subscribeSpanEvents } from './tracing-events.js';

/** Tracing settings of a client (`createClient({ tracing: true })` or `{ tracing: { … } }`). */
export interface TracingOptions {
  /**
   * Where spans go.
   * @default the global tracer provider, the one your OpenTelemetry SDK registered (looked up on each call, so an
   * SDK started after the client is created is used too)
   */
  readonly tracerProvider?: TracerProvider;
  /**
   * Runs the transport with tracing suppressed in the OpenTelemetry context, so that
   * `@opentelemetry/instrumentation-undici` (or any instrumentation that honours suppression) records no second
   * CLIENT span for an attempt reqforge already traces; reqforge's own `traceparent` is the one sent.
   * `false` leaves other instrumentations alone (you then see their span as a child of reqforge's attempt span).
   * @default true
   */
  readonly suppressInstrumentation?: boolean;
  /** The `@opentelemetry/api` module to use instead of loading the installed one. */
  readonly api?: OtelApi;
}

/** The `tracing` client option: `true` for the defaults, or settings. */
export const tracingOptionSchema = z.union([
  z.boolean(),
  z.strictObject({
    tracerProvider: objectWith<TracerProvider>('an OpenTelemetry TracerProvider', ['getTracer']).optional(),
    suppressInstrumentation: z.boolean().optional(),
    api: objectWith<OtelApi>('the @opentelemetry/api module').optional(),
  }),
]);

/** The two tracing policies: `call` goes outermost, `attempt` innermost (just outside the transport). */
export interface ClientTracing {
  /** Opens the INTERNAL call span and subscribes the span events. */
  readonly call: Policy;
  /** Opens the CLIENT attempt span and injects the trace context into the attempt's headers. */
  readonly attempt: Policy;
}

/** The attributes every span of a request starts with (sampling-relevant ones, as the conventions ask). */
function requestAttributes(request: HttpRequest): Record<string, string | number> {
  const server = serverOf(request.origin);
  const known = KNOWN_METHODS.has(request.method);
  const attributes: Record<string, string | number> = {
    'http.request.method': known ? request.method : '_OTHER',
    'server.address': server.address,
    'server.port': server.port,
  };
  if (!known) attributes['http.request.method_original'] = request.method;
  return attributes;
}

/** A low-cardinality name: `GET` or `GET /users/{id}` when the call's route is a path template. */
function spanName(request: HttpRequest, ctx: CallContext): string {
  const method = KNOWN_METHODS.has(request.method) ? request.method : 'HTTP';
  const route = ctx.tags.route;
  return route?.includes('{') ? `${method} ${route}` : method;
}

/** The machine code of a failure, used as `error.type`. */
function errorType(error: unknown): string {
  if (isReqforgeError(error)) return error.code;
  return error instanceof Error ? error.name : 'Error';
}

/** Marks a span failed with `error`; only reqforge errors (whose messages are redacted) give their message. */
function recordFailure(api: OtelApi, span: Span, error: unknown): void {
  const type = errorType(error);
  span.setAttribute('error.type', type);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: type });
  span.addEvent('exception', {
    'exception.type': type,
    ...(isReqforgeError(error) && { 'exception.message': error.message }),
  });
}

/** Records a response on a span: its status, and an error status from 400 on (client spans). */
function recordResponse(api: OtelApi, span: Span, response: HttpResponse): void {
  span.setAttribute('http.response.status_code', response.status);
  if (response.status >= 400) {
    span.setAttribute('error.type', String(response.status));
    span.setStatus({ code: api.SpanStatusCode.ERROR });
  }
}

function tracerOf(api: OtelApi, options: TracingOptions): Tracer {
  return (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer('reqforge', VERSION);
}

/**
 * Installs the span hook token managers use: a token fetch becomes a span, the child of the call that needed it;
 * a background refresh starts its own trace, linked to the span that was active when it was scheduled.
 */
function installTokenSpans(api: OtelApi, tracer: Tracer): void {
  setSpanHook({
    run(name, attributes, fn, background) {
      const active = api.context.active();
      const parent = api.trace.getSpan(active);
      const span = tracer.startSpan(
        name,
        {
          kind: api.SpanKind.INTERNAL,
          attributes,
          ...(background && { root: true }),
          ...(background && parent && { links: [{ context: parent.spanContext() }] }),
        },
        active,
      );
      const base = background ? api.ROOT_CONTEXT : active;
      if (!span.isRecording()) return background ? api.context.with(base, fn) : fn();
      traced.inFlight++;
      return api.context.with(api.trace.setSpan(base, span), fn).then(
        (value) => {
          traced.inFlight--;
          span.end();
          return value;
        },
        (error: unknown) => {
          traced.inFlight--;
          recordFailure(api, span, error);
          span.end();
          throw error;
        },
      );
    },
  });
}

/**
 * @internal A check, cheap enough to run per call, that no SDK is registered: the global provider is the API's own
 * proxy with no delegate (always false for an explicit `tracerProvider`). Checked per call, so an SDK registered
 * later is used from then on.
 */
export function sdkAbsence(api: OtelApi, tracerProvider: unknown): () => boolean {
  const proxy = tracerProvider === undefined ? api.trace.getTracerProvider() : undefined;
  return proxy instanceof api.ProxyTracerProvider
    ? () => api.trace.getTracerProvider() === proxy && proxy.getDelegateTracer('reqforge') === undefined
    : () => false;
}

/**
 * The tracing policies of a client, or `undefined` when `@opentelemetry/api` is not installed (tracing then stays
 * off and nothing else changes). With the API but no SDK registered, each call costs one no-op span start.
 */
export function clientTracing(options: true | TracingOptions = true): ClientTracing | undefined {
  const parsed = options === true ? {} : parseOptions(tracingOptionSchema, options, 'tracing');
  const o: TracingOptions = typeof parsed === 'boolean' ? {} : (options as TracingOptions);
  const api = o.api ?? loadOtelApi();
  if (!api) return undefined;
  const tracer = tracerOf(api, o);
  installTokenSpans(api, tracer);
  // With no SDK registered, the global provider is the API's own proxy with no delegate: calls then skip tracing
  // after two property reads (the bench row "tracing (no SDK)" in the README). Checked per call, so an SDK registered
  // after the client was built is used from then on.
  const noSdk = sdkAbsence(api, o.tracerProvider);
  const suppressKey =
    o.suppressInstrumentation === false ? undefined : api.createContextKey(SUPPRESS_TRACING_KEY_NAME);

  const call: Policy = {
    name: 'tracing',
    wrap: (next: Handler): Handler =>
      settlesOnAbort((request, ctx) => {
        if (noSdk()) return next(request, ctx);
        const parent = api.context.active();
        const span = tracer.startSpan(
          `reqforge ${spanName(request, ctx)}`,
          { kind: api.SpanKind.INTERNAL, attributes: requestAttributes(request) },
          parent,
        );
        // No SDK (or an unsampled root): nothing to record and no context to carry.
        if (!span.isRecording() && !api.trace.isSpanContextValid(span.spanContext()))
          return next(request, ctx);
        if (span.isRecording()) {
          span.setAttribute('url.full', request.redactedUrl);
          const route = ctx.tags.route;
          if (route?.includes('{')) span.setAttribute('url.template', route);
          if (ctx.tags.service !== undefined) span.setAttribute('reqforge.service', ctx.tags.service);
        }
        const context = api.trace.setSpan(parent, span);
        calls.set(ctx, { span, context, askedWait: undefined });
        traced.inFlight++;
        const done = (response: HttpResponse | undefined, error?: unknown) => {
          traced.inFlight--;
          if (response) recordResponse(api, span, response);
          else {
            if (isReqforgeError(error) && error.code === 'ERR_CIRCUIT_OPEN')
              span.addEvent('reqforge.circuit_breaker.refused');
            recordFailure(api, span, error);
          }
          span.setAttribute('reqforge.attempts', ctx.attempt);
          span.end();
        };
        return settle(() => api.context.with(context, next, undefined, request, ctx), done);
      }, isSettlingOnAbort(next)),
    attach: (events) => subscribeSpanEvents(api, events),
  };

  const attempt: Policy = {
    name: 'tracingAttempt',
    wrap(next: Handler): Handler {
      const send = (
        request: HttpRequest,
        ctx: CallContext,
        run: (request: HttpRequest) => Promise<HttpResponse>,
      ): Promise<HttpResponse> => {
        const owner = calls.get(ctx);
        if (owner === undefined) return run(request);
        const attributes = requestAttributes(request);
        if (ctx.attempt > 1) attributes['http.request.resend_count'] = ctx.attempt - 1;
        const span = tracer.startSpan(
          spanName(request, ctx),
          { kind: api.SpanKind.CLIENT, attributes },
          owner.context,
        );
        if (span.isRecording()) span.setAttribute('url.full', request.redactedUrl);
        const context = api.trace.setSpan(owner.context, span);
        const carrier: Record<string, string> = {};
        api.propagation.inject(context, carrier);
        let sent = request;
        for (const _ in carrier) {
          sent = request.withHeaders(carrier);
          break;
        }
        const done = (response: HttpResponse | undefined, error?: unknown) => {
          if (response) {
            recordResponse(api, span, response);
            if (response.status === 429 || response.status === 503) noteAskedWait(span, owner, response, ctx);
          } else recordFailure(api, span, error);
          span.end();
        };
        const runContext = suppressKey ? context.setValue(suppressKey, true) : context;
        return settle(() => api.context.with(runContext, run, undefined, sent), done);
      };
      // While no traced call is in flight anywhere (the no-SDK path), attempts go straight through.
      const handler = settlesOnAbort(
        (request: HttpRequest, ctx: CallContext) =>
          traced.inFlight === 0 ? next(request, ctx) : send(request, ctx, (r) => next(r, ctx)),
        isSettlingOnAbort(next),
      );
      const entry = deadlineEntry(next);
      if (!entry) return handler;
      // Keep the transport's deadline entry visible to an attempt timeout placed around this policy.
      const withDeadline: DeadlineAwareHandler['withDeadline'] = (request, ctx, deadline) =>
        traced.inFlight === 0
          ? entry(request, ctx, deadline)
          : send(request, ctx, (r) => entry(r, ctx, deadline));
      return Object.assign(handler, { withDeadline });
    },
  };
  return { call, attempt };
}

/** Runs `start` and reports how it settled to `done` (a synchronous throw too), passing the outcome on. */
function settle(
  start: () => Promise<HttpResponse>,
  done: (response: HttpResponse | undefined, error?: unknown) => void,
): Promise<HttpResponse> {
  let result: Promise<HttpResponse>;
  try {
    result = start();
  } catch (error) {
    done(undefined, error);
    throw error;
  }
  return result.then(
    (response) => {
      done(response);
      return response;
    },
    (error: unknown) => {
      done(undefined, error);
      throw error;
    },
  );
}

/** Records what a 429 or 503 asked to wait (for the retry event that may follow) on the attempt span. */
function noteAskedWait(span: Span, owner: CallSpan, response: HttpResponse, ctx: CallContext): void {
  const asked = parseRateLimitWait(response.headers, ctx.clock.wallNow());
  owner.askedWait = asked;
  const raw = response.headers['retry-after'];
  if (raw !== undefined)
    span.setAttribute('http.response.header.retry-after', Array.isArray(raw) ? raw : [raw]);
}
