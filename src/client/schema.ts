/**
 * The option sets of `createClient` and of one call, defined once through the options layer (`core/options`).
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import {
  fn,
  hooksSchema,
  httpOptionsSchema,
  objectWith,
  policySchema,
  presetFields,
  size,
  usageOptionSchema,
} from '../core/options/index.js';
import type { HeadersInit } from '../core/request.js';
import type { Transport } from '../core/types.js';
import type { QueryInit } from '../core/url.js';
import { tracingOptionSchema } from '../observability/tracing.js';

const record = <T>(what: string) => objectWith<T>(what);

/** Every option of `createClient`, as fields (sessions spread them into their service options). */
export const clientOptionFields = {
  baseUrl: z.string().optional(),
  headers: record<HeadersInit>('headers: an object, a Headers or a list of [name, value] pairs').optional(),
  query: record<QueryInit>(
    'query parameters: an object, a URLSearchParams or a list of [name, value] pairs',
  ).optional(),
  arrayFormat: z.enum(['repeat', 'brackets', 'comma']).optional(),
  ...presetFields,
  policies: z.array(policySchema).optional(),
  preset: z.enum(['default', 'standard']).optional(),
  hooks: hooksSchema.optional(),
  usage: usageOptionSchema.optional(),
  throwHttpErrors: z.union([z.boolean(), fn()]).optional(),
  transport: objectWith<Transport>('a Transport with handle() and close()', ['handle', 'close']).optional(),
  http: httpOptionsSchema.optional(),
  redact: z
    .strictObject({ headers: z.array(z.string()).optional(), params: z.array(z.string()).optional() })
    .optional(),
  propagate: z
    .union([
      z.literal(false),
      z.strictObject({
        requestIdHeader: z.string().min(1).optional(),
        correlationIdHeader: z.string().min(1).optional(),
        generateCorrelationId: z.union([z.boolean(), fn<() => string>()]).optional(),
      }),
    ])
    .optional(),
  maxBodySize: size({ positive: true }).optional(),
  decompress: z.boolean().optional(),
  errorBodyLimit: size({ positive: true }).optional(),
  clock: objectWith<Clock>('a clock with now(), setTimeout() and clearTimeout()', ['now']).optional(),
  name: z.string().optional(),
  tracing: tracingOptionSchema.optional(),
};
/** Everything `createClient` takes. */
export const clientOptionsSchema = z.strictObject(clientOptionFields);

/**
 * The options that configure the preset pipeline, each with the policy to put into `policies` instead: `policies`
 * replaces the preset, so they cannot be combined with it.
 */
export const PRESET_OPTIONS: Readonly<Record<string, string>> = Object.freeze({
  preset:
    'drop `preset` (it chooses the built-in pipeline that `policies` replaces), or drop `policies` to use the preset',
  timeout:
    'put `totalTimeout(…)` and `attemptTimeout(…)` into `policies`, or drop `policies` to use the preset',
  retry: 'put `retry(…)` into `policies`, or drop `policies` to use the preset',
  circuitBreaker: 'put `circuitBreaker(…)` into `policies`, or drop `policies` to use the preset',
  rateLimit: 'put `rateLimit(…)` into `policies`, or drop `policies` to use the preset',
  bulkhead: 'put `bulkhead(…)` into `policies`, or drop `policies` to use the preset',
  redirect:
    'put `followRedirects(…)` into `policies` (just inside `totalTimeout(…)`), or drop `policies` to use the preset',
  auth: 'put the auth policy into `policies` (inside the limiters, before `attemptTimeout(…)`), or drop `policies` to use the preset',
});

/** The keys of one call's options. Frozen: the per-call check is one set lookup per key. */
export const CALL_OPTION_KEYS: ReadonlySet<string> = Object.freeze(
  new Set([
    'params',
    'query',
    'headers',
    'json',
    'form',
    'body',
    'signal',
    'timeout',
    'throwHttpErrors',
    'idempotent',
    'retry',
    'redirect',
    'tags',
  ]),
);

const REDIRECTS =
  'reqforge spells it `redirect: { max: n }`, or `redirect: false` to get 3xx responses as they are';
/** The keys {@link Client.send} accepts: what may still be said about a request that is already built. */
export const SEND_OPTION_KEYS: ReadonlySet<string> = Object.freeze(
  new Set(['signal', 'timeout', 'throwHttpErrors', 'idempotent', 'retry', 'redirect', 'tags']),
);

/** Per-call options a later version adds (or that other clients spell differently), with what to do instead. */
export const CALL_OPTIONS_NOT_YET: ReadonlyMap<string, string> = new Map([
  ['maxRedirects', REDIRECTS],
  ['followRedirects', REDIRECTS],
  ['followRedirect', REDIRECTS],
  [
    'rateLimit',
    'per-call limits are not supported; give the client a `rateLimit`, or derive one with `api.with({ rateLimit })`',
  ],
]);
