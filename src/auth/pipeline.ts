import type { Client } from '../client/client.js';
import { createClient } from '../client/client.js';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError, isHttpError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import type { HeadersInit } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import { isTokenEndpointError, TokenEndpointError, TokenStepError } from './errors.js';
import { createToken, Token, type TokenInit } from './token.js';
import type { FetchTokenContext, TokenProvider } from './types.js';
import { describe, knownKeys, numberOption } from './validate.js';

/** What a pipeline step's fetcher receives. */
export interface PipelineStepContext {
  /** The step's name. */
  readonly step: string;
  /** The tokens of the step's dependencies, by step name. */
  readonly deps: Readonly<Record<string, Token>>;
  /** The pipeline's reqforge client, for fetchers that call an endpoint. */
  readonly client: Client;
  /** Aborts when the pipeline closes. */
  readonly signal: AbortSignal;
  /** The pipeline's clock. */
  readonly clock: Clock;
}

/** Fetches one step's token from its dependencies' tokens. */
export type StepFetcher = (ctx: PipelineStepContext) => Promise<Token | TokenInit | string>;

/** One step of a {@link TokenPipeline}. */
export interface PipelineStep {
  /** Steps whose tokens this one needs. */
  readonly deps?: readonly string[];
  /** Longest time to cache this step's token, in ms; the token's own expiry applies when sooner. */
  readonly ttl?: number;
  /** Fetches the token. See {@link fromJsonBody} and {@link fromHeader} for built-in fetchers. */
  readonly fetch: StepFetcher;
}

/** Options of {@link TokenPipeline}. */
export interface TokenPipelineOptions {
  /** The steps by name. Dependencies must exist and must not form a cycle. */
  readonly steps: Readonly<Record<string, PipelineStep>>;
  /** The step whose token the pipeline provides; by default the one step nothing depends on. */
  readonly output?: string;
  /**
   * The provider id used in cache keys and events. Required with a shared (non-memory) token store, where tokens
   * of pipelines that kept the default would share keys.
   * @default 'pipeline'
   */
  readonly id?: string;
  /**
   * Whether invalidating a step also invalidates the steps that depend on it.
   * @default true
   */
  readonly cascade?: boolean;
  /** The client the built-in fetchers call through; by default one with a 10 s total timeout. */
  readonly client?: Client;
  /** The clock for expiry; tests pass a `FakeClock`. */
  readonly clock?: Clock;
  /**
   * A step token is refetched this many ms before its expiry.
   * @default 1000
   */
  readonly expirySkew?: number;
}

/** Events of a {@link TokenPipeline}; payloads carry fingerprints, never tokens. */
export interface PipelineEvents {
  /** A step fetched a token. */
  fetched: { readonly step: string; readonly fingerprint: string; readonly expiresAt: number };
  /** A step's token was dropped. */
  invalidated: { readonly step: string; readonly reason: string };
}

interface StepState {
  token: Token | undefined;
  expiresAt: number;
  inflight: Promise<Token> | undefined;
  fetches: number;
}

/** Per-step counters returned by {@link TokenPipeline.stats}. */
export interface PipelineStepStats {
  /** Tokens fetched by the step so far. */
  readonly fetches: number;
  /** Expiry of the cached token (epoch ms), if one is cached. */
  readonly expiresAt: number | undefined;
  /** Fingerprint of the cached token, if any. */
  readonly fingerprint: string | undefined;
}

/**
 * A DAG of token steps (such as device → app → user token), each cached for its own TTL and
 * fetched with its dependencies' tokens. A pipeline is a {@link TokenProvider}: give it to a
 * `TokenManager` or `tokenAuth()` like any other provider.
 *
 * @example
 * const chain = new TokenPipeline({
 *   steps: {
 *     device: { ttl: 600_000, fetch: async () => 'device-token' },
 *     app: { deps: ['device'], fetch: async ({ deps }) => exchange(deps.device) },
 *   },
 * });
 */
export class TokenPipeline implements TokenProvider {
  /** The provider id. */
  readonly id: string;
  /** True when no `id` was given (so `id` is the default `'pipeline'`); see {@link TokenProvider.defaultId}. */
  readonly defaultId: boolean;
  /** The step whose token the pipeline provides. */
  readonly output: string;
  /** Pipeline events. */
  readonly events: EventHub<PipelineEvents> = new EventHub<PipelineEvents>();
  readonly #steps: ReadonlyMap<string, Required<Pick<PipelineStep, 'deps' | 'fetch'>> & { ttl?: number }>;
  readonly #dependents = new Map<string, string[]>();
  readonly #state = new Map<string, StepState>();
  readonly #cascade: boolean;
  readonly #clock: Clock;
  readonly #skew: number;
  readonly #client: Client;
  readonly #ownsClient: boolean;
  readonly #closing = new AbortController();
  readonly #invalidateListeners = new Set<(reason: string) => void>();

  constructor(options: TokenPipelineOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'TokenPipeline expects an options object');
    }
    knownKeys('', options, ['steps', 'output', 'id', 'cascade', 'client', 'clock', 'expirySkew']);
    if (
      typeof options.steps !== 'object' ||
      options.steps === null ||
      Object.keys(options.steps).length === 0
    ) {
      throw new InvalidOptionError('steps', 'expected an object with at least one step');
    }
    const steps = new Map<string, Required<Pick<PipelineStep, 'deps' | 'fetch'>> & { ttl?: number }>();
    for (const [name, step] of Object.entries(options.steps)) {
      const where = `steps.${name}`;
      if (typeof step !== 'object' || step === null)
        throw new InvalidOptionError(where, 'expected a step object');
      knownKeys(where, step, ['deps', 'ttl', 'fetch']);
      if (typeof step.fetch !== 'function') {
        throw new InvalidOptionError(
          `${where}.fetch`,
          `expected a fetcher function, got ${describe(step.fetch)}`,
        );
      }
      const deps = step.deps ?? [];
      if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string')) {
        throw new InvalidOptionError(`${where}.deps`, 'expected an array of step names');
      }
      const ttl = step.ttl === undefined ? undefined : numberOption(`${where}.ttl`, step.ttl, 0, 1);
      steps.set(name, { deps, fetch: step.fetch, ...(ttl === undefined ? {} : { ttl }) });
    }
    for (const [name, step] of steps) {
      for (const dep of step.deps) {
        if (!steps.has(dep)) {
          throw new InvalidOptionError(
            `steps.${name}.deps`,
            `step "${name}" depends on "${dep}", which does not exist`,
          );
        }
        if (dep === name)
          throw new InvalidOptionError(`steps.${name}.deps`, `step "${name}" depends on itself`);
        const list = this.#dependents.get(dep) ?? [];
        list.push(name);
        this.#dependents.set(dep, list);
      }
    }
    const cycle = findCycle(steps);
    if (cycle) {
      throw new InvalidOptionError(`steps.${cycle[0]}.deps`, `the steps form a cycle: ${cycle.join(' → ')}`);
    }
    this.#steps = steps;
    if (options.output !== undefined) {
      if (!steps.has(options.output)) {
        throw new InvalidOptionError('output', `there is no step named "${String(options.output)}"`);
      }
      this.output = options.output;
    } else {
      const sinks = [...steps.keys()].filter((n) => !this.#dependents.has(n));
      if (sinks.length !== 1) {
        throw new InvalidOptionError(
          'output',
          `several steps have no dependents (${sinks.join(', ')}); name the one the pipeline provides`,
        );
      }
      this.output = sinks[0]!;
    }
    this.id = options.id ?? 'pipeline';
    this.defaultId = options.id === undefined;
    this.#cascade = options.cascade ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#skew = numberOption('expirySkew', options.expirySkew, 1000);
    if (options.client) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = createClient({ name: 'token-pipeline', timeout: { total: 10_000, attempt: 5_000 } });
      this.#ownsClient = true;
    }
    for (const name of steps.keys()) {
      this.#state.set(name, { token: undefined, expiresAt: 0, inflight: undefined, fetches: 0 });
    }
  }

  /** The step names, in dependency order (dependencies first). */
  get steps(): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (n: string) => {
      if (seen.has(n)) return;
      seen.add(n);
      for (const d of this.#steps.get(n)!.deps) visit(d);
      out.push(n);
    };
    for (const n of this.#steps.keys()) visit(n);
    return out;
  }

  /** A step's token (the output step's by default), fetching it and any expired dependency. */
  getToken(step: string = this.output): Promise<Token> {
    if (!this.#steps.has(step)) {
      return Promise.reject(new InvalidOptionError('step', `there is no step named "${step}"`));
    }
    return this.#resolve(step);
  }

  /**
   * Drops a step's cached token; with `cascade` (the pipeline's default) also every step that
   * depends on it, directly or not. Returns the names of the steps dropped.
   */
  invalidate(step: string, options: { cascade?: boolean; reason?: string } = {}): string[] {
    if (!this.#steps.has(step)) throw new InvalidOptionError('step', `there is no step named "${step}"`);
    const dropped = this.#drop(step, options.cascade ?? this.#cascade, options.reason);
    // The output token was dropped: so must every token a manager derived from it.
    if (dropped.includes(this.output)) {
      const reason = options.reason ?? (step === this.output ? 'manual' : 'cascade');
      for (const listener of this.#invalidateListeners) listener(reason);
    }
    return dropped;
  }

  /** {@link TokenProvider.onInvalidate}: `listener` runs whenever `invalidate()` drops the output step's token. */
  onInvalidate(listener: (reason: string) => void): () => void {
    this.#invalidateListeners.add(listener);
    return () => this.#invalidateListeners.delete(listener);
  }

  #drop(step: string, cascade: boolean, reason: string | undefined): string[] {
    const dropped: string[] = [];
    const visit = (name: string) => {
      if (dropped.includes(name)) return;
      dropped.push(name);
      const s = this.#state.get(name)!;
      s.token = undefined;
      s.expiresAt = 0;
      this.events.emit('invalidated', {
        step: name,
        reason: reason ?? (name === step ? 'manual' : 'cascade'),
      });
      if (cascade) for (const d of this.#dependents.get(name) ?? []) visit(d);
    };
    visit(step);
    return dropped;
  }

  /** Fetch counts and cached expiries per step. */
  stats(): Record<string, PipelineStepStats> {
    const out: Record<string, PipelineStepStats> = {};
    for (const [name, s] of this.#state) {
      out[name] = {
        fetches: s.fetches,
        expiresAt: s.token ? s.expiresAt : undefined,
        fingerprint: s.token?.fingerprint(),
      };
    }
    return out;
  }

  /** {@link TokenProvider.fetchToken}: a fresh output token (dependencies reused while valid). */
  async fetchToken(ctx: FetchTokenContext): Promise<Token> {
    const cached = this.#state.get(this.output)!.token;
    if (cached && ctx.current && cached.fingerprint() === ctx.current.fingerprint()) {
      // The manager asked for this refresh: drop the step without telling it back.
      this.#drop(this.output, false, 'refresh');
    }
    return this.#resolve(this.output);
  }

  /** Aborts fetches in flight and closes the pipeline's own client. */
  async close(): Promise<void> {
    this.#closing.abort(new Error('The token pipeline was closed'));
    if (this.#ownsClient) await this.#client.close();
  }

  #resolve(name: string): Promise<Token> {
    const s = this.#state.get(name)!;
    if (s.token && this.#clock.wallNow() < s.expiresAt - this.#skew) return Promise.resolve(s.token);
    if (s.inflight) return s.inflight;
    const p = this.#fetch(name, s, true).finally(() => {
      if (s.inflight === p) s.inflight = undefined;
    });
    s.inflight = p;
    return p;
  }

  async #fetch(name: string, s: StepState, retryOn401: boolean): Promise<Token> {
    const step = this.#steps.get(name)!;
    const deps: Record<string, Token> = {};
    await Promise.all(
      step.deps.map(async (d) => {
        deps[d] = await this.#resolve(d);
      }),
    );
    const started = this.#clock.wallNow();
    let result: Token | TokenInit | string;
    // A signal per fetch, so the long-lived close signal does not collect a listener per request.
    const closing = this.#closing.signal;
    const controller = new AbortController();
    const onClose = () => controller.abort(closing.reason);
    closing.addEventListener('abort', onClose, { once: true });
    try {
      result = await step.fetch({
        step: name,
        deps,
        client: this.#client,
        signal: controller.signal,
        clock: this.#clock,
      });
    } catch (error) {
      // A dependency's token was refused: drop the dependencies and try once more.
      if (retryOn401 && step.deps.length > 0 && isUnauthorized(error)) {
        for (const d of step.deps) this.#drop(d, false, 'unauthorized');
        return this.#fetch(name, s, false);
      }
      throw new TokenStepError(name, { cause: error });
    } finally {
      closing.removeEventListener('abort', onClose);
    }
    let token: Token;
    try {
      token =
        result instanceof Token
          ? result
          : createToken(result, started, step.ttl === undefined ? {} : { defaultLifetime: step.ttl });
    } catch (error) {
      throw new TokenStepError(name, { cause: error });
    }
    s.token = token;
    s.expiresAt = step.ttl === undefined ? token.expiresAt : Math.min(token.expiresAt, started + step.ttl);
    s.fetches++;
    this.events.emit('fetched', { step: name, fingerprint: token.fingerprint(), expiresAt: s.expiresAt });
    return token;
  }
}

function isUnauthorized(error: unknown): boolean {
  return (isHttpError(error) || isTokenEndpointError(error)) && error.status === 401;
}

function findCycle(steps: ReadonlyMap<string, { deps: readonly string[] }>): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    const st = state.get(n);
    if (st === 2) return undefined;
    if (st === 1) return [...path.slice(path.indexOf(n)), n];
    state.set(n, 1);
    path.push(n);
    for (const d of steps.get(n)!.deps) {
      const found = visit(d);
      if (found) return found;
    }
    path.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of steps.keys()) {
    const found = visit(n);
    if (found) return found;
  }
  return undefined;
}

/** What the built-in fetchers send. Builders get the dependencies' tokens. */
export interface EndpointFetcherOptions {
  /** The endpoint's absolute URL. */
  readonly url: string;
  /**
   * @default 'POST'
   */
  readonly method?: string;
  /** Headers; put dependency tokens here as Secrets (`deps.device.value`), they are revealed only on the wire. */
  readonly headers?: (deps: Readonly<Record<string, Token>>) => HeadersInit;
  /** A form body. */
  readonly form?: (deps: Readonly<Record<string, Token>>) => Record<string, string>;
  /** A JSON body. */
  readonly json?: (deps: Readonly<Record<string, Token>>) => unknown;
}

async function callEndpoint(
  options: EndpointFetcherOptions,
  ctx: PipelineStepContext,
): Promise<HttpResponse> {
  const form = options.form?.(ctx.deps);
  const json = options.json?.(ctx.deps);
  const response = await ctx.client.request(options.method ?? 'POST', options.url, {
    ...(options.headers ? { headers: options.headers(ctx.deps) } : {}),
    ...(form !== undefined ? { form } : {}),
    ...(json !== undefined ? { json } : {}),
    signal: ctx.signal,
    throwHttpErrors: false,
    retry: false,
  });
  if (!response.ok) {
    let error: string | undefined;
    try {
      const body = (await response.json()) as { error?: unknown };
      if (typeof body?.error === 'string') error = errorField(body.error, response, ctx.deps, form);
    } catch {
      // not JSON: the status says enough
    }
    throw new TokenEndpointError(
      `The "${ctx.step}" endpoint answered status ${response.status}${error ? ` (${error})` : ''}`,
      { status: response.status, error, request: response.request },
    );
  }
  return response;
}

/** RFC 6749 §5.2: an `error` value uses %x20-21 / %x23-5B / %x5D-7E only; anything else is shown as `?`. */
const NOT_ERROR_CHAR = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

/**
 * The endpoint's `error` field as it may appear in a message: every credential the step sent (dependency
 * tokens, secret headers, query and form values) and secret JSON fields redacted first, then cut to 64
 * characters and restricted to the RFC 6749 error charset (no CR/LF for log injection). Runs on failures only.
 */
function errorField(
  raw: string,
  response: HttpResponse,
  deps: Readonly<Record<string, Token>>,
  form: Record<string, string> | undefined,
): string {
  const { redactor, headers, path } = response.request;
  const sent = redactor.sentValues(headers, path);
  for (const token of Object.values(deps)) sent.push(token.value.reveal());
  for (const [name, value] of Object.entries(form ?? {})) if (redactor.isSecretParam(name)) sent.push(value);
  // Longest first, so a whole value goes before a shorter one inside it.
  sent.sort((a, b) => b.length - a.length);
  return redactor.echo(raw, sent).slice(0, 64).replace(NOT_ERROR_CHAR, '?');
}

function at(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * A step fetcher that calls an endpoint and reads the token from a JSON body path such as
 * `data.app_token`; `expiresInPath` (default `expires_in`) gives its lifetime in seconds.
 */
export function fromJsonBody(
  options: EndpointFetcherOptions & { readonly tokenPath: string; readonly expiresInPath?: string },
): StepFetcher {
  if (typeof options?.tokenPath !== 'string' || !options.tokenPath) {
    throw new InvalidOptionError('tokenPath', 'expected a dotted JSON path such as "data.token"');
  }
  return async (ctx) => {
    const response = await callEndpoint(options, ctx);
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new TokenEndpointError(`The "${ctx.step}" endpoint answered with a body that is not JSON`, {
        status: response.status,
        request: response.request,
      });
    }
    const token = at(body, options.tokenPath);
    if (typeof token !== 'string' || !token) {
      throw new TokenEndpointError(
        `The "${ctx.step}" endpoint answered without a token at "${options.tokenPath}"`,
        {
          status: response.status,
          request: response.request,
        },
      );
    }
    const expiresIn = Number(at(body, options.expiresInPath ?? 'expires_in'));
    return {
      accessToken: token,
      expiresIn: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined,
    };
  };
}

/**
 * A step fetcher that calls an endpoint and reads the token from a response header;
 * `expiresInHeader` optionally names a header with its lifetime in seconds.
 */
export function fromHeader(
  options: EndpointFetcherOptions & { readonly header: string; readonly expiresInHeader?: string },
): StepFetcher {
  if (typeof options?.header !== 'string' || !options.header) {
    throw new InvalidOptionError('header', 'expected the name of the response header carrying the token');
  }
  const name = options.header.toLowerCase();
  return async (ctx) => {
    const response = await callEndpoint(options, ctx);
    await response.dump();
    const raw = response.headers[name];
    const token = Array.isArray(raw) ? raw[0] : raw;
    if (typeof token !== 'string' || !token) {
      throw new TokenEndpointError(`The "${ctx.step}" endpoint answered without the "${name}" header`, {
        status: response.status,
        request: response.request,
      });
    }
    const exp = options.expiresInHeader
      ? Number(response.headers[options.expiresInHeader.toLowerCase()])
      : Number.NaN;
    return { accessToken: token, expiresIn: Number.isFinite(exp) && exp > 0 ? exp : undefined };
  };
}
