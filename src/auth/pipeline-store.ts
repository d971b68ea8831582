/**
 * Pipeline steps kept in a token store: each step is served by a {@link TokenManager} of its own (the store's
 * encryption, leases and single flight across processes, a process-local copy when the store is down), whose
 * provider runs the step's fetcher with its dependencies' tokens. Used by {@link TokenPipeline} when it has a `store`.
 */
import type { Clock } from '../core/clock.js';
import type { TokenStore } from '../stores/types.js';
import type { Token } from './token.js';
import { TokenManager, type TokenManagerOptions } from './token-manager.js';
import type { TokenInfo, TokenProvider } from './types.js';

/**
 * The credential identity of one step's tokens: the pipeline's id and the step's name, each percent-encoded so one
 * pipeline's step can never share a key with another pipeline's (`pipeline:<id>/<step>`).
 */
export function stepIdentity(pipelineId: string, step: string): string {
  return `pipeline:${encodeURIComponent(pipelineId)}/${encodeURIComponent(step)}`;
}

/** @internal the stored steps of one pipeline. */
export class StoredSteps {
  readonly #managers = new Map<string, TokenManager>();
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    pipelineId: string,
    steps: readonly string[],
    settings: {
      readonly store: TokenStore;
      readonly clock: Clock;
      readonly expirySkew: number;
      readonly tokens: Omit<TokenManagerOptions, 'provider' | 'store' | 'clock'> | undefined;
    },
    fetchStep: (step: string) => Promise<Token>,
  ) {
    for (const step of steps) {
      const provider: TokenProvider = {
        id: `${pipelineId}/${step}`,
        identity: stepIdentity(pipelineId, step),
        fetchToken: () => fetchStep(step),
      };
      const manager = new TokenManager({
        // A step is refreshed when a later step needs it, not on a timer of its own.
        backgroundRefresh: false,
        expirySkew: settings.expirySkew,
        ...settings.tokens,
        provider,
        store: settings.store,
        clock: settings.clock,
      });
      this.#managers.set(step, manager);
    }
  }

  /** The step's manager (for its events). */
  manager(step: string): TokenManager {
    return this.#managers.get(step)!;
  }

  /** A valid token of the step: this process's copy, the store's, or a fetch (one across processes). */
  async get(step: string): Promise<Token> {
    if (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    return this.manager(step).getToken();
  }

  /** Drops the step's token here and in the store; {@link StoredSteps.get} waits for it. */
  drop(step: string, reason: string): void {
    // Not 'manual' or 'unauthorized': the pipeline decides when a step is dropped, the manager must not throttle it.
    const p = this.manager(step)
      .invalidate(undefined, undefined, `step-${reason}`)
      .catch(() => false)
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** What is known about the step's cached token, without it. */
  info(step: string): TokenInfo | undefined {
    return this.manager(step).getTokenInfo();
  }

  /** Waits for pending drops, then closes every step's manager. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    await Promise.allSettled([...this.#managers.values()].map((m) => m.close()));
  }
}
