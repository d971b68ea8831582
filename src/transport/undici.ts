import { Agent, type Dispatcher, EnvHttpProxyAgent, ProxyAgent } from 'undici';
import type { DeadlineQueue } from '../core/deadlines.js';
import { InvalidOptionError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import { settlesOnAbort } from '../core/pipeline.js';
import type { HttpRequest } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { CallContext, Handler, Transport } from '../core/types.js';
import { Exchange } from './exchange.js';

/** TLS settings for outgoing connections. */
export interface TlsOptions {
  /** Extra CA certificates (PEM) to trust, such as a private CA. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate (PEM) for mutual TLS. */
  readonly cert?: string | Buffer;
  /** Client private key (PEM) for mutual TLS. */
  readonly key?: string | Buffer;
  /** Passphrase of `key`. */
  readonly passphrase?: string;
  /** Server name for SNI and certificate checks, when it differs from the URL's host. */
  readonly servername?: string;
  /**
   * Verify the server's certificate. Turning this off allows man-in-the-middle attacks and logs a warning.
   * @default true
   */
  readonly rejectUnauthorized?: boolean;
}

/** Options of the default undici transport. */
export interface HttpTransportOptions {
  /**
   * Most connections per origin.
   * @default 128: enough for high concurrency on one upstream without exhausting its accept queue.
   */
  readonly connections?: number;
  /**
   * Requests pipelined per connection (1 = no pipelining).
   * @default 1: pipelining is unsafe with many servers and proxies.
   */
  readonly pipelining?: number;
  /**
   * Idle keep-alive time for a pooled connection, in ms.
   * @default 4000: below the 5 s idle timeout of Node.js servers, so we close first and never write to a closing socket.
   */
  readonly keepAliveTimeout?: number;
  /**
   * Negotiate HTTP/2 over TLS (ALPN).
   * @default false: opt in; HTTP/1.1 keep-alive pools are the fastest on loopback and most predictable.
   */
  readonly http2?: boolean;
  /**
   * Time to establish a connection (DNS, TCP and TLS), in ms.
   * @default 10000
   */
  readonly connectTimeout?: number;
  /**
   * Time to wait for response headers, in ms; the attempt timeout usually fires first.
   * @default 300000 (undici's default)
   */
  readonly headersTimeout?: number;
  /**
   * Longest gap between two chunks of the response body, in ms.
   * @default 300000 (undici's default)
   */
  readonly bodyTimeout?: number;
  /** TLS settings. */
  readonly tls?: TlsOptions;
  /**
   * Proxy: a URL, `'env'` to honour `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`, or `false`.
   * @default 'env'
   */
  readonly proxy?: string | 'env' | false;
  /** Bring your own undici dispatcher; every other option here is then ignored. */
  readonly dispatcher?: Dispatcher;
}

const HTTP_DEFAULTS = {
  connections: 128,
  pipelining: 1,
  keepAliveTimeout: 4_000,
  http2: false,
  connectTimeout: 10_000,
  headersTimeout: 300_000,
  bodyTimeout: 300_000,
} as const;

let warnedInsecure = false;

function positive(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, `expected a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

function hasProxyEnv(): boolean {
  const env = process.env;
  return Boolean(env.HTTP_PROXY || env.http_proxy || env.HTTPS_PROXY || env.https_proxy);
}

/** Builds the undici dispatcher described by the options. */
export function createDispatcher(options: HttpTransportOptions = {}): Dispatcher {
  if (options.dispatcher) return options.dispatcher;
  const tls = options.tls ?? {};
  if (tls.rejectUnauthorized === false && !warnedInsecure) {
    warnedInsecure = true;
    process.emitWarning(
      'reqforge: TLS certificate verification is turned off (tls.rejectUnauthorized: false); connections can be intercepted.',
      { code: 'REQFORGE_INSECURE_TLS' },
    );
  }
  const connections = positive('http.connections', options.connections, HTTP_DEFAULTS.connections);
  const connect = {
    timeout: positive('http.connectTimeout', options.connectTimeout, HTTP_DEFAULTS.connectTimeout),
    ...(tls.ca !== undefined && { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
    ...(tls.cert !== undefined && { cert: tls.cert }),
    ...(tls.key !== undefined && { key: tls.key }),
    ...(tls.passphrase !== undefined && { passphrase: tls.passphrase }),
    ...(tls.servername !== undefined && { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized !== false,
  };
  const agentOptions: Agent.Options = {
    connections: connections === 0 ? null : connections,
    pipelining: positive('http.pipelining', options.pipelining, HTTP_DEFAULTS.pipelining),
    keepAliveTimeout: positive(
      'http.keepAliveTimeout',
      options.keepAliveTimeout,
      HTTP_DEFAULTS.keepAliveTimeout,
    ),
    headersTimeout: positive('http.headersTimeout', options.headersTimeout, HTTP_DEFAULTS.headersTimeout),
    bodyTimeout: positive('http.bodyTimeout', options.bodyTimeout, HTTP_DEFAULTS.bodyTimeout),
    allowH2: options.http2 ?? HTTP_DEFAULTS.http2,
    connect,
  };
  const proxy = options.proxy ?? 'env';
  if (typeof proxy === 'string' && proxy !== 'env') {
    try {
      new URL(proxy);
    } catch {
      throw new InvalidOptionError(
        'http.proxy',
        "expected a proxy URL such as 'http://proxy:3128', 'env' or false",
      );
    }
    return new ProxyAgent({ ...agentOptions, uri: proxy, requestTls: connect });
  }
  if (proxy === 'env' && hasProxyEnv()) return new EnvHttpProxyAgent({ ...agentOptions });
  return new Agent(agentOptions);
}

/**
 * The default transport: undici with keep-alive pools per origin. Created by `createClient`
 * unless you pass your own `transport`.
 */
export class HttpTransport implements Transport {
  readonly #dispatcher: Dispatcher;
  readonly #owned: boolean;

  constructor(options: HttpTransportOptions = {}) {
    this.#dispatcher = createDispatcher(options);
    this.#owned = options.dispatcher === undefined;
  }

  /** The undici dispatcher, for advanced use (stats, interceptors). */
  get dispatcher(): Dispatcher {
    return this.#dispatcher;
  }

  /** Sends one attempt. (It also takes an attempt timeout's deadline directly; see `core/deadlines.ts`.) */
  readonly handle: Handler = settlesOnAbort(
    Object.assign((request: HttpRequest, ctx: CallContext) => this.#send(request, ctx, undefined), {
      withDeadline: (request: HttpRequest, ctx: CallContext, deadline: DeadlineQueue) =>
        this.#send(request, ctx, deadline),
    }),
  );

  #send(request: HttpRequest, ctx: CallContext, deadline: DeadlineQueue | undefined): Promise<HttpResponse> {
    if (ctx.abort.aborted) return Promise.reject(toReqforgeError(ctx.abort.reason, request, ctx.abort));
    let headers = request.headers;
    let body: ReturnType<HttpRequest['openBody']>;
    try {
      body = request.openBody();
    } catch (error) {
      return Promise.reject(toReqforgeError(error, request, ctx.abort));
    }
    if (body instanceof FormData) {
      // Serialise with the platform's encoder: FormData from another undici copy is not recognised.
      const encoded = new Response(body);
      headers = {
        ...headers,
        'content-type': encoded.headers.get('content-type') ?? 'multipart/form-data',
      };
      body = encoded.body as ReadableStream<Uint8Array>;
    }
    const options: Dispatcher.DispatchOptions = {
      origin: request.origin,
      path: request.path,
      method: request.method as Dispatcher.HttpMethod,
      headers,
      body: (body ?? null) as NonNullable<Dispatcher.DispatchOptions['body']>,
    };
    return new Promise<HttpResponse>((resolve, reject) => {
      const exchange = new Exchange(request, ctx, deadline, resolve, reject);
      try {
        this.#dispatcher.dispatch(options, exchange);
      } catch (error) {
        // A custom or composed dispatcher may throw instead of reporting through the handler.
        exchange.onError(error as Error);
      }
    });
  }

  /** Closes every pooled connection, waiting for in-flight requests. */
  async close(): Promise<void> {
    if (this.#owned) await this.#dispatcher.close();
  }
}
