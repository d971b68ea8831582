/**
 * The option sets of `createSession` and `session.client()`, through the options layer (`core/options`).
 */
import { z } from 'zod';
import { clientOptionFields } from '../client/schema.js';
import type { Clock } from '../core/clock.js';
import { notYet, objectWith, usageOptionSchema } from '../core/options/index.js';

const SESSION_LIMITS =
  'session-wide limits come in a later version; give each service its own `rateLimit` or `bulkhead`, or share one limiter between them with `rateLimit({ limiter })`';

const { name: _name, auth: _auth, ...serviceFields } = clientOptionFields;
const AUTH_IN_SESSION = notYet(
  "a session client sends its client id's token; pick another client id with `clientId`, or use createClient for other credentials",
);

/** One service of a session: client options (no `name`, no `auth`) plus the token it uses. */
export const sessionServiceSchema = z.strictObject({
  ...serviceFields,
  baseUrl: z.string(),
  clientId: z.string().min(1).optional(),
  scopes: z.array(z.string()).optional(),
  audience: z.string().optional(),
  auth: AUTH_IN_SESSION,
});

/** The overrides `session.client(name, overrides)` takes. */
export const sessionClientOverridesSchema = z.strictObject({
  ...serviceFields,
  name: clientOptionFields.name,
  baseUrl: notYet(
    'a client of a session uses its service’s baseUrl; add another service for another base URL',
  ),
  clientId: z.string().min(1).optional(),
  auth: AUTH_IN_SESSION,
});

/** Everything `createSession` takes. Credentials and token options are checked by the code that uses them. */
export const sessionOptionsSchema = z.strictObject({
  tokenUrl: z.string().optional(),
  clients: objectWith<Record<string, unknown>>('client secrets by client id').optional(),
  providers: objectWith<Record<string, unknown>>('token providers by client id').optional(),
  defaultClientId: z.string().optional(),
  services: z.record(z.string(), sessionServiceSchema),
  usage: usageOptionSchema.optional(),
  policies: clientOptionFields.policies,
  store: objectWith('a TokenStore', ['get', 'set', 'delete']).optional(),
  clock: objectWith<Clock>('a clock with now()', ['now']).optional(),
  tokens: objectWith<Record<string, unknown>>('TokenManager options').optional(),
  rateLimit: notYet(SESSION_LIMITS),
  bulkhead: notYet(SESSION_LIMITS),
  limits: notYet(SESSION_LIMITS),
});
