/**
 * The option sets of `createSession` and `session.client()`, through the options layer (`core/options`).
 */
import { z } from 'zod';
import { clientOptionFields } from '../client/schema.js';
import type { Clock } from '../core/clock.js';
import { notYet, objectWith, usageOptionSchema } from '../core/options/index.js';

const { name: _name, auth: _auth, ...serviceFields } = clientOptionFields;
/** What a session sets for every client (the service and `session.client()` override it field by field). */
const { baseUrl: _baseUrl, policies: _policies, clock: _clock, ...settingFields } = serviceFields;
const resourceSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
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
  resource: resourceSchema.optional(),
  auth: AUTH_IN_SESSION,
});

/** One client id's entry in `clients` when it is an object (a bare string or Secret is the secret alone). */
export const sessionClientEntrySchema = z.strictObject({
  clientSecret: z.unknown(),
  authMethod: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
  scopes: z.array(z.string()).optional(),
  audience: z.string().min(1).optional(),
  resource: resourceSchema.optional(),
  extraParams: z.record(z.string(), z.string()).optional(),
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
  ...settingFields,
  tokenUrl: z.string().optional(),
  issuer: z.string().optional(),
  clients: objectWith<Record<string, unknown>>('client secrets by client id').optional(),
  providers: objectWith<Record<string, unknown>>('token providers by client id').optional(),
  defaultClientId: z.string().optional(),
  services: z.record(z.string(), sessionServiceSchema),
  usage: usageOptionSchema.optional(),
  policies: clientOptionFields.policies,
  store: objectWith('a TokenStore', ['get', 'set', 'delete']).optional(),
  clock: objectWith<Clock>('a clock with now()', ['now']).optional(),
  tokens: objectWith<Record<string, unknown>>('TokenManager options').optional(),
  limits: notYet(
    'session-wide usage limits are not supported yet; give each service its own `rateLimit`, or set one on the session',
  ),
});
