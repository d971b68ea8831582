import type { Clock, TimerHandle } from './clock.js';
import { reportListenerError } from './context.js';
import type { HttpRequest } from './request.js';
import type { HttpResponse } from './response.js';
import type { CallContext, Handler } from './types.js';

/** An entry of a {@link DeadlineQueue}: fired once its deadline passes, unless removed first. */
export interface Deadline {
  /** When it fires, in the queue clock's monotonic milliseconds; set by {@link DeadlineQueue.add}. */
  at: number;
  /** True while it waits in a queue; set by the queue. */
  queued: boolean;
  /** Called once the deadline has passed. */
  fire(): void;
}

// Node.js timers overflow (and fire at once) past 2^31 - 1 ms; longer deadlines are re-armed in steps.
const MAX_TIMER_DELAY = 2 ** 31 - 1;
// Dead entries tolerated before the array is compacted.
const COMPACT_AT = 64;

/**
 * Deadlines of one duration on one clock, fired by a single timer. As every entry gets the same duration,
 * entries arrive in deadline order: adding is a push, the timer only ever waits for the oldest entry, and
 * removing one just marks it (dead entries are dropped from the front, and the array is compacted when they
 * outnumber the live ones). This costs far less per call than a Node.js timer (a `Timeout` object, a libuv
 * clock read and a list insert each), which matters for timeouts set on every call.
 *
 * Entries belong to pending calls, so the queue's timer keeps the process alive while it holds live entries,
 * as the calls' sockets would; once the last entry leaves, the timer is cleared.
 */
export class DeadlineQueue {
  readonly ms: number;
  readonly #clock: Clock;
  #items: (Deadline | undefined)[] = [];
  #head = 0;
  #live = 0;
  #timer: TimerHandle | undefined;
  #firing = false;

  constructor(clock: Clock, ms: number) {
    this.#clock = clock;
    this.ms = ms;
  }

  /** Entries waiting. */
  get size(): number {
    return this.#live;
  }

  /** Queues `entry` to fire `ms` from now; returns its deadline. */
  add(entry: Deadline): number {
    const now = this.#clock.now();
    entry.at = now + this.ms;
    entry.queued = true;
    this.#items.push(entry);
    this.#live++;
    if (this.#timer === undefined && !this.#firing) this.#arm(entry.at, now);
    return entry.at;
  }

  /** Takes `entry` out (no-op when it already fired or was removed). */
  remove(entry: Deadline): void {
    if (!entry.queued) return;
    entry.queued = false;
    this.#live--;
    if (this.#live === 0) {
      // Nothing left to wait for: release the timer (and the array) rather than keep a stale wake-up.
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#items = [];
      this.#head = 0;
      return;
    }
    this.#dropDeadHead();
    const span = this.#items.length - this.#head;
    if (span - this.#live > COMPACT_AT && this.#live * 2 < span) {
      this.#items = this.#items.slice(this.#head).filter((e) => e?.queued === true);
      this.#head = 0;
    }
  }

  #dropDeadHead(): void {
    const items = this.#items;
    while (this.#head < items.length && items[this.#head]?.queued !== true) items[this.#head++] = undefined;
    if (this.#head > COMPACT_AT && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
  }

  // Every entry is a pending call's deadline, so the timer keeps the process alive; it exists only while the
  // queue holds live entries (the last one leaving clears it), so nothing is held once the last call settles.
  #arm(at: number, now: number): void {
    this.#timer = this.#clock.setTimeout(
      this.#onTimer,
      Math.min(Math.max(0, at - now), MAX_TIMER_DELAY),
      true,
    );
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    const now = this.#clock.now();
    // Fields, not locals: a fired entry may add or remove entries of this queue synchronously.
    this.#firing = true;
    try {
      for (;;) {
        this.#dropDeadHead();
        const entry = this.#items[this.#head];
        if (entry === undefined || entry.at > now) break;
        entry.queued = false;
        this.#live--;
        this.#items[this.#head++] = undefined;
        try {
          entry.fire();
        } catch (error) {
          // The other due entries still fire, and the timer is still re-armed.
          reportListenerError(error, 'a deadline');
        }
      }
    } finally {
      this.#firing = false;
    }
    if (this.#live === 0) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#timer === undefined) {
      this.#arm((this.#items[this.#head] as Deadline).at, now);
    }
  };
}

const queues = new WeakMap<Clock, Map<number, DeadlineQueue>>();
// Distinct durations shared per clock; past this (per-call timeouts computed on the fly), each gets its own queue.
const MAX_SHARED = 256;

/** The shared {@link DeadlineQueue} of a clock for one duration. */
export function deadlineQueue(clock: Clock, ms: number): DeadlineQueue {
  let byMs = queues.get(clock);
  if (!byMs) {
    byMs = new Map();
    queues.set(clock, byMs);
  }
  let queue = byMs.get(ms);
  if (!queue) {
    queue = new DeadlineQueue(clock, ms);
    if (byMs.size < MAX_SHARED) byMs.set(ms, queue);
  }
  return queue;
}

/**
 * A handler that can enforce an attempt deadline itself, as the undici transport does (its exchange is the queue
 * entry, and a timeout aborts the request). An attempt timeout placed right around such a handler hands it the
 * deadline instead of racing the call, which saves a promise, an abort layer and a queue entry per attempt.
 */
export interface DeadlineAwareHandler extends Handler {
  readonly withDeadline: (
    request: HttpRequest,
    ctx: CallContext,
    deadline: DeadlineQueue,
  ) => Promise<HttpResponse>;
}

/** The deadline-taking entry point of a handler, if it has one. */
export function deadlineEntry(handler: Handler): DeadlineAwareHandler['withDeadline'] | undefined {
  const entry = (handler as Partial<DeadlineAwareHandler>).withDeadline;
  return typeof entry === 'function' ? entry : undefined;
}
