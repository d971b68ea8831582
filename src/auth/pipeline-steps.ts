/**
 * The options of a {@link TokenPipeline} and their validation: the steps, their dependencies (which must exist and
 * form no cycle), the output step, and the store the steps are kept in.
 */
import type { Client } from '../client/client.js';
import type { Clock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import type { TokenStore } from '../stores/types.js';
import type { TokenPipeline } from './pipeline.js';
import type { Token, TokenInit } from './token.js';
import type { TokenManagerOptions } from './token-manager-options.js';
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
  /**
   * Longest time to keep this step's token, in ms; the token's own expiry applies when sooner. With a `store`, the
   * stored token carries this expiry, so every process and restart sees the same one.
   */
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
  /**
   * Keeps every step's token in this store (the same stores, encryption and leases as a TokenManager), so a 30-day
   * device token survives restarts and is fetched once for every process sharing the store: each step is served by
   * a TokenManager of its own, keyed `pipeline:<id>/<step>`. Needs a unique `id`.
   * @default none: steps are cached in this process only
   */
  readonly store?: TokenStore;
  /** TokenManager options of the steps' managers (with a `store`): `leaseTtl`, `waitTimeout`, `keyPrefix`, … */
  readonly tokens?: Omit<TokenManagerOptions, 'provider' | 'store' | 'clock'>;
}

/** A checked step. */
export interface CheckedStep {
  readonly deps: readonly string[];
  readonly fetch: StepFetcher;
  readonly ttl: number | undefined;
}

/** What {@link checkPipelineOptions} returns. */
export interface CheckedPipeline {
  readonly steps: ReadonlyMap<string, CheckedStep>;
  /** The steps depending on each step. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
  readonly output: string;
}

const KEYS = ['steps', 'output', 'id', 'cascade', 'client', 'clock', 'expirySkew', 'store', 'tokens'];

/** @internal validates a pipeline's options, naming the option of every problem. */
export function checkPipelineOptions(options: TokenPipelineOptions): CheckedPipeline {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'TokenPipeline expects an options object');
  }
  knownKeys('', options, KEYS);
  if (
    typeof options.steps !== 'object' ||
    options.steps === null ||
    Object.keys(options.steps).length === 0
  ) {
    throw new InvalidOptionError('steps', 'expected an object with at least one step');
  }
  const steps = new Map<string, CheckedStep>();
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
    steps.set(name, { deps, fetch: step.fetch, ttl });
  }
  const dependents = new Map<string, string[]>();
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
      const list = dependents.get(dep) ?? [];
      list.push(name);
      dependents.set(dep, list);
    }
  }
  const cycle = findCycle(steps);
  if (cycle) {
    throw new InvalidOptionError(`steps.${cycle[0]}.deps`, `the steps form a cycle: ${cycle.join(' → ')}`);
  }
  return { steps, dependents, output: outputOf(options.output, steps, dependents) };
}

function outputOf(
  given: string | undefined,
  steps: ReadonlyMap<string, CheckedStep>,
  dependents: ReadonlyMap<string, readonly string[]>,
): string {
  if (given !== undefined) {
    if (!steps.has(given))
      throw new InvalidOptionError('output', `there is no step named "${String(given)}"`);
    return given;
  }
  const sinks = [...steps.keys()].filter((n) => !dependents.has(n));
  if (sinks.length !== 1) {
    throw new InvalidOptionError(
      'output',
      `several steps have no dependents (${sinks.join(', ')}); name the one the pipeline provides`,
    );
  }
  return sinks[0]!;
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
