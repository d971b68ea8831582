import { type Clock, sleepWith, type TimerHandle } from '../core/clock.js';

interface FakeTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
  readonly keepAlive: boolean;
}

/**
 * A clock you move by hand, for testing time-based logic (retry delays, breaker windows, limiter
 * refills, token expiry) without waiting. Pass it as the `clock` option.
 *
 * @example
 * const clock = new FakeClock();
 * const api = createClient({ baseUrl, clock });
 * const call = api.get('/flaky');
 * await clock.advance(1_000); // runs every timer due in the next second
 */
export class FakeClock implements Clock {
  #now: number;
  readonly #wallStart: number;
  #timers: FakeTimer[] = [];
  #seq = 0;

  /** @param wallStart wall-clock time at monotonic 0; defaults to 2026-01-01T00:00:00Z. */
  constructor(wallStart = Date.UTC(2026, 0, 1)) {
    this.#now = 0;
    this.#wallStart = wallStart;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#wallStart + this.#now;
  }

  setTimeout(fn: () => void, ms: number, keepAlive = false): TimerHandle {
    const id = ++this.#seq;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn, keepAlive });
    return { __timer: true, id } as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as unknown as { id: number }).id;
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Number of waiting timers that would keep the process alive on the system clock (a pending call's waits and
   * deadlines); background timers are not counted. Zero once every call settled means a script would exit.
   */
  get keepingAlive(): number {
    let n = 0;
    for (const t of this.#timers) if (t.keepAlive) n++;
    return n;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting promise chains run
   * between them, so code awaiting a sleep proceeds as it would in real time.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (;;) {
      const next = this.#nextDue(target);
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await flush();
    }
    this.#now = target;
    await flush();
  }

  /** Advances to the next timer and fires it; returns false when none is pending. */
  async next(): Promise<boolean> {
    await flush();
    const next = this.#nextDue(Number.POSITIVE_INFINITY);
    if (!next) return false;
    await this.advance(next.at - this.#now);
    return true;
  }

  #nextDue(limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (t.at <= limit && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
    }
    return best;
  }
}

/** Lets pending promise callbacks and I/O callbacks run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
