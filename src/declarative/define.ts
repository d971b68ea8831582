/**
 * `defineClient`: a service's endpoints declared once, connected to a transport, auth and policies as many times as
 * needed. Each endpoint gets its own pipeline (see `pipeline.ts`) on one shared connection pool.
 */
import { inspect } from 'node:util';
import { type Client, type ClientJson, createClient } from '../client/client.js';
import type { ClientOptions } from '../client/options.js';
import { InvalidOptionError } from '../core/errors.js';
import { parseOptions } from '../core/options/index.js';
import { mergeHeaders } from '../core/request.js';
import type { CircuitBreakerOptions } from '../policies/circuit-breaker.js';
import type { RetryOptions } from '../policies/retry.js';
import { endpointCall, templateParams } from './call.js';
import { type AnyEndpoint, type EndpointCall, RESERVED_KEYS } from './endpoint.js';
import { type ClientResilience, endpointPolicies, resolveResilience, SharedPolicies } from './pipeline.js';
import { connectOptionsSchema, defineClientOptionsSchema, endpointOptionsSchema } from './schema.js';

/** Endpoints by name, as `defineClient` takes them. */
export type Endpoints = Readonly<Record<string, AnyEndpoint>>;

/**
 * `resilience`: `true` (the default) gives every endpoint retry and a circuit breaker, like PyFly's
 * `@service_client`; `false` neither, like `@http_client` (timeouts stay); an object sets both.
 */
export type Resilience =
  | boolean
  | { readonly retry?: RetryOptions | false; readonly circuitBreaker?: CircuitBreakerOptions | false };

/**
 * Options of `connect()` (and the client-level part of `defineClient`): those of `createClient` except `policies`
 * and `preset` (each endpoint builds its pipeline), plus `resilience`.
 */
export interface ConnectOptions extends Omit<ClientOptions, 'policies' | 'preset'> {
  /** @default true: retry (3 retries) and a circuit breaker per endpoint (opens after 5 consecutive failures) */
  readonly resilience?: Resilience;
}

/** Options of {@link defineClient}: client-level defaults and the endpoints. */
export interface DefineClientOptions<E extends Endpoints> extends ConnectOptions {
  /** The endpoints, by the name they are called by. */
  readonly endpoints: E;
}

/** What {@link ClientDefinition.connect} returns besides the endpoints. */
export interface ConnectedExtras {
  /** The underlying client (events: `$client.on('retry', …)`; its pool is shared by every endpoint). */
  readonly $client: Client;
  /** Closes the connection pool (when the client created it). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** The base client (redacted) and each endpoint's policies, as `JSON.stringify` and `util.inspect` print them. */
  toJSON(): ConnectedJson;
}

/** The printed form of a connected client: the base client (redacted) and each endpoint's policy names. */
export interface ConnectedJson {
  readonly client: ClientJson;
  /** Each endpoint's pipeline, outermost policy first. */
  readonly endpoints: Readonly<Record<string, readonly string[]>>;
}

/** A connected client: one typed function per endpoint. */
export type ConnectedClient<E extends Endpoints> = {
  readonly [K in keyof E]: EndpointCall<E[K]>;
} & ConnectedExtras;

/** A client definition: connect it with auth, a transport and overrides. */
export interface ClientDefinition<E extends Endpoints> {
  /** The declared endpoints. */
  readonly endpoints: E;
  /** The client-level options given to `defineClient` (without the endpoints). */
  readonly options: ConnectOptions;
  /**
   * Builds a client for the definition; `options` override the definition's (headers merge; `resilience`,
   * `retry` and `circuitBreaker` given here replace the definition's three together).
   */
  connect(options?: ConnectOptions): ConnectedClient<E>;
}

/** Endpoint names that would shadow what a connected client or a promise needs. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'close',
  'then',
  'toJSON',
  'constructor',
  '__proto__',
  'prototype',
]);
const PRESET_KEYS = [
  'timeout',
  'retry',
  'circuitBreaker',
  'rateLimit',
  'bulkhead',
  'auth',
  'resilience',
] as const;
const RESILIENCE_KEYS = ['resilience', 'retry', 'circuitBreaker'] as const;

function checkEndpoint(name: string, ep: AnyEndpoint): void {
  const where = `endpoints.${name}`;
  if (RESERVED_NAMES.has(name) || name.startsWith('$')) {
    throw new InvalidOptionError(
      where,
      `"${name}" is reserved on a connected client; choose another endpoint name`,
    );
  }
  parseOptions(endpointOptionsSchema, ep.options, where);
  const names = templateParams(ep.path);
  const seen = new Set<string>();
  for (const p of names) {
    if (!/^[A-Za-z_$][\w$-]*$/.test(p)) {
      throw new InvalidOptionError(
        `${where}.path`,
        `the template has a parameter "{${p.slice(0, 40)}}" that is not a name`,
      );
    }
    if ((RESERVED_KEYS as readonly string[]).includes(p)) {
      throw new InvalidOptionError(
        `${where}.path`,
        `the path parameter "${p}" is a reserved key of the call's argument (${RESERVED_KEYS.join(', ')}); rename it in the template`,
      );
    }
    if (seen.has(p)) throw new InvalidOptionError(`${where}.path`, `the path parameter "${p}" appears twice`);
    seen.add(p);
  }
  if ((ep.method === 'GET' || ep.method === 'HEAD') && ep.options.body !== undefined) {
    throw new InvalidOptionError(
      `${where}.body`,
      `a ${ep.method} request has no body; send the values in "query"`,
    );
  }
}

function merge(definition: ConnectOptions, given: ConnectOptions): ConnectOptions {
  const out: Record<string, unknown> = { ...definition };
  if (RESILIENCE_KEYS.some((k) => given[k] !== undefined)) for (const k of RESILIENCE_KEYS) delete out[k];
  Object.assign(out, given);
  if (definition.headers !== undefined && given.headers !== undefined) {
    out.headers = mergeHeaders(mergeHeaders({}, definition.headers), given.headers);
  }
  return out as ConnectOptions;
}

function connect<E extends Endpoints>(
  definition: ConnectOptions,
  endpoints: E,
  given: ConnectOptions,
): ConnectedClient<E> {
  parseOptions(connectOptionsSchema, given);
  const options = merge(definition, given);
  const client: ClientResilience = {
    ...resolveResilience(options),
    timeout: options.timeout,
    rateLimit: options.rateLimit,
    bulkhead: options.bulkhead,
    auth: options.auth,
  };
  const rest: Record<string, unknown> = { ...options };
  for (const key of PRESET_KEYS) delete rest[key];
  const base = createClient({ ...(rest as ClientOptions), policies: [] });
  const shared = new SharedPolicies(client);
  const out: Record<string, unknown> = {};
  const pipelines: Record<string, readonly string[]> = {};
  for (const [name, ep] of Object.entries(endpoints)) {
    const policies = endpointPolicies(name, ep, client, shared);
    out[name] = endpointCall(name, ep, base.with({ policies }));
    pipelines[name] = policies.map((p) => p.name);
  }
  const close = () => base.close();
  const toJSON = (): ConnectedJson => ({ client: base.toJSON(), endpoints: pipelines });
  Object.defineProperties(out, {
    $client: { value: base },
    close: { value: close },
    [Symbol.asyncDispose]: { value: close },
    toJSON: { value: toJSON },
    [inspect.custom]: { value: (_d: number, o: object) => `ConnectedClient ${inspect(toJSON(), o)}` },
  });
  return Object.freeze(out) as ConnectedClient<E>;
}

/**
 * Declares a service's endpoints once: path parameters are checked at compile time, `query`, `headers` and `body`
 * are typed from their schemas, results take the response schema's output type, and each endpoint carries its own
 * timeouts, retry, breaker, rate limit and auth. Everything is validated here, so a mistake fails at start-up.
 *
 * @example
 * const Pets = defineClient({
 *   baseUrl: 'http://pets:8080',
 *   endpoints: {
 *     getPet: get('/pets/{id}', { response: Pet }),
 *     addPet: post('/pets', { body: NewPet, response: Pet, idempotencyKey: true }),
 *   },
 * });
 * const pets = Pets.connect({ auth: bearerAuth(token) });
 * const rex = await pets.getPet({ id: 1 });
 */
export function defineClient<const E extends Endpoints>(
  options: DefineClientOptions<E>,
): ClientDefinition<E> {
  parseOptions(defineClientOptionsSchema, options);
  const { endpoints, ...clientLevel } = options;
  for (const [name, ep] of Object.entries(endpoints)) checkEndpoint(name, ep);
  resolveResilience(clientLevel);
  const frozen = Object.freeze({ ...endpoints });
  return Object.freeze({
    endpoints: frozen,
    options: Object.freeze(clientLevel),
    connect: (given: ConnectOptions = {}) => connect(clientLevel, frozen, given),
  });
}
