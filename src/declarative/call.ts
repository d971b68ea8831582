/**
 * One endpoint's call function: turns the argument object into a call of the endpoint's client (path parameters,
 * `query`, `headers`, `body` as JSON, call options), adds the idempotency key, reads the JSON result and validates
 * it. Kept free of per-call closures: the hot path is one options object and the client's own call.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '../client/client.js';
import type { CallOptions } from '../client/options.js';
import { InvalidRequestError } from '../core/errors.js';
import { checkKeys } from '../core/options/index.js';
import { type HeadersInit, mergeHeaders } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import { type AnyEndpoint, type EndpointOptions, RESERVED_KEYS } from './endpoint.js';
import { ResponseValidationError } from './errors.js';
import { checksAtRunTime, runSchema, type StandardSchemaV1 } from './standard-schema.js';

const TEMPLATE_PARAM = /\{([^{}]*)\}/g;

/** The parameter names of a path template, in order. */
export function templateParams(path: string): string[] {
  return [...path.matchAll(TEMPLATE_PARAM)].map((m) => m[1] ?? '');
}

type Args = Readonly<Record<string, unknown>>;
const NO_ARGS: Args = Object.freeze({});

const toJson = (r: HttpResponse): Promise<unknown> => r.json();
const toNothing = (r: HttpResponse): Promise<undefined> => r.dump().then(() => undefined);

function validator(name: string, schema: StandardSchemaV1) {
  return async (response: HttpResponse): Promise<unknown> => {
    const value = await response.json();
    const result = await runSchema(schema, value);
    if (result.issues) {
      throw new ResponseValidationError(name, response.status, result.issues, { request: response.request });
    }
    return result.value;
  };
}

/** Builds the function that calls endpoint `name` through `client`. */
export function endpointCall(
  name: string,
  endpoint: AnyEndpoint,
  client: Client,
): (args?: Args) => Promise<unknown> {
  const { method, path } = endpoint;
  const o = endpoint.options as EndpointOptions;
  const names = templateParams(path);
  const known: ReadonlySet<string> = Object.freeze(new Set<string>([...names, ...RESERVED_KEYS]));
  const keyHeader = o.idempotencyKey === true ? 'idempotency-key' : o.idempotencyKey || undefined;
  const idempotent = o.idempotent === true;
  const read =
    method === 'HEAD' ? toNothing : checksAtRunTime(o.response) ? validator(name, o.response) : toJson;
  const where = `${name}()`;

  const paramSet: ReadonlySet<string> = new Set(names);
  const hasParams = names.length > 0;
  const takesBody = method === 'POST' || method === 'PUT' || method === 'PATCH' || o.body !== undefined;

  // One pass over the argument's keys; the client then checks only the options that were given.
  const build = (args: Args): CallOptions | undefined => {
    if (typeof args !== 'object' || args === null) {
      throw new InvalidRequestError(`${where} takes one object argument`);
    }
    const params: Record<string, unknown> | undefined = hasParams ? {} : undefined;
    let query: unknown;
    let headers: unknown;
    let body: unknown;
    let signal: unknown;
    let timeout: unknown;
    let retry: unknown;
    for (const key in args) {
      const value = args[key];
      switch (key) {
        case 'query':
          query = value;
          break;
        case 'headers':
          headers = value;
          break;
        case 'body':
          if (!takesBody && value !== undefined) {
            throw new InvalidRequestError(
              `${where} takes no body (a ${method} endpoint without a body schema)`,
            );
          }
          body = value;
          break;
        case 'signal':
          signal = value;
          break;
        case 'timeout':
          timeout = value;
          break;
        // Where per-call retry objects plug in: `retry` is handed to the client's call options as it is.
        case 'retry':
          retry = value;
          break;
        default:
          if (params !== undefined && paramSet.has(key)) params[key] = value;
          else checkKeys(args, known, where);
      }
    }
    if (keyHeader !== undefined) {
      // The caller's own key wins; the generated one is kept for every attempt of this call.
      headers = mergeHeaders({ [keyHeader]: randomUUID() }, headers as HeadersInit | undefined);
    }
    // The common call (path parameters only) hands the client the smallest options it checks.
    if (
      query === undefined &&
      headers === undefined &&
      body === undefined &&
      signal === undefined &&
      timeout === undefined &&
      retry === undefined &&
      !idempotent
    ) {
      return params === undefined ? undefined : ({ params } as CallOptions);
    }
    const options: Record<string, unknown> = {};
    if (params !== undefined) options.params = params;
    if (query !== undefined) options.query = query;
    if (headers !== undefined) options.headers = headers;
    if (body !== undefined) options.json = body;
    if (signal !== undefined) options.signal = signal;
    if (timeout !== undefined) options.timeout = timeout;
    if (retry !== undefined) options.retry = retry;
    if (idempotent) options.idempotent = true;
    return options as CallOptions;
  };

  return (args = NO_ARGS) => {
    let options: CallOptions | undefined;
    try {
      options = build(args);
    } catch (error) {
      return Promise.reject(error);
    }
    return client.request(method, path, options as never).then(read);
  };
}
