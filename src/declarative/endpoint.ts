/**
 * Endpoint declarations: `get('/products/{id}', { response: Product })` and its siblings, and the types that turn a
 * declaration into a call signature (path parameters from the template, `query`, `headers` and `body` from their
 * schemas, the result from the response schema).
 */
import type { CallOptions } from '../client/options.js';
import type { Duration } from '../core/options/index.js';
import type { HeadersInit } from '../core/request.js';
import type { Policy, TimeoutOptions } from '../core/types.js';
import type { PathParamValue, QueryInit } from '../core/url.js';
import type { CircuitBreakerOptions } from '../policies/circuit-breaker.js';
import type { RateLimitOptions } from '../policies/rate-limit.js';
import type { RetryOptions } from '../policies/retry.js';
import type { StandardSchemaV1 } from './standard-schema.js';

/** The HTTP methods an endpoint can declare. */
export type EndpointMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Keys of a call's argument object that are never path parameters. */
export const RESERVED_KEYS = ['query', 'body', 'headers', 'signal', 'timeout', 'retry'] as const;
/** One of {@link RESERVED_KEYS}. */
export type ReservedKey = (typeof RESERVED_KEYS)[number];

/** The `{name}` parameters of a path template, as a union of names. */
export type PathParamNames<S extends string> = S extends `${string}{${infer P}}${infer Rest}`
  ? P | PathParamNames<Rest>
  : never;

/**
 * The path itself when none of its parameters is a reserved key; otherwise a message type that makes the call to
 * `get()`/`post()`… a compile error naming the parameter.
 */
export type CheckedPath<P extends string> = [Extract<PathParamNames<P>, ReservedKey>] extends [never]
  ? P
  : `path parameter "${Extract<PathParamNames<P>, ReservedKey>}" is a reserved key: rename it in the template`;

/** What one endpoint declares besides its method and path. Every key is optional. */
export interface EndpointOptions {
  /** Schema of `query` (its input type types the argument). Without one, any query is accepted. */
  readonly query?: StandardSchemaV1;
  /** Schema of `headers`. Without one, any headers are accepted. */
  readonly headers?: StandardSchemaV1;
  /** Schema of `body`, sent as JSON. Without one, POST, PUT and PATCH accept any JSON value. */
  readonly body?: StandardSchemaV1;
  /** Schema the response's JSON must match: the call resolves to its output, or throws a `ResponseValidationError`. */
  readonly response?: StandardSchemaV1;
  /** Timeouts of this endpoint (ms or durations), replacing the client's; `false` turns them off. */
  readonly timeout?: TimeoutOptions | Duration | false;
  /** Retry settings of this endpoint, merged over the client's; `false` turns retries off. */
  readonly retry?: RetryOptions | false;
  /** This endpoint's breaker settings, replacing the client's; `false` gives it none. */
  readonly circuitBreaker?: CircuitBreakerOptions | false;
  /**
   * Endpoints with the same key share one circuit breaker (built from the client's settings); by default each
   * endpoint has its own.
   */
  readonly breakerKey?: string;
  /** A rate limit of this endpoint alone, applied inside the client's own limit. */
  readonly rateLimit?: RateLimitOptions;
  /** Credentials for this endpoint, replacing the client's; `false` sends none. */
  readonly auth?: Policy | false;
  /**
   * Whether a call is safe to send again. Defaults to the method's nature (GET, HEAD, PUT, DELETE yes; POST, PATCH
   * no). `false` on a PUT or DELETE keeps it from being retried except when it provably never left.
   */
  readonly idempotent?: boolean;
  /**
   * Send an idempotency key with every call: one generated per call (a UUID) and kept on every attempt, which makes
   * a POST or PATCH retryable. `true` uses the header `idempotency-key`; a string names the header. A key the caller
   * gives in `headers` is used instead.
   */
  readonly idempotencyKey?: boolean | string;
}

/** A declared endpoint: its method, path template and options. Build with {@link get}, {@link post}, … */
export interface Endpoint<
  M extends EndpointMethod = EndpointMethod,
  P extends string = string,
  O = EndpointOptions,
> {
  readonly method: M;
  readonly path: P;
  readonly options: O;
}

/** Any endpoint. */
// biome-ignore lint/suspicious/noExplicitAny: the options type parameter is inferred per endpoint
export type AnyEndpoint = Endpoint<EndpointMethod, string, any>;

type In<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : never;
type Out<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : never;

/** A part typed by a schema: required unless an empty object or `undefined` satisfies it. */
type SchemaPart<K extends string, S> =
  undefined extends In<S>
    ? { readonly [P in K]?: In<S> }
    : {} extends In<S>
      ? { readonly [P in K]?: In<S> }
      : { readonly [P in K]: In<S> };

type QueryPart<O> = O extends { readonly query: infer S }
  ? SchemaPart<'query', S>
  : { readonly query?: QueryInit };
type HeadersPart<O> = O extends { readonly headers: infer S }
  ? SchemaPart<'headers', S>
  : { readonly headers?: HeadersInit };
type BodyPart<M, O> = O extends { readonly body: infer S }
  ? SchemaPart<'body', S>
  : M extends 'POST' | 'PUT' | 'PATCH'
    ? { readonly body?: unknown }
    : {};

/**
 * The call options any endpoint call may carry: the client's own per-call `signal`, `timeout` and `retry`, with their
 * types, so what the client accepts per call (such as per-call retry settings) an endpoint call accepts too.
 */
export interface EndpointCallOptions {
  /** Aborts the call. */
  readonly signal?: CallOptions['signal'];
  /** Overrides the endpoint's timeouts for this call; `false` turns them off. */
  readonly timeout?: CallOptions['timeout'];
  /** Retry for this call: `false` turns it off; the endpoint's `retry` shapes it otherwise. */
  readonly retry?: CallOptions['retry'];
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The one argument of an endpoint call: path parameters at the top level, then the reserved keys. */
export type EndpointArgs<E> =
  E extends Endpoint<infer M, infer P, infer O>
    ? Simplify<
        { readonly [K in PathParamNames<P>]: PathParamValue } & QueryPart<O> &
          HeadersPart<O> &
          BodyPart<M, O> &
          EndpointCallOptions
      >
    : never;

/** What an endpoint call resolves to: the response schema's output, or `unknown` without one. */
export type EndpointResult<E> =
  E extends Endpoint<EndpointMethod, string, infer O>
    ? O extends { readonly response: infer S }
      ? Out<S>
      : unknown
    : never;

/** The call signature of an endpoint; the argument may be left out when nothing in it is required. */
export type EndpointCall<E> =
  {} extends EndpointArgs<E>
    ? (args?: EndpointArgs<E>) => Promise<EndpointResult<E>>
    : (args: EndpointArgs<E>) => Promise<EndpointResult<E>>;

/**
 * The method decorator an endpoint also is, for the class form (`@get('/pets/{id}') getPet(args) { … }`): the
 * decorated method's parameter must accept the endpoint's arguments and its declared result must be the endpoint's.
 */
export type EndpointDecorator<E> = <
  This,
  A extends {} extends EndpointArgs<E> ? [args?: EndpointArgs<E>] : [args: EndpointArgs<E>],
>(
  target: (this: This, ...args: A) => Promise<EndpointResult<E>>,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => Promise<EndpointResult<E>>>,
) => (this: This, ...args: A) => Promise<EndpointResult<E>>;

/** What `get()`, `post()`, … return: an endpoint for `defineClient`, usable as a method decorator too. */
export type DeclaredEndpoint<M extends EndpointMethod, P extends string, O> = Endpoint<M, P, O> &
  EndpointDecorator<Endpoint<M, P, O>>;

/** The endpoint each decorated method stands for (the class form reads it back without decorator metadata). */
export const DECORATED: WeakMap<object, { readonly name: string; readonly endpoint: AnyEndpoint }> =
  new WeakMap();

function endpoint<M extends EndpointMethod>(method: M) {
  return <P extends string, const O extends EndpointOptions = {}>(
    path: CheckedPath<P>,
    options?: O,
  ): DeclaredEndpoint<M, P, O> => {
    const declared: AnyEndpoint = { method, path: path as P, options: (options ?? {}) as O };
    const decorate = (_target: unknown, context: ClassMethodDecoratorContext) => {
      if (context.kind !== 'method' || context.static || context.private) {
        throw new TypeError(`@${method.toLowerCase()}() decorates public instance methods only`);
      }
      const name = String(context.name);
      const stub = function notConnected(this: unknown): Promise<never> {
        return Promise.reject(
          new TypeError(
            `${name}() is a declared endpoint: call it on the object connect(YourClass, …) returns`,
          ),
        );
      };
      DECORATED.set(stub, { name, endpoint: declared });
      return stub;
    };
    return Object.freeze(Object.assign(decorate, declared)) as unknown as DeclaredEndpoint<M, P, O>;
  };
}

/**
 * Declares a GET endpoint.
 *
 * @example
 * const getPet = get('/pets/{id}', { response: Pet });
 */
export const get = endpoint('GET');
/** Declares a HEAD endpoint (its result is `undefined`). */
export const head = endpoint('HEAD');
/** Declares a POST endpoint; `body` is sent as JSON. Not retried unless `idempotent` or `idempotencyKey` says so. */
export const post = endpoint('POST');
/** Declares a PUT endpoint; `body` is sent as JSON. */
export const put = endpoint('PUT');
/** Declares a PATCH endpoint; `body` is sent as JSON. Not retried unless `idempotent` or `idempotencyKey` says so. */
export const patch = endpoint('PATCH');
/** Declares a DELETE endpoint (`delete` is a reserved word). */
export const del = endpoint('DELETE');
