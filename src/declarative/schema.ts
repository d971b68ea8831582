/**
 * The option sets of `defineClient`, `connect` and each endpoint, defined through the options layer
 * (`core/options`): unknown keys get a did-you-mean, messages name the path and never print a value.
 */
import { z } from 'zod';
import { clientOptionFields } from '../client/schema.js';
import { presetFields, rateLimitOptionsSchema } from '../core/options/index.js';
import type { AnyEndpoint } from './endpoint.js';
import { isStandardSchema, type StandardSchemaV1 } from './standard-schema.js';

const schema = z.custom<StandardSchemaV1>(isStandardSchema, {
  error: 'expected a Standard Schema (zod, valibot, arktype …, or typed<T>())',
});

/** One endpoint's options. */
export const endpointOptionsSchema = z.strictObject({
  query: schema.optional(),
  headers: schema.optional(),
  body: schema.optional(),
  response: schema.optional(),
  timeout: presetFields.timeout,
  retry: presetFields.retry,
  circuitBreaker: presetFields.circuitBreaker,
  breakerKey: z.string().min(1).optional(),
  rateLimit: rateLimitOptionsSchema.optional(),
  auth: presetFields.auth,
  idempotent: z.boolean().optional(),
  idempotencyKey: z
    .union([z.boolean(), z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name')])
    .optional(),
});

const { policies: _policies, preset: _preset, ...clientFields } = clientOptionFields;

/** `resilience`: `true` = retry + circuit breaker (PyFly's `@service_client`), `false` = neither (`@http_client`). */
export const resilienceSchema = z.union([
  z.boolean(),
  z.strictObject({ retry: presetFields.retry, circuitBreaker: presetFields.circuitBreaker }),
]);

/** What `connect()` takes: the client options (no `policies`/`preset`: endpoints build their own) and `resilience`. */
export const connectOptionsSchema = z.strictObject({
  ...clientFields,
  resilience: resilienceSchema.optional(),
});

const endpointSchema = z.custom<AnyEndpoint>(
  (v) =>
    (typeof v === 'function' || (typeof v === 'object' && v !== null)) &&
    typeof (v as Partial<AnyEndpoint>).method === 'string' &&
    typeof (v as Partial<AnyEndpoint>).path === 'string',
  { error: 'expected an endpoint built with get(), post(), put(), patch(), del() or head()' },
);

/** What `defineClient()` takes. */
export const defineClientOptionsSchema = z.strictObject({
  ...connectOptionsSchema.shape,
  endpoints: z.record(z.string(), endpointSchema),
});
