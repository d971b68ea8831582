/** Handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { readonly __timer: true } | ReturnType<typeof setTimeout>;

/**
 * Time as policies see it. The system clock is the default; tests use `FakeClock` from
 * `reqforge/testing` to drive retry, breaker and limiter logic without waiting.
 */
export interface Clock {
  /** Monotonic milliseconds (never goes back); only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for `Retry-After` dates and token expiry. */
  wallNow(): number;
  /** Calls `fn` after `ms` milliseconds. Timers never keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer made by {@link Clock.setTimeout}. */
  clearTimeout(handle: TimerHandle): void;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `performance.now()`, `Date.now()` and unref'd timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  sleep(ms, signal) {
    return sleepWith(systemClock, ms, signal);
  },
};

/** Implements {@link Clock.sleep} on top of a clock's timers; shared by the system and fake clocks. */
export function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0 && !signal) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
