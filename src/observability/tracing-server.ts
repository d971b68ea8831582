/**
 * A SERVER span per inbound request (the gateway's, or your own `node:http` server's), continuing the caller's
 * trace from its `traceparent`/`tracestate` through the API's propagator, following the HTTP server semantic
 * conventions. The reqforge calls made while handling the request are its children.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { VERSION } from '../version.js';
import { KNOWN_METHODS } from './http-attributes.js';
import { loadOtelApi, type OtelApi } from './otel.js';
import { sdkAbsence, type TracingOptions } from './tracing.js';

/** An inbound request's span. */
export interface ServerSpan {
  /** The context to run the request's handling in (the span active, the caller's trace continued). */
  readonly context: Context;
  /** Runs `fn` with this span active. */
  run<T>(fn: () => T): T;
  /** The span's trace id (the caller's, when its trace is continued), for log lines. */
  readonly traceId: string;
  /**
   * Ends the span with the response status; `route` is the low-cardinality route (`/billing/*`), used in the span's
   * name and as `http.route`. Only a 5xx marks a server span failed (a 4xx is the caller's error).
   */
  end(status: number, route?: string, attributes?: Readonly<Record<string, string>>): void;
}

/** Starts server spans; see {@link serverTracing}. */
export interface ServerTracing {
  /** A span for `req`, or `undefined` when nothing would be recorded nor propagated (no SDK registered). */
  start(req: IncomingMessage): ServerSpan | undefined;
}

/**
 * Server spans on `@opentelemetry/api`, or `undefined` when the API is not installed.
 *
 * @example
 * const tracing = serverTracing();
 * createServer((req, res) => {
 *   const span = tracing?.start(req);
 *   res.on('close', () => span?.end(res.statusCode, '/orders/:id'));
 *   const handle = () => handleOrder(req, res);
 *   return span ? span.run(handle) : handle();
 * });
 */
export function serverTracing(
  options: Pick<TracingOptions, 'tracerProvider' | 'api'> = {},
): ServerTracing | undefined {
  const api = options.api ?? loadOtelApi();
  if (!api) return undefined;
  const tracer: Tracer = (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer(
    'reqforge',
    VERSION,
  );
  // No SDK registered: nothing would be recorded nor propagated, so a request costs two property reads.
  const noSdk = sdkAbsence(api, options.tracerProvider);
  return { start: (req) => (noSdk() ? undefined : startServerSpan(api, tracer, req)) };
}

function startServerSpan(api: OtelApi, tracer: Tracer, req: IncomingMessage): ServerSpan | undefined {
  const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
  const raw = req.method ?? 'GET';
  const method = KNOWN_METHODS.has(raw) ? raw : '_OTHER';
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const host = req.headers.host ?? '';
  const colon = host.lastIndexOf(':');
  const attributes: Record<string, string | number> = {
    'http.request.method': method,
    'url.scheme': 'encrypted' in req.socket ? 'https' : 'http',
    // The path only: a query may carry credentials (`?api_key=`), and the conventions allow leaving it out.
    'url.path': (q === -1 ? target : target.slice(0, q)).slice(0, 512),
  };
  if (method === '_OTHER') attributes['http.request.method_original'] = raw.slice(0, 32);
  if (host) {
    attributes['server.address'] = colon > host.lastIndexOf(']') ? host.slice(0, colon) : host;
    if (colon > host.lastIndexOf(']')) attributes['server.port'] = Number(host.slice(colon + 1));
  }
  const address = req.socket.remoteAddress;
  if (address) attributes['client.address'] = address;
  const agent = req.headers['user-agent'];
  if (agent) attributes['user_agent.original'] = agent.slice(0, 256);
  const span: Span = tracer.startSpan(
    method === '_OTHER' ? 'HTTP' : method,
    { kind: api.SpanKind.SERVER, attributes },
    parent,
  );
  if (!span.isRecording() && !api.trace.isSpanContextValid(span.spanContext())) return undefined;
  const context = api.trace.setSpan(parent, span);
  let ended = false;
  return {
    context,
    run: (fn) => api.context.with(context, fn),
    get traceId() {
      return span.spanContext().traceId;
    },
    end(status, route, extra) {
      if (ended) return;
      ended = true;
      span.setAttribute('http.response.status_code', status);
      if (route !== undefined) {
        span.setAttribute('http.route', route);
        span.updateName(`${method === '_OTHER' ? 'HTTP' : method} ${route}`);
      }
      if (extra) span.setAttributes(extra);
      if (status >= 500) {
        span.setAttribute('error.type', String(status));
        span.setStatus({ code: api.SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}
