/**
 * The bulkhead's wait queues: one FIFO for every call, or one FIFO per key served round-robin (fair queuing).
 */
import type { Clock, TimerHandle } from '../core/clock.js';

/** A call waiting for a slot. */
export interface Waiter {
  /** Hands the slot to the call. */
  resolve(): void;
  /** The fair queue's key ('' in FIFO mode). */
  readonly key: string;
  readonly clock: Clock;
  timer: TimerHandle | undefined;
}

/** What the bulkhead needs of its queue. */
export interface WaitQueue {
  /** Calls waiting now. */
  readonly size: number;
  /** Whether a call with `key` would go over the queue's bound. */
  full(key: string): boolean;
  push(waiter: Waiter): void;
  /** The next waiter to get a freed slot, removed from the queue. */
  shift(): Waiter | undefined;
  /** Removes a waiter that gave up (abort, queue timeout); nothing when it already left. */
  remove(waiter: Waiter): void;
}

/** One FIFO queue of at most `limit` calls. */
export class FifoQueue implements WaitQueue {
  readonly #items: Waiter[] = [];
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#items.length;
  }

  full(): boolean {
    return this.#items.length >= this.#limit;
  }

  push(waiter: Waiter): void {
    this.#items.push(waiter);
  }

  shift(): Waiter | undefined {
    return this.#items.shift();
  }

  remove(waiter: Waiter): void {
    const i = this.#items.indexOf(waiter);
    if (i !== -1) this.#items.splice(i, 1);
  }
}

/**
 * One FIFO queue per key, at most `limit` calls each. The keys with waiting calls form a ring (the map's insertion
 * order): a freed slot goes to the first key's oldest call, and that key moves to the back of the ring. A key that
 * arrives behind another key's long queue is therefore served after one call of each key ahead of it.
 */
export class FairQueue implements WaitQueue {
  readonly #byKey = new Map<string, Waiter[]>();
  readonly #limit: number;
  #size = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#size;
  }

  full(key: string): boolean {
    return (this.#byKey.get(key)?.length ?? 0) >= this.#limit;
  }

  push(waiter: Waiter): void {
    const list = this.#byKey.get(waiter.key);
    if (list) list.push(waiter);
    else this.#byKey.set(waiter.key, [waiter]);
    this.#size++;
  }

  shift(): Waiter | undefined {
    for (const [key, list] of this.#byKey) {
      const waiter = list.shift() as Waiter; // lists in the map are never empty
      this.#byKey.delete(key);
      if (list.length > 0) this.#byKey.set(key, list); // to the back of the ring
      this.#size--;
      return waiter;
    }
    return undefined;
  }

  remove(waiter: Waiter): void {
    const list = this.#byKey.get(waiter.key);
    const i = list ? list.indexOf(waiter) : -1;
    if (!list || i === -1) return;
    list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(waiter.key);
    this.#size--;
  }
}
