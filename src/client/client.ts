import { inspect } from 'node:util';
import { getContext } from '../core/ambient.js';
import { type Clock, systemClock } from '../core/clock.js';
import { createCallContext } from '../core/context.js';
import { ACCEPT_ENCODING } from '../core/decompress.js';
import { ClientClosedError, InvalidOptionError, InvalidRequestError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import { parseOptions } from '../core/options/index.js';
import { compose } from '../core/pipeline.js';
import { Redactor } from '../core/redact.js';
import { copyHeaders, type HeaderRecord, HttpRequest, mergeHeaders } from '../core/request.js';
import { DEFAULT_ERROR_BODY_LIMIT, DEFAULT_MAX_BODY_SIZE, type HttpResponse } from '../core/response.js';
import type {
  CallContext,
  CallPolicyOptions,
  CallTags,
  ClientEvents,
  Handler,
  Policy,
  Transport,
} from '../core/types.js';
import { appendQuery, expandPath, isAbsoluteUrl, joinPath, serializeQuery, splitUrl } from '../core/url.js';
import { clientTracing } from '../observability/tracing.js';
import { hooks } from '../policies/hooks.js';
import { standardPolicies } from '../policies/standard.js';
import { type UsageSnapshot, usageFromOption } from '../policies/usage.js';
import { HttpTransport } from '../transport/undici.js';
import { VERSION } from '../version.js';
import { announcingAttempts } from './attempt.js';
import { buildBody } from './body.js';
import { checkCallOptions, NO_RETRY_POLICY } from './call-options.js';
import { correlationIdSource } from './correlation.js';
import type { CallArgs, CallOptions, ClientOptions } from './options.js';
import { CallOutcome } from './outcome.js';
import { type ResponsePromise, withBodyHelpers } from './response-promise.js';
import { CALL_OPTION_KEYS, clientOptionsSchema, PRESET_OPTIONS, SEND_OPTION_KEYS } from './schema.js';
import { type ClientState, readState, statePolicies } from './state.js';

export type { ResponsePromise } from './response-promise.js';

const EMPTY: CallOptions = Object.freeze({});

/**
 * Options of {@link Client.send}: what a call may still say about a request that is already built (its
 * signal, timeouts, retries, error handling and tags), but nothing that would change the request itself.
 */
export type SendOptions = Pick<
  CallOptions,
  'signal' | 'timeout' | 'throwHttpErrors' | 'idempotent' | 'retry' | 'redirect' | 'tags'
>;

interface Shared {
  readonly transport: Transport;
  readonly ownsTransport: boolean;
  readonly events: EventHub<ClientEvents>;
  closed: boolean;
  /** Undoes what policies attached to the events (`Policy.attach`), on close. */
  readonly detach: (() => void)[];
}

/** The printed form of a {@link Client}: see {@link Client.toJSON}. */
export interface ClientJson {
  readonly name: string | undefined;
  readonly baseUrl: string | undefined;
  readonly headers: Record<string, string>;
  readonly query: string | undefined;
  readonly policies: readonly string[];
}

/**
 * An HTTP client: immutable configuration, one composed pipeline, a shared connection pool.
 * Create with {@link createClient}; derive variants with {@link Client.with}.
 */
export class Client {
  /** The options this client was built from. */
  readonly options: ClientOptions;
  /** The composed pipeline (policies around the transport). */
  readonly handler: Handler;
  readonly #shared: Shared;
  readonly #origin: string | undefined;
  readonly #basePath: string;
  readonly #headers: HeaderRecord;
  readonly #query: string;
  readonly #redactor: Redactor;
  readonly #clock: Clock;
  readonly #maxBodySize: number;
  readonly #outcome: CallOutcome;
  readonly #requestIdHeader: string | undefined;
  readonly #correlationIdHeader: string | undefined;
  readonly #newCorrelationId: (() => string) | undefined;
  readonly #decompress: boolean;
  readonly #service: string | undefined;
  readonly #baseTags: CallTags;
  /** Whether the pipeline has a timeout policy that a per-call `timeout` can override. */
  #timeouts = false;
  /** Whether the pipeline has a retry policy that a per-call `retry` object can shape. */
  #retries = false;
  /** Whether the pipeline follows redirects, so a per-call `redirect: { max }` applies. */
  #redirects = false;
  /** The pipeline's policy names, outermost first, for printing. */
  #policyNames: readonly string[] = [];
  /** The policies {@link Client.state} reads, found once. */
  readonly #stateOf: ReturnType<typeof statePolicies>;

  /** @internal use {@link createClient}. */
  constructor(options: ClientOptions, shared?: Shared) {
    const parsed = parseOptions(clientOptionsSchema, options);
    for (const key in PRESET_OPTIONS) {
      if (options.policies !== undefined && options[key as keyof ClientOptions] !== undefined) {
        throw new InvalidOptionError(key, `cannot be combined with "policies"; ${PRESET_OPTIONS[key]}`);
      }
    }
    this.options = options;
    if (options.baseUrl !== undefined) {
      if (typeof options.baseUrl !== 'string')
        throw new InvalidOptionError('baseUrl', 'expected an absolute http(s) URL string');
      try {
        const split = splitUrl(options.baseUrl, 'baseUrl');
        this.#origin = split.origin;
        this.#basePath = split.path.includes('?') ? split.path.slice(0, split.path.indexOf('?')) : split.path;
        if (this.#basePath === '/') this.#basePath = '';
      } catch (error) {
        throw new InvalidOptionError(
          'baseUrl',
          `${(error as Error).message} (got a value of length ${options.baseUrl.length})`,
        );
      }
    } else {
      this.#basePath = '';
    }
    this.#redactor = new Redactor(options.redact);
    this.#decompress = options.decompress !== false;
    try {
      const headers = mergeHeaders(
        {
          'user-agent': `reqforge/${VERSION}`,
          accept: 'application/json, */*;q=0.5',
          ...(this.#decompress && { 'accept-encoding': ACCEPT_ENCODING }),
        },
        options.headers,
      );
      // A client derived with `decompress: false` drops the default its parent added (it would not decode).
      if (!this.#decompress && headers['accept-encoding'] === ACCEPT_ENCODING)
        delete headers['accept-encoding'];
      this.#headers = Object.freeze(headers);
    } catch (error) {
      throw new InvalidOptionError('headers', (error as Error).message);
    }
    this.#query = serializeQuery(options.query, options.arrayFormat);
    this.#clock = options.clock ?? systemClock;
    this.#maxBodySize = parsed.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
    const t = options.throwHttpErrors ?? true;
    this.#outcome = new CallOutcome(
      this.#clock,
      typeof t === 'function' ? t : t ? (s) => s < 200 || s >= 300 : () => false,
      parsed.errorBodyLimit ?? DEFAULT_ERROR_BODY_LIMIT,
    );
    const propagate = options.propagate ?? {};
    this.#requestIdHeader =
      propagate === false ? undefined : (propagate.requestIdHeader ?? 'x-request-id').toLowerCase();
    this.#correlationIdHeader =
      propagate === false ? undefined : (propagate.correlationIdHeader ?? 'x-correlation-id').toLowerCase();
    this.#newCorrelationId = correlationIdSource(options.propagate);
    this.#service = options.name;
    this.#baseTags = options.name === undefined ? {} : { service: options.name };

    const transport = shared?.transport ?? options.transport ?? new HttpTransport(options.http);
    this.#shared = shared ?? {
      transport,
      ownsTransport: options.transport === undefined,
      events: new EventHub<ClientEvents>(),
      closed: false,
      detach: [],
    };
    const policies: Policy[] = options.policies
      ? [...options.policies]
      : standardPolicies(
          {
            timeout: options.timeout,
            retry: options.retry,
            circuitBreaker: options.circuitBreaker,
            // The in-process bucket keeps time on the client's clock (a FakeClock in tests) unless it has its own.
            rateLimit:
              options.rateLimit && options.clock && !options.rateLimit.clock && !options.rateLimit.limiter
                ? { ...options.rateLimit, clock: options.clock }
                : options.rateLimit,
            bulkhead: options.bulkhead,
            auth: options.auth,
            redirect: options.redirect,
          },
          options.preset ?? 'default',
        );
    if (options.hooks) policies.unshift(hooks(options.hooks));
    const usage = usageFromOption(options.usage, this.#clock);
    if (usage) policies.unshift(usage); // outermost: once per call, whatever the hooks do
    // Tracing goes around everything (the call span) and just outside the transport (the attempt span).
    const tracing = options.tracing ? clientTracing(options.tracing) : undefined;
    if (tracing) {
      policies.unshift(tracing.call);
      policies.push(tracing.attempt);
    }
    this.#stateOf = statePolicies(policies);
    this.#policyNames = policies.map((p) => p.name);
    this.#timeouts = policies.some((p) => p.name === 'totalTimeout' || p.name === 'attemptTimeout');
    this.#retries = policies.some((p) => p.name === 'retry');
    this.#redirects = policies.some((p) => p.name === 'redirect');
    this.handler = compose(policies, announcingAttempts(this.#shared.transport.handle, this.#shared.events));
    for (const p of policies) {
      const detach = p.attach?.(this.#shared.events);
      if (detach) this.#shared.detach.push(detach);
    }
  }

  /**
   * The client as `JSON.stringify` prints it: name, base URL, default headers and query with secrets redacted, and
   * the policy names. `util.inspect` (and so `console.log`) prints the same, never the raw options.
   */
  toJSON(): ClientJson {
    return {
      name: this.#service,
      baseUrl: this.options.baseUrl === undefined ? undefined : this.#redactor.url(this.options.baseUrl),
      headers: this.#redactor.headers(this.#headers),
      query: this.#query ? this.#redactor.query(this.#query) : undefined,
      policies: this.#policyNames,
    };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `Client ${inspect(this.toJSON(), options)}`;
  }

  /**
   * What the client's policies know now: breakers per target, the rate limiter's counters and buckets, the
   * bulkhead, the retry budget and usage (see {@link ClientState}). Read on demand from counters the policies keep
   * anyway, so calls pay nothing for it. JSON-safe, and the same shape as each upstream's `state` in the gateway's
   * `/status.json`.
   *
   * @example
   * const { circuitBreaker, rateLimit } = api.state();
   * if (circuitBreaker.state === 'open') console.log('retry in', circuitBreaker.breakers[0]?.halfOpenIn, 'ms');
   */
  state(): ClientState {
    return readState(this.#stateOf, this.#service, this.#redactor);
  }

  /**
   * Calls and errors in the last minute, 5 minutes and hour, totals, the configured limits and whether usage is
   * within them; `undefined` when usage tracking is off (turn it on with `usage: true` or limits).
   */
  usage(): UsageSnapshot | undefined {
    return this.#stateOf.usage?.tracker.snapshot();
  }

  /** The client's events; see {@link ClientEvents}. Derived clients share them. */
  get events(): EventHub<ClientEvents> {
    return this.#shared.events;
  }

  /** Subscribes to an event; returns an unsubscribe function. */
  on<K extends keyof ClientEvents>(name: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.#shared.events.on(name, listener);
  }

  /**
   * A new client with `overrides` applied. It shares this client's connection pool and events;
   * headers and query merge, everything else replaces.
   */
  with(overrides: Omit<ClientOptions, 'transport' | 'http'>): Client {
    const base: Record<string, unknown> = { ...this.options };
    // New policies replace the preset, so the preset options they replace go with it.
    if (overrides.policies !== undefined) for (const key in PRESET_OPTIONS) delete base[key];
    const merged: ClientOptions = {
      ...base,
      ...overrides,
      headers: { ...this.#headers, ...headerRecord(overrides.headers) },
    };
    return new Client(merged, this.#shared);
  }

  /** Sends a request. */
  request<T = unknown, P extends string = string>(
    method: string,
    path: P,
    ...args: CallArgs<P>
  ): ResponsePromise<T> {
    return withBodyHelpers<T>(this.#call(method.toUpperCase(), path, args[0] ?? EMPTY));
  }

  /** GET */
  get<T = unknown, P extends string = string>(path: P, ...args: CallArgs<P>): ResponsePromise<T> {
    return withBodyHelpers<T>(this.#call('GET', path, args[0] ?? EMPTY));
  }

  /** POST */
  post<T = unknown, P extends string = string>(path: P, ...args: CallArgs<P>): ResponsePromise<T> {
    return withBodyHelpers<T>(this.#call('POST', path, args[0] ?? EMPTY));
  }

  /** PUT */
  put<T = unknown, P extends string = string>(path: P, ...args: CallArgs<P>): ResponsePromise<T> {
    return withBodyHelpers<T>(this.#call('PUT', path, args[0] ?? EMPTY));
  }

  /** PATCH */
  patch<T = unknown, P extends string = string>(path: P, ...args: CallArgs<P>): ResponsePromise<T> {
    return withBodyHelpers<T>(this.#call('PATCH', path, args[0] ?? EMPTY));
  }

  /** DELETE */
  delete<T = unknown, P extends string = string>(path: P, ...args: CallArgs<P>): ResponsePromise<T> {
    return withBodyHelpers<T>(this.#call('DELETE', path, args[0] ?? EMPTY));
  }

  /** HEAD */
  head<P extends string = string>(path: P, ...args: CallArgs<P>): ResponsePromise<never> {
    return withBodyHelpers<never>(this.#call('HEAD', path, args[0] ?? EMPTY));
  }

  /**
   * Sends a request prepared by the caller through this client's policies, exactly as it is: no base URL,
   * default headers, query or ambient request id are added, and its headers are not checked again (build it
   * with {@link HttpRequest} from lower-cased names and values free of CR, LF and NUL, or with
   * {@link Client.buildRequest}). For proxies, which receive requests their HTTP parser already checked.
   *
   * @example
   * const request = client.buildRequest('GET', '/users/42');
   * const response = await client.send(request.withHeaders({ 'x-tenant': 'acme' }));
   */
  send<T = unknown>(request: HttpRequest, options: SendOptions = EMPTY): ResponsePromise<T> {
    if (!(request instanceof HttpRequest)) {
      return withBodyHelpers<T>(
        Promise.reject(new InvalidRequestError('send() expects an HttpRequest (see buildRequest)')),
      );
    }
    let checked: CallOptions;
    try {
      checked = options === EMPTY ? options : this.#checked(options, SEND_OPTION_KEYS);
    } catch (error) {
      return withBodyHelpers<T>(Promise.reject(error));
    }
    return withBodyHelpers<T>(this.#dispatch(request, request.path, checked));
  }

  /** Builds the request a call would send, without sending it (handy for `toCurl()`). */
  buildRequest<P extends string>(method: string, path: P, ...args: CallArgs<P>): HttpRequest {
    return this.#build(method.toUpperCase(), path, args[0] ?? EMPTY);
  }

  /**
   * Closes the connection pool once in-flight calls finish. Closing any client closes the pool it
   * shares with the clients derived from it. Later calls fail with `ERR_CLIENT_CLOSED`.
   */
  async close(): Promise<void> {
    if (this.#shared.closed) return;
    this.#shared.closed = true;
    for (const detach of this.#shared.detach.splice(0)) detach();
    if (this.#shared.ownsTransport) await this.#shared.transport.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // Not async itself: one promise per call, from #dispatch.
  #call(method: string, path: string, given: CallOptions): Promise<HttpResponse> {
    if (this.#shared.closed) return Promise.reject(new ClientClosedError());
    let options: CallOptions;
    let request: HttpRequest;
    try {
      options = given === EMPTY ? given : this.#checked(given, CALL_OPTION_KEYS);
      request = this.#build(method, path, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#dispatch(request, path, options);
  }

  /** One call's options, checked; a `timeout` is refused when no timeout policy would apply it. */
  #checked(given: CallOptions, keys: ReadonlySet<string>): CallOptions {
    const options = checkCallOptions(given, keys);
    if (options.timeout !== undefined && options.timeout !== false && !this.#timeouts) {
      throw new InvalidOptionError(
        'timeout',
        'this client has no timeout policy to apply it (it was created with `timeout: false`, or with `policies` ' +
          'without `totalTimeout()`/`attemptTimeout()`); give the client a timeout, or pass ' +
          '`signal: AbortSignal.timeout(ms)`',
      );
    }
    if (typeof options.retry === 'object' && !this.#retries)
      throw new InvalidOptionError('retry', NO_RETRY_POLICY);
    if (typeof options.redirect === 'object' && !this.#redirects) {
      throw new InvalidOptionError(
        'redirect',
        'this client does not follow redirects (it was created with `redirect: false`, or with `policies` without ' +
          '`followRedirects()`); give the client a `redirect` setting, or drop this option',
      );
    }
    return options;
  }

  /**
   * Runs a call through the pipeline: the call context, the `request`/`response`/`error` events, HTTP errors thrown
   * when the client says so. One `then` on the pipeline's promise, not an async frame: a promise fewer per call.
   */
  #dispatch(request: HttpRequest, path: string, options: CallOptions): Promise<HttpResponse> {
    if (this.#shared.closed) return Promise.reject(new ClientClosedError());
    const events = this.#shared.events;
    let ctx: CallContext;
    let pending: Promise<HttpResponse>;
    try {
      ctx = createCallContext({
        signal: options.signal,
        tags: options.tags ? { ...this.#baseTags, route: path, ...options.tags } : this.#tagsFor(path),
        clock: this.#clock,
        events,
        options: options as CallPolicyOptions,
        maxBodySize: this.#maxBodySize,
        decompress: this.#decompress,
      });
    } catch (error) {
      return Promise.reject(error);
    }
    try {
      if (events.has('request')) events.emit('request', { request, ctx });
      pending = this.handler(request, ctx);
    } catch (thrown) {
      pending = Promise.reject(thrown);
    }
    const outcome = this.#outcome;
    return pending.then(
      (response) => outcome.answered(request, response, ctx, options),
      (thrown: unknown) => outcome.failed(request, thrown, ctx, options),
    );
  }

  #tagsFor(route: string): CallTags {
    return this.#service === undefined ? { route } : { service: this.#service, route };
  }

  #build(method: string, path: string, options: CallOptions): HttpRequest {
    if (typeof path !== 'string') throw new InvalidRequestError('The path must be a string');
    const expanded = expandPath(path, options.params);
    let origin: string;
    let target: string;
    if (isAbsoluteUrl(expanded)) {
      const split = splitUrl(expanded);
      origin = split.origin;
      target = split.path;
    } else {
      if (this.#origin === undefined) {
        throw new InvalidRequestError(
          `"${path.slice(0, 100)}" is a relative path but the client has no baseUrl`,
        );
      }
      origin = this.#origin;
      target = joinPath(this.#basePath, expanded);
    }
    target = appendQuery(target, this.#query);
    if (options.query !== undefined)
      target = appendQuery(target, serializeQuery(options.query, this.options.arrayFormat));

    let headers = this.#headers;
    let copied = false;
    const own = () => {
      if (!copied) {
        headers = copyHeaders(headers);
        copied = true;
      }
      return headers as Record<string, string>;
    };
    if (options.headers !== undefined) mergeHeaders(own(), options.headers);
    const ambient = this.#requestIdHeader || this.#correlationIdHeader ? getContext() : undefined;
    if (ambient) {
      if (this.#requestIdHeader && ambient.requestId && headers[this.#requestIdHeader] === undefined) {
        mergeHeaders(own(), { [this.#requestIdHeader]: ambient.requestId });
      }
      if (
        this.#correlationIdHeader &&
        ambient.correlationId &&
        headers[this.#correlationIdHeader] === undefined
      ) {
        mergeHeaders(own(), { [this.#correlationIdHeader]: ambient.correlationId });
      }
    }
    // Generated once per call, so every attempt and redirect hop carries the same id.
    const generate = this.#newCorrelationId;
    if (generate && this.#correlationIdHeader && headers[this.#correlationIdHeader] === undefined) {
      mergeHeaders(own(), { [this.#correlationIdHeader]: generate() });
    }
    const body = buildBody(options, headers, own);
    return new HttpRequest({ method, origin, path: target, headers, body, redactor: this.#redactor });
  }
}

function headerRecord(init: ClientOptions['headers']): Record<string, string> {
  return init === undefined ? {} : mergeHeaders({}, init);
}

/**
 * Creates an HTTP client.
 *
 * @example
 * const api = createClient({ baseUrl: 'https://api.example.com/v1', headers: { 'x-team': 'payments' } });
 * const user = await api.get('/users/{id}', { params: { id: 42 } }).json<{ name: string }>();
 */
export function createClient(options: ClientOptions = {}): Client {
  return new Client(options);
}
