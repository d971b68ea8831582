/**
 * reqforge tracing on `@opentelemetry/api` (an optional peer; you bring the SDK): `createClient({ tracing: true })`
 * for clients, {@link serverTracing} for your own `node:http` server's inbound requests. See docs/observability.md.
 * @packageDocumentation
 */
export { loadOtelApi, type OtelApi } from './observability/otel.js';
export { type ClientTracing, clientTracing, type TracingOptions } from './observability/tracing.js';
export { type CallSpan, callSpanOf } from './observability/tracing-calls.js';
export { SPAN_EVENTS } from './observability/tracing-events.js';
export { type ServerSpan, type ServerTracing, serverTracing } from './observability/tracing-server.js';
