/**
 * Token pipelines: a DAG of token steps (device → app → user token), each cached for its own TTL, in this process or
 * in a token store. Its rooms: the options and their checks (`pipeline-steps.ts`), the stored steps
 * (`pipeline-store.ts`) and the built-in fetchers (`pipeline-fetchers.ts`).
 */
import type { Client } from '../client/client.js';
import { createClient } from '../client/client.js';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionError, isHttpError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import { isTokenEndpointError, TokenStepError } from './errors.js';
import { type CheckedStep, checkPipelineOptions, type TokenPipelineOptions } from './pipeline-steps.js';
import { StoredSteps } from './pipeline-store.js';
import { createToken, Token, type TokenInit } from './token.js';
import type { FetchTokenContext, TokenProvider } from './types.js';
import { numberOption } from './validate.js';

export {
  type EndpointFetcherOptions,
  fromHeader,
  fromJsonBody,
} from './pipeline-fetchers.js';
export type {
  PipelineStep,
  PipelineStepContext,
  StepFetcher,
  TokenPipelineOptions,
} from './pipeline-steps.js';
export { stepIdentity } from './pipeline-store.js';

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
  /** Tokens fetched by the step so far (in this process). */
  readonly fetches: number;
  /** Expiry of the cached token (epoch ms), if one is cached. */
  readonly expiresAt: number | undefined;
  /** Fingerprint of the cached token, if any. */
  readonly fingerprint: string | undefined;
}

/**
 * A DAG of token steps (such as device → app → user token), each cached for its own TTL and fetched with its
 * dependencies' tokens. A pipeline is a {@link TokenProvider}: give it to a `TokenManager` or `tokenAuth()` like any
 * other provider. With a `store`, every step's token is kept there (encrypted when the store encrypts, one fetch
 * across processes through the store's lease), so a long-lived device token survives restarts and is shared by
 * replicas.
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
  readonly #steps: ReadonlyMap<string, CheckedStep>;
  readonly #dependents: ReadonlyMap<string, readonly string[]>;
  readonly #state = new Map<string, StepState>();
  readonly #stored: StoredSteps | undefined;
  readonly #cascade: boolean;
  readonly #clock: Clock;
  readonly #skew: number;
  readonly #client: Client;
  readonly #ownsClient: boolean;
  readonly #closing = new AbortController();
  readonly #invalidateListeners = new Set<(reason: string) => void>();

  constructor(options: TokenPipelineOptions) {
    const checked = checkPipelineOptions(options);
    this.#steps = checked.steps;
    this.#dependents = checked.dependents;
    this.output = checked.output;
    this.id = options.id ?? 'pipeline';
    this.defaultId = options.id === undefined;
    this.#cascade = options.cascade ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#skew = numberOption('expirySkew', options.expirySkew, 1000);
    for (const name of this.#steps.keys()) {
      this.#state.set(name, { token: undefined, expiresAt: 0, inflight: undefined, fetches: 0 });
    }
    if (options.store !== undefined) {
      // Keys in a shared store must tell this pipeline's steps from any other's (credential identity).
      if (this.defaultId && options.store.name !== 'memory') {
        throw new InvalidOptionError(
          'id',
          `a pipeline keeping its steps in the ${options.store.name} store needs a unique id (its steps' tokens are keyed by it)`,
        );
      }
      this.#stored = new StoredSteps(
        this.id,
        [...this.#steps.keys()],
        { store: options.store, clock: this.#clock, expirySkew: this.#skew, tokens: options.tokens },
        (step) => this.#fetchStep(step, true),
      );
    } else if (options.tokens !== undefined) {
      throw new InvalidOptionError(
        'tokens',
        'configures the steps’ token managers, which only a `store` uses; add a store or drop it',
      );
    }
    if (options.client) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else {
      this.#client = createClient({ name: 'token-pipeline', timeout: { total: 10_000, attempt: 5_000 } });
      this.#ownsClient = true;
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
   * Drops a step's cached token (in the store too, with one); with `cascade` (the pipeline's default) also every
   * step that depends on it, directly or not. Returns the names of the steps dropped.
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
      const why = reason ?? (name === step ? 'manual' : 'cascade');
      this.#stored?.drop(name, why);
      this.events.emit('invalidated', { step: name, reason: why });
      if (cascade) for (const d of this.#dependents.get(name) ?? []) visit(d);
    };
    visit(step);
    return dropped;
  }

  /** Fetch counts and cached expiries per step. */
  stats(): Record<string, PipelineStepStats> {
    const out: Record<string, PipelineStepStats> = {};
    for (const [name, s] of this.#state) {
      const info = this.#stored?.info(name);
      out[name] = info
        ? { fetches: s.fetches, expiresAt: info.expiresAt, fingerprint: info.fingerprint }
        : {
            fetches: s.fetches,
            expiresAt: s.token ? s.expiresAt : undefined,
            fingerprint: s.token?.fingerprint(),
          };
    }
    return out;
  }

  /** {@link TokenProvider.fetchToken}: a fresh output token (dependencies reused while valid). */
  async fetchToken(ctx: FetchTokenContext): Promise<Token> {
    const cached =
      this.#stored?.info(this.output)?.fingerprint ?? this.#state.get(this.output)!.token?.fingerprint();
    if (cached !== undefined && ctx.current && cached === ctx.current.fingerprint()) {
      // The manager asked for this refresh: drop the step without telling it back.
      this.#drop(this.output, false, 'refresh');
    }
    return this.#resolve(this.output);
  }

  /** Aborts fetches in flight and closes the pipeline's own client (and the steps' managers with a store). */
  async close(): Promise<void> {
    this.#closing.abort(new Error('The token pipeline was closed'));
    await this.#stored?.close();
    if (this.#ownsClient) await this.#client.close();
  }

  #resolve(name: string): Promise<Token> {
    if (this.#stored) return this.#stored.get(name);
    const s = this.#state.get(name)!;
    if (s.token && this.#clock.wallNow() < s.expiresAt - this.#skew) return Promise.resolve(s.token);
    if (s.inflight) return s.inflight;
    const p = this.#fetchStep(name, true).finally(() => {
      if (s.inflight === p) s.inflight = undefined;
    });
    s.inflight = p;
    return p;
  }

  /** Runs a step's fetcher with its dependencies' tokens; the token's expiry is cut to the step's TTL. */
  async #fetchStep(name: string, retryOn401: boolean): Promise<Token> {
    const step = this.#steps.get(name)!;
    const s = this.#state.get(name)!;
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
        return this.#fetchStep(name, false);
      }
      throw new TokenStepError(name, { cause: error });
    } finally {
      closing.removeEventListener('abort', onClose);
    }
    let token: Token;
    try {
      token = withTtl(
        result instanceof Token
          ? result
          : createToken(result, started, step.ttl === undefined ? {} : { defaultLifetime: step.ttl }),
        started,
        step.ttl,
      );
    } catch (error) {
      throw new TokenStepError(name, { cause: error });
    }
    s.token = token;
    s.expiresAt = token.expiresAt;
    s.fetches++;
    this.events.emit('fetched', { step: name, fingerprint: token.fingerprint(), expiresAt: s.expiresAt });
    return token;
  }
}

/** The token with its expiry cut to `started + ttl` (so a stored token carries the step's TTL). */
function withTtl(token: Token, started: number, ttl: number | undefined): Token {
  if (ttl === undefined || token.expiresAt <= started + ttl) return token;
  return new Token({
    value: token.value,
    tokenType: token.tokenType,
    issuedAt: token.issuedAt,
    expiresAt: started + ttl,
    expirySource: 'expires_at',
    refreshHint: token.refreshHint,
    refreshToken: token.refreshToken,
    refreshExpiresAt: token.refreshExpiresAt,
    scope: token.scope,
  });
}

function isUnauthorized(error: unknown): boolean {
  return (isHttpError(error) || isTokenEndpointError(error)) && error.status === 401;
}
