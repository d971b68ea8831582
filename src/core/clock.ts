import { NEVER_ABORTED } from './context.js';

/** Handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { readonly __timer: true } | ReturnType<typeof setTimeout>;

/**
 * What a wait can be cut short by: a standard `AbortSignal`, or a call's own abort state (`ctx.abort`, a
 * `CallAbort`), which costs no `AbortSignal` and adds nothing to a signal other calls share.
 */
export type WaitSignal =
  | AbortSignal
  | {
      readonly aborted: boolean;
      readonly reason?: unknown;
      /** True when nothing can ever abort it: a wait then listens to nothing. */
      readonly inert?: boolean;
      on(event: 'abort', listener: () => void): unknown;
      removeListener(event: 'abort', listener: () => void): unknown;
    };

/**
 * Time as policies see it. The system clock is the default; tests use `FakeClock` from
 * `reqforge/testing` to drive retry, breaker and limiter logic without waiting.
 *
 * A timer either works on behalf of a pending call (a retry backoff, a queue wait, a deadline) and keeps the
 * process alive as a pending socket does, or is background work nobody awaits (a refresh ahead of expiry) and
 * never keeps it alive: a script ends once its last call settles, whatever is scheduled behind it.
 */
export interface Clock {
  /** Monotonic milliseconds (never goes back); only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for `Retry-After` dates and token expiry. */
  wallNow(): number;
  /**
   * Calls `fn` after `ms` milliseconds. A background timer unless `keepAlive` is true: only a timer someone
   * awaits (a pending call's wait or deadline) may keep the process alive.
   */
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): TimerHandle;
  /** Cancels a timer made by {@link Clock.setTimeout}. */
  clearTimeout(handle: TimerHandle): void;
  /**
   * Resolves after `ms`, or rejects with the signal's reason when it aborts first. Someone awaits a sleep, so
   * it keeps the process alive while it lasts.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `performance.now()`, `Date.now()`, and Node.js timers ref'd only when `keepAlive` is set. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(fn, ms, keepAlive) {
    const t = setTimeout(fn, ms);
    if (keepAlive !== true) t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  sleep(ms, signal) {
    return sleepWith(systemClock, ms, signal);
  },
};

const never = (): void => undefined;

/**
 * Waits `ms` on `clock`'s timers, keeping the process alive meanwhile (someone awaits it), and rejects with the
 * signal's reason when it aborts first. Implements {@link Clock.sleep} for the system and fake clocks, and is
 * how policies wait on behalf of a call: given the call's `ctx.abort`, it adds one listener to that call's own
 * abort state (none when nothing can abort it), never to a signal shared by other calls, so a queue of any
 * length adds no listener anywhere else.
 */
export function sleepWith(clock: Clock, ms: number, signal?: WaitSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  // Nothing to listen to when nothing can abort it; a shared never-aborting signal must not collect listeners.
  const listen = signal !== undefined && signal !== NEVER_ABORTED && !(signal as { inert?: boolean }).inert;
  if (ms <= 0 && !listen) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let onAbort = never;
    const timer = clock.setTimeout(
      () => {
        if (listen) unlisten(signal, onAbort);
        resolve();
      },
      Math.max(0, ms),
      true,
    );
    if (listen) {
      onAbort = () => {
        clock.clearTimeout(timer);
        reject(signal.reason);
      };
      if ('addEventListener' in signal) signal.addEventListener('abort', onAbort, { once: true });
      else signal.on('abort', onAbort);
    }
  });
}

function unlisten(signal: WaitSignal, listener: () => void): void {
  if ('removeEventListener' in signal) signal.removeEventListener('abort', listener);
  else signal.removeListener('abort', listener);
}
