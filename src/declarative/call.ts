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

  const build = (args: Args): CallOptions => {
    if (typeof args !== 'object' || args === null) {
      throw new InvalidRequestError(`${where} takes one object argument`);
    }
    checkKeys(args, known, where);
    const options: Record<string, unknown> = {};
    if (names.length > 0) {
      const params: Record<string, unknown> = {};
      for (const n of names) if (Object.hasOwn(args, n)) params[n] = args[n];
      options.params = params;
    }
    if (args.query !== undefined) options.query = args.query;
    if (keyHeader !== undefined) {
      // The caller's own key wins; the generated one is kept for every attempt of this call.
      options.headers = mergeHeaders({ [keyHeader]: randomUUID() }, args.headers as HeadersInit | undefined);
    } else if (args.headers !== undefined) options.headers = args.headers;
    if (args.body !== undefined) options.json = args.body;
    if (args.signal !== undefined) options.signal = args.signal;
    if (args.timeout !== undefined) options.timeout = args.timeout;
    // Where per-call retry objects plug in: `args.retry` is handed to the client's call options as it is.
    if (args.retry !== undefined) options.retry = args.retry;
    if (idempotent) options.idempotent = true;
    return options as CallOptions;
  };

  return (args = NO_ARGS) => {
    let options: CallOptions;
    try {
      options = build(args);
    } catch (error) {
      return Promise.reject(error);
    }
    return client.request(method, path, options as never).then(read);
  };
}
