/**
 * Usage tracking of a session's clients: one tracker per client name, each aggregated into the session's tracker,
 * so `session.usage()` reports every client together and each by name.
 */
import type { ClientOptions } from '../client/options.js';
import type { UsageState } from '../client/state.js';
import { type Clock, systemClock } from '../core/clock.js';
import { isUsageTracker, type UsageOption, type UsageSnapshot, UsageTracker } from '../policies/usage.js';

/** What `session.usage()` reports: every tracked client together, and each client by name. */
export interface SessionUsage extends UsageSnapshot {
  /** Each tracked client's own report, by client name (clients made twice under one name share one). */
  readonly clients: Readonly<Record<string, UsageSnapshot>>;
}

/** The usage trackers of one session. */
export class SessionUsageTrackers {
  readonly #option: UsageOption | undefined;
  readonly #clock: Clock | undefined;
  readonly #trackers = new Map<string, UsageTracker>();
  /** The session's aggregate, created with the first tracked client. */
  #aggregate: UsageTracker | undefined;

  /** `option` is the session's `usage`; `clock` its clock (a client's own clock wins). */
  constructor(option: UsageOption | undefined, clock: Clock | undefined) {
    this.#option = option;
    this.#clock = clock;
  }

  /**
   * A client's options with its usage tracker: one per client name, aggregated into the session's tracker. A client
   * that brings its own `UsageTracker`, or says `usage: false`, keeps its option as it is.
   */
  withUsage(name: string, options: ClientOptions): ClientOptions {
    const own = options.usage;
    if (own === false || isUsageTracker(own) || (own === undefined && !this.#option)) return options;
    let tracker = this.#trackers.get(name);
    if (!tracker) {
      const session = this.#option;
      const clock = options.clock ?? this.#clock ?? systemClock;
      this.#aggregate ??= isUsageTracker(session)
        ? session
        : new UsageTracker({ clock, ...(typeof session === 'object' && { limits: session }) });
      tracker = new UsageTracker({
        clock,
        parent: this.#aggregate,
        ...(typeof own === 'object' && { limits: own }),
      });
      this.#trackers.set(name, tracker);
    }
    return { ...options, usage: tracker };
  }

  /** Every tracked client together and each by name; `undefined` when no client tracks usage. */
  report(): SessionUsage | undefined {
    if (!this.#aggregate) return undefined;
    const clients: Record<string, UsageSnapshot> = {};
    for (const [name, tracker] of this.#trackers) clients[name] = tracker.snapshot();
    return { ...this.#aggregate.snapshot(), clients };
  }

  /** The aggregate as a state part (`{ enabled: false }` when no client tracks usage). */
  state(): UsageState {
    const usage = this.#aggregate?.snapshot();
    return usage ? { enabled: true, ...usage } : { enabled: false };
  }
}
