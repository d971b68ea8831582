import { Readable } from 'node:stream';
import type { CallAbort } from '../core/context.js';
import { toReqforgeError } from '../core/normalize.js';
import { settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import { HttpResponse, type ResponseHeaders } from '../core/response.js';
import type { CallContext, Transport } from '../core/types.js';

/** What a {@link MemoryTransport} route handler receives. */
export interface MemoryRequest {
  readonly method: string;
  /** Full URL. */
  readonly url: string;
  /** Path without the query string. */
  readonly pathname: string;
  readonly query: URLSearchParams;
  /** Values captured from `{name}` segments of the route pattern (decoded). */
  readonly params: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  /** The request body as text (streams are read fully). */
  readonly body: string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
  /** The original request. */
  readonly request: HttpRequest;
}

/** A canned reply. `json` sets the body and `content-type: application/json`. */
export interface MemoryReply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string | string[]>>;
  readonly json?: unknown;
  readonly body?: string | Uint8Array | Readable;
}

/** A route handler: return a reply, or throw (for instance {@link networkError}) to simulate a failure. */
export type MemoryHandler = (request: MemoryRequest, ctx: CallContext) => MemoryReply | Promise<MemoryReply>;

/** One recorded call. */
export interface RecordedCall {
  readonly request: HttpRequest;
  readonly method: string;
  readonly url: string;
  readonly body: string;
  /** 1-based attempt number of the call context. */
  readonly attempt: number;
}

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly handler: MemoryHandler;
}

/**
 * An in-memory transport for testing code built on reqforge without a network: register routes,
 * make calls through a normal client, inspect `calls`. Policies, hooks and errors behave exactly
 * as with the network transport.
 *
 * @example
 * const memory = new MemoryTransport().route('GET', '/users/{id}', (req) => ({ json: { id: req.params.id } }));
 * const api = createClient({ baseUrl: 'http://api.test', transport: memory });
 * await api.get('/users/{id}', { params: { id: 7 } }).json(); // { id: '7' }
 */
export class MemoryTransport implements Transport {
  readonly #routes: Route[] = [];
  readonly #calls: RecordedCall[] = [];

  /** Adds a route. `method` may be `*`; `{name}` in the pattern matches one path segment. Returns `this`. */
  route(method: string, pattern: string, handler: MemoryHandler): this {
    const names: string[] = [];
    const source = pattern
      .split(/(\{[^{}]+\})/)
      .map((part) => {
        const m = /^\{([^{}]+)\}$/.exec(part);
        if (m) {
          names.push(m[1]!);
          return '([^/]+)';
        }
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    this.#routes.push({ method: method.toUpperCase(), pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  /** Every call received, in order. */
  get calls(): readonly RecordedCall[] {
    return this.#calls;
  }

  /** Forgets recorded calls (routes stay). */
  reset(): void {
    this.#calls.length = 0;
  }

  // Route handlers are raced against the call's abort, so a call settles once aborted whatever the handler does.
  readonly handle = settlesOnAbort(async (request: HttpRequest, ctx: CallContext): Promise<HttpResponse> => {
    const start = performance.now();
    try {
      const body = await abortable(readRequestBody(request), ctx.abort);
      const url = new URL(request.url);
      this.#calls.push({ request, method: request.method, url: request.url, body, attempt: ctx.attempt });
      const route = this.#routes.find(
        (r) => (r.method === '*' || r.method === request.method) && r.pattern.test(url.pathname),
      );
      if (!route) {
        return reply(request, ctx, start, {
          status: 404,
          headers: { 'content-type': 'application/problem+json' },
          body: JSON.stringify({
            title: 'No route matched',
            status: 404,
            detail: `MemoryTransport has no route for ${request.method} ${url.pathname}`,
          }),
        });
      }
      const match = route.pattern.exec(url.pathname)!;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodeURIComponent(match[i + 1]!);
      });
      const memoryRequest: MemoryRequest = {
        method: request.method,
        url: request.url,
        pathname: url.pathname,
        query: url.searchParams,
        params,
        headers: request.headers,
        body,
        json: <T>() => JSON.parse(body) as T,
        request,
      };
      const result = await abortable(Promise.resolve(route.handler(memoryRequest, ctx)), ctx.abort);
      return reply(request, ctx, start, result);
    } catch (error) {
      throw toReqforgeError(error, request, ctx.abort);
    }
  });

  async close(): Promise<void> {}
}

/** Makes an error that a transport reports as the given network failure, for example `networkError('ECONNRESET')`. */
export function networkError(code: string, message = `simulated ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

function reply(request: HttpRequest, ctx: CallContext, start: number, result: MemoryReply): HttpResponse {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = value;
  let body: Readable;
  if (result.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = Readable.from([Buffer.from(JSON.stringify(result.json))]);
  } else if (result.body instanceof Readable) {
    body = result.body;
  } else if (result.body !== undefined) {
    body = Readable.from([
      typeof result.body === 'string' ? Buffer.from(result.body) : Buffer.from(result.body),
    ]);
  } else {
    body = Readable.from([]);
  }
  return new HttpResponse({
    status: result.status ?? 200,
    headers: headers as ResponseHeaders,
    body,
    request,
    elapsed: performance.now() - start,
    maxBodySize: ctx.maxBodySize,
    decompress: ctx.decompress,
  });
}

async function readRequestBody(request: HttpRequest): Promise<string> {
  const body = request.openBody();
  if (body === undefined) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  if (body instanceof FormData) return new Response(body).text();
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function abortable<T>(promise: Promise<T>, abort: CallAbort): Promise<T> {
  if (abort.inert) return promise;
  if (abort.aborted) return Promise.reject(abort.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abort.reason);
    abort.on('abort', onAbort);
    promise.then(
      (v) => {
        abort.removeListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        abort.removeListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
