/**
 * Loads `@opentelemetry/api` (an optional peer dependency) on first use. Without it installed, tracing turns
 * itself off and nothing else changes: reqforge never needs the API to run.
 */
import { createRequire } from 'node:module';
import type * as OtelApiModule from '@opentelemetry/api';

/** The `@opentelemetry/api` module. */
export type OtelApi = typeof OtelApiModule;

let cached: OtelApi | null | undefined;

/**
 * The `@opentelemetry/api` module, or `undefined` when it is not installed. Loaded once. Every copy of the API
 * of one major version shares the global tracer provider and propagator the SDK registers (they live on a
 * global symbol), so the CommonJS build loaded here sees what an ESM-loaded SDK registered.
 */
export function loadOtelApi(): OtelApi | undefined {
  if (cached === undefined) {
    try {
      cached = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}

/** Whether something (a client with tracing) already tried to load the API: logging then reads the active span. */
export function tracingLoaded(): boolean {
  return cached !== undefined && cached !== null;
}

/**
 * The context key OpenTelemetry's SDK checks to suppress tracing (`suppressTracing()` in `@opentelemetry/core`).
 * `createContextKey` makes `Symbol.for(description)`, so the same key is made here from the API alone.
 */
export const SUPPRESS_TRACING_KEY_NAME = 'OpenTelemetry SDK Context Key SUPPRESS_TRACING';
