import { inspect } from 'node:util';
import type { Clock } from './clock.js';
import type { EventHub } from './events.js';
import type { CallContext, CallPolicyOptions, CallTags, ClientEvents } from './types.js';

/** What error normalisation needs to know about an abort: a signal or a {@link CallAbort}. */
export interface AbortState {
  readonly aborted: boolean;
  readonly reason?: unknown;
}

type AbortListener = () => void;

/** Reports an error thrown by a listener (`what` names it) as a process warning. */
export function reportListenerError(error: unknown, what = 'an abort listener'): void {
  process.emitWarning(`reqforge: ${what} threw: ${String(error)}`, { code: 'REQFORGE_LISTENER_ERROR' });
}

/**
 * The abort state of one call, cheap enough to create per call and per timeout layer. It quacks like the
 * EventEmitter signals undici accepts (`aborted`, `reason`, `on`/`once`/`removeListener`), so transports pass it
 * straight through; a standard `AbortSignal` is only built when someone reads {@link CallAbort.signal}
 * (creating one per call costs microseconds in Node 20).
 */
export class CallAbort implements AbortState {
  aborted = false;
  reason: unknown = undefined;
  /** True when nothing can ever abort it (no caller signal, no timeout): transports may ignore it. */
  readonly inert: boolean;
  // Listener functions and linked children (aborted with this one's reason), in the order they were added.
  #listeners: (AbortListener | CallAbort)[] | undefined;
  #controller: AbortController | undefined;
  #detach: (() => void) | undefined;
  // The call itself holds one; see retain().
  #holds = 1;

  constructor(inert = false) {
    this.inert = inert;
  }

  /**
   * A CallAbort that follows a caller's `AbortSignal`; call {@link CallAbort.detach} when the call is over so a
   * long-lived signal shared by many calls does not collect listeners.
   */
  static fromSignal(signal: AbortSignal | CallAbort | undefined): CallAbort {
    if (!signal) return new CallAbort(true);
    if (signal instanceof CallAbort) return signal;
    const abort = new CallAbort();
    if (signal.aborted) {
      abort.abort(signal.reason);
    } else {
      const follow = () => abort.abort(signal.reason);
      signal.addEventListener('abort', follow, { once: true });
      abort.#detach = () => signal.removeEventListener('abort', follow);
    }
    return abort;
  }

  /** Stops following the caller's signal. */
  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
  }

  /**
   * Keeps following the caller's signal until a matching {@link CallAbort.release}: a response body still being
   * read holds it so the caller can abort the read.
   */
  retain(): void {
    this.#holds++;
  }

  /** Gives back a {@link CallAbort.retain} (or the call's own hold); the last one stops following the signal. */
  release(): void {
    if (this.#holds > 0) this.#holds--;
    if (this.#holds === 0) this.detach();
  }

  /** Aborts with `reason` (once) and tells every listener and linked child. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) {
      for (const l of listeners) {
        try {
          typeof l === 'function' ? l() : l.abort(reason);
        } catch (error) {
          // One failing listener must not keep the others (timeouts, transports) from hearing of the abort.
          reportListenerError(error);
        }
      }
    }
    this.#controller?.abort(reason);
  }

  /**
   * Makes `child` abort when this one does (at once if this one already has), until {@link CallAbort.unlink}.
   * An inert parent can never abort, so linking to it costs nothing.
   */
  link(child: CallAbort): void {
    if (this.aborted) child.abort(this.reason);
    else if (!this.inert) this.#add(child);
  }

  /** Undoes {@link CallAbort.link}. */
  unlink(child: CallAbort): void {
    this.#remove(child);
  }

  /** A new linked child; call {@link CallAbort.unlink} with it when done. */
  child(): CallAbort {
    const child = new CallAbort();
    this.link(child);
    return child;
  }

  /** Adds an abort listener (EventEmitter style, as undici expects). */
  on(_event: 'abort', listener: AbortListener): this {
    this.#add(listener);
    return this;
  }

  /** Same as {@link CallAbort.on}: listeners run at most once anyway. */
  once(event: 'abort', listener: AbortListener): this {
    return this.on(event, listener);
  }

  #add(entry: AbortListener | CallAbort): void {
    if (this.#listeners) this.#listeners.push(entry);
    else this.#listeners = [entry];
  }

  #remove(entry: AbortListener | CallAbort): void {
    const list = this.#listeners;
    if (!list) return;
    // Listeners mostly go in the reverse order they came (nested layers), so look from the end.
    const i = list.lastIndexOf(entry);
    if (i === list.length - 1) list.pop();
    else if (i !== -1) list.splice(i, 1);
  }

  /** Removes an abort listener. */
  removeListener(_event: 'abort', listener: AbortListener): this {
    this.#remove(listener);
    return this;
  }

  /** Same as {@link CallAbort.removeListener}. */
  off(event: 'abort', listener: AbortListener): this {
    return this.removeListener(event, listener);
  }

  /** A standard `AbortSignal` mirroring this state, created on first use. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }
}

/** A signal that never aborts: the default for calls without a signal. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

class Call implements CallContext {
  abort: CallAbort;
  readonly callAbort: CallAbort;
  deadline = Number.POSITIVE_INFINITY;
  attempt = 1;
  maxRetries = 0;
  readonly tags: CallTags;
  readonly clock: Clock;
  readonly events: EventHub<ClientEvents>;
  readonly options: CallPolicyOptions;
  readonly maxBodySize: number;
  readonly decompress: boolean;
  crossOrigin = false;
  readonly startedAt: number;
  #bag: Map<unknown, unknown> | undefined;

  constructor(init: CallInit) {
    this.abort = CallAbort.fromSignal(init.signal);
    this.callAbort = this.abort;
    this.tags = init.tags;
    this.clock = init.clock;
    this.events = init.events;
    this.options = init.options;
    this.maxBodySize = init.maxBodySize;
    this.decompress = init.decompress ?? false;
    this.startedAt = init.clock.now();
  }

  get signal(): AbortSignal {
    return this.abort.inert ? NEVER_ABORTED : this.abort.signal;
  }

  get isRetry(): boolean {
    return this.attempt > 1;
  }

  get bag(): Map<unknown, unknown> {
    this.#bag ??= new Map();
    return this.#bag;
  }

  /**
   * What a printed context shows (`JSON.stringify`, and `util.inspect` below): where the call stands and the
   * policy options, never the caller's `json`, `form`, `query` or `headers` (the request in the same payload
   * shows those redacted). Built only when printed, so emitting an event costs nothing extra.
   */
  toJSON(): CallContextJson {
    const o = this.options as Readonly<Record<string, unknown>>;
    const options: Record<string, unknown> = {};
    for (const key of PRINTED_OPTIONS) if (o[key] !== undefined) options[key] = o[key];
    return {
      attempt: this.attempt,
      startedAt: this.startedAt,
      deadline: Number.isFinite(this.deadline) ? this.deadline : null,
      aborted: this.abort.aborted,
      tags: this.tags,
      options,
    };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `CallContext ${inspect(this.toJSON(), options)}`;
  }
}

// The call options that steer policies: safe to print, unlike bodies, queries and headers.
const PRINTED_OPTIONS = ['timeout', 'idempotent', 'retry', 'redirect', 'throwHttpErrors'] as const;

/** The printed form of a call context: see {@link createCallContext}. */
export interface CallContextJson {
  readonly attempt: number;
  readonly startedAt: number;
  /** `null` when the call has no deadline. */
  readonly deadline: number | null;
  readonly aborted: boolean;
  readonly tags: CallTags;
  readonly options: Readonly<Record<string, unknown>>;
}

interface CallInit {
  readonly signal?: AbortSignal | CallAbort | undefined;
  readonly tags: CallTags;
  readonly clock: Clock;
  readonly events: EventHub<ClientEvents>;
  readonly options: CallPolicyOptions;
  readonly maxBodySize: number;
  /** Whether responses decode their `Content-Encoding`. @default false */
  readonly decompress?: boolean | undefined;
}

/**
 * Creates the context for one call. Its printed forms (`JSON.stringify`, `util.inspect`) show only the attempt,
 * timing, tags and policy options (see {@link CallContextJson}), so event payloads never print a caller's body.
 */
export function createCallContext(init: CallInit): CallContext {
  return new Call(init);
}
