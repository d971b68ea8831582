// resilience().execute(fn): the HTTP pipeline's retry, breaker, timeout, limiter and bulkhead around any async work,
// with time on a FakeClock (no wall-clock sleeps for logic).
import { describe, expect, it } from 'vitest';
import {
  type CallContext,
  isAbortError,
  isBulkheadRejectedError,
  isCircuitOpenError,
  isRateLimitedError,
  isTimeoutError,
  resilience,
} from '../../src/index.js';
import { createMetrics } from '../../src/observability/index.js';
import { FakeClock } from '../../src/testing.js';

class DbError extends Error {
  constructor(readonly code: string) {
    super(`db failed: ${code}`);
  }
}
const transient = (error: unknown) => error instanceof DbError && error.code === '40001';

/** Work that fails with the given codes in turn, then returns 'ok'; counts its calls. */
function flaky(...codes: string[]) {
  const calls = { n: 0, signals: [] as AbortSignal[] };
  const work = (signal: AbortSignal) => {
    calls.n++;
    calls.signals.push(signal);
    const code = codes.shift();
    return code === undefined ? Promise.resolve('ok') : Promise.reject(new DbError(code));
  };
  return { work, calls };
}

/** Settles `p`, firing the fake clock's timers whenever it waits on one. */
async function drive<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) if (!(await clock.next())) await new Promise((r) => setImmediate(r));
  return p;
}

describe('execute', () => {
  it('returns what the work returns and hands it an AbortSignal and the context', async () => {
    const guard = resilience({ name: 'db' });
    let seen: [boolean, number, string | undefined] | undefined;
    const value = await guard.execute((signal, ctx: CallContext) => {
      seen = [signal instanceof AbortSignal, ctx.attempt, ctx.tags.service];
      return 42;
    });
    expect([value, seen]).toEqual([42, [true, 1, 'db']]);
  });

  it('retries no error unless retryOn says so, and rejects with the work error itself', async () => {
    const { work, calls } = flaky('23505');
    const guard = resilience({ retry: { retries: 3, backoff: 'none', retryOn: transient } });
    const error = await guard.execute(work).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DbError);
    expect((error as DbError).code).toBe('23505');
    expect(calls.n).toBe(1);
    const bare = flaky('40001');
    await expect(resilience().execute(bare.work)).rejects.toBeInstanceOf(DbError);
    expect(bare.calls.n).toBe(1);
  });

  it('retries what retryOn accepts, with the delay function on the clock, and emits retry events', async () => {
    const clock = new FakeClock();
    const { work, calls } = flaky('40001', '40001');
    const starts: number[] = [];
    const guard = resilience({
      clock,
      retry: {
        retries: 3,
        retryOn: transient,
        backoff: ({ attempt, error }) => (error instanceof DbError ? attempt * 100 : 0),
      },
    });
    const retries: string[] = [];
    guard.on('retry', (e) => retries.push(`${e.attempt}:${e.delay}:${e.reason}`));
    const value = await drive(
      clock,
      guard.execute((signal, ctx) => {
        starts.push(clock.now());
        expect(ctx.isRetry).toBe(ctx.attempt > 1);
        return work(signal);
      }),
    );
    expect([value, calls.n, starts]).toEqual(['ok', 3, [0, 100, 300]]);
    expect(retries).toEqual(['1:100:ERR_OPERATION', '2:200:ERR_OPERATION']);
  });

  it('a retryOn that returns a number waits that long; exhausted retries reject with the last work error', async () => {
    const clock = new FakeClock();
    const { work, calls } = flaky('40001', '40001', '40001');
    const starts: number[] = [];
    const guard = resilience({ clock, retry: { retries: 2, retryOn: (e) => (transient(e) ? 750 : false) } });
    const error = await drive(
      clock,
      guard.execute((signal) => {
        starts.push(clock.now());
        return work(signal);
      }),
    ).catch((e: unknown) => e);
    expect([error instanceof DbError, calls.n, starts]).toEqual([true, 3, [0, 750, 1500]]);
  });

  it('opens the breaker after consecutive failures: later executions do not run the work', async () => {
    const clock = new FakeClock();
    const guard = resilience({ name: 'sdk', clock, circuitBreaker: { consecutiveFailures: 2 } });
    const transitions: string[] = [];
    guard.on('breaker', (e) => transitions.push(`${e.key}:${e.from}->${e.to}`));
    const { work, calls } = flaky('X', 'X');
    await expect(guard.execute(work)).rejects.toBeInstanceOf(DbError);
    await expect(guard.execute(work)).rejects.toBeInstanceOf(DbError);
    const refused = await guard.execute(work).catch((e: unknown) => e);
    expect(isCircuitOpenError(refused)).toBe(true);
    expect(calls.n).toBe(2);
    expect(transitions).toEqual(['sdk:closed->open']);
    expect(guard.state().circuitBreaker).toMatchObject([{ key: 'sdk', state: 'open' }]);
    await clock.advance(30_000);
    expect(await guard.execute(work)).toBe('ok');
  });

  it("counts only what the breaker's isFailure accepts", async () => {
    const guard = resilience({
      circuitBreaker: { consecutiveFailures: 1, isFailure: (e) => (e as DbError).code !== 'NOT_FOUND' },
    });
    for (let i = 0; i < 3; i++)
      await expect(guard.execute(flaky('NOT_FOUND').work)).rejects.toBeInstanceOf(DbError);
    expect(guard.state().circuitBreaker).toMatchObject([{ state: 'closed' }]);
    await expect(guard.execute(flaky('BOOM').work)).rejects.toBeInstanceOf(DbError);
    expect(guard.state().circuitBreaker).toMatchObject([{ state: 'open' }]);
  });

  it('a timeout settles on time even when the work ignores the signal, and aborts the signal', async () => {
    const clock = new FakeClock();
    const guard = resilience({ clock, timeout: 1_000 });
    let signal: AbortSignal | undefined;
    let finished = false;
    const call = guard.execute((s) => {
      signal = s;
      // Ignores the signal: goes on for 5 s whatever happens.
      return new Promise((resolve) =>
        clock.setTimeout(() => {
          finished = true;
          resolve('late');
        }, 5_000),
      );
    });
    const outcome = call.catch((e: unknown) => e);
    await clock.advance(999);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    const error = await outcome;
    expect(isTimeoutError(error)).toBe(true);
    expect([signal?.aborted, finished]).toEqual([true, false]);
    await clock.advance(4_000);
    // The work carried on: a timeout cannot stop work that ignores its signal.
    expect(finished).toBe(true);
  });

  it('retries an attempt timeout when retryOn accepts it, with a fresh signal per attempt', async () => {
    const clock = new FakeClock();
    const guard = resilience({
      clock,
      timeout: { total: 10_000, attempt: 1_000 },
      retry: { retries: 2, backoff: 'none', retryOn: isTimeoutError },
    });
    const signals: AbortSignal[] = [];
    const call = guard.execute((signal, ctx) => {
      signals.push(signal);
      if (ctx.attempt < 3) return new Promise(() => undefined);
      return 'third time';
    });
    expect(await drive(clock, call)).toBe('third time');
    expect(signals.map((s) => s.aborted)).toEqual([true, true, false]);
    expect(new Set(signals).size).toBe(3);
  });

  it('settles when the caller aborts, even without a timeout and with work that ignores the signal', async () => {
    const controller = new AbortController();
    const guard = resilience({ retry: { retryOn: () => true } });
    let attempts = 0;
    const call = guard.execute(
      () => {
        attempts++;
        return new Promise(() => undefined);
      },
      { signal: controller.signal },
    );
    controller.abort();
    const error = await call.catch((e: unknown) => e);
    expect([isAbortError(error), attempts]).toEqual([true, 1]);
  });

  it('bulkhead and rate limit refuse as for HTTP calls, and show in state()', async () => {
    const clock = new FakeClock();
    const guard = resilience({ clock, bulkhead: { maxConcurrent: 1 } });
    let release = () => undefined as void;
    const first = guard.execute(() => new Promise<void>((r) => (release = r)));
    expect(guard.state().bulkhead).toMatchObject({ inFlight: 1 });
    expect(isBulkheadRejectedError(await guard.execute(() => 1).catch((e: unknown) => e))).toBe(true);
    release();
    await first;
    const limited = resilience({ clock, rateLimit: { limit: 1, window: '1s', burst: 1, strategy: 'raise' } });
    expect(await limited.execute(() => 'a')).toBe('a');
    expect(isRateLimitedError(await limited.execute(() => 'b').catch((e: unknown) => e))).toBe(true);
    expect(limited.state().rateLimit?.stats).toMatchObject({ allowed: 1, raised: 1 });
  });

  it('is instrumented by the same metrics as HTTP clients', async () => {
    const metrics = createMetrics();
    const guard = resilience({
      name: 'orders-db',
      retry: { retries: 1, backoff: 'none', retryOn: transient },
    });
    metrics.instrument(guard);
    await guard.execute(flaky('40001').work);
    const text = await metrics.text();
    expect(text).toContain(
      'http_client_retries_total{server_address="orders-db",server_port="80",upstream="orders-db",reason="ERR_OPERATION"} 1',
    );
    expect(text).toContain(
      'http_client_attempts_total{http_request_method="_OTHER",server_address="orders-db",server_port="80",upstream="orders-db"} 2',
    );
    expect(text).toMatch(
      /http_client_request_duration_seconds_count\{[^}]*server_address="orders-db"[^}]*\} 1/,
    );
  });

  it('holds exactly the policies it was given, in the standard order', () => {
    expect(resilience().toJSON().policies).toEqual([]);
    const guard = resilience({
      name: 'x',
      timeout: { total: 5_000, attempt: 1_000 },
      retry: { retryOn: () => true },
      circuitBreaker: {},
      bulkhead: { maxConcurrent: 2 },
    });
    expect(guard.toJSON()).toEqual({
      name: 'x',
      policies: ['totalTimeout', 'retry', 'circuitBreaker', 'bulkhead', 'attemptTimeout'],
    });
  });

  it('checks its options with the pipeline schemas, naming the path and the fix', () => {
    expect(() => resilience({ retry: { retries: 2 } } as never)).toThrow(/retry\.retryOn.*required/);
    expect(() => resilience({ retry: { retires: 2, retryOn: transient } } as never)).toThrow(
      /retry\.retires.*did you mean "retries"/,
    );
    expect(() => resilience({ retry: { retryOn: transient, idempotencyKey: true } } as never)).toThrow(
      /retry\.idempotencyKey.*decide in `retryOn`/,
    );
    expect(() => resilience({ timeout: { total: 100, attempt: 500 } })).toThrow(/timeout\.attempt/);
    return expect(resilience().execute(() => 1, { timeout: 50 })).rejects.toThrow(/no timeout to override/);
  });
});
