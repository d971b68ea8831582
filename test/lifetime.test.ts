// Which timers may keep a process alive, seen through FakeClock.keepingAlive: every wait and deadline of a pending
// call does, nothing is left once the call settled, and background work (refresh ahead of expiry) never does.
// Queued calls add no listener to the never-aborting signal shared by calls without a timeout.
// The same behaviour, as users meet it, is tested with real processes in test/process/.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  bulkhead,
  CallAbort,
  createClient,
  NEVER_ABORTED,
  rateLimit,
  retry,
  sleepWith,
  TokenManager,
  tokenAuth,
} from '../src/index.js';
import { FakeClock, MemoryTransport } from '../src/testing.js';

function flakyTransport() {
  let n = 0;
  return new MemoryTransport().route('GET', '/flaky', () =>
    n++ === 0 ? { status: 503 } : { json: { ok: true } },
  );
}

describe('what keeps the process alive', () => {
  it('a retry backoff keeps it alive while it waits; nothing is left once the call settled', async () => {
    const clock = new FakeClock();
    const api = createClient({
      baseUrl: 'http://api.test',
      transport: flakyTransport(),
      clock,
      policies: [retry({ backoff: 'constant', baseDelay: 1_000 })],
    });
    const call = api.get('/flaky').json();
    await clock.advance(0);
    expect(clock.pending).toBe(1);
    expect(clock.keepingAlive).toBe(1);
    await clock.advance(1_000);
    expect(await call).toEqual({ ok: true });
    expect(clock.pending).toBe(0);
  });

  it("the default pipeline's timeouts keep it alive while a call is pending and are gone once it settled", async () => {
    const clock = new FakeClock();
    let answer: (() => void) | undefined;
    const transport = new MemoryTransport().route(
      'GET',
      '/slow',
      () => new Promise((resolve) => (answer = () => resolve({ json: 1 }))),
    );
    const api = createClient({ baseUrl: 'http://api.test', transport, clock });
    const call = api.get('/slow').json();
    await clock.advance(0);
    // The total (30 s) and attempt (10 s) deadlines, one queue timer each.
    expect(clock.keepingAlive).toBe(2);
    answer?.();
    expect(await call).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('a token refresh scheduled ahead of expiry never keeps it alive', async () => {
    const clock = new FakeClock();
    const tokens = new TokenManager({
      clock,
      provider: {
        id: 'test',
        fetchToken: async () => ({ accessToken: 'token-value', expiresIn: 3_600 }),
      },
    });
    const api = createClient({
      baseUrl: 'http://api.test',
      transport: new MemoryTransport().route('GET', '/x', () => ({ json: 1 })),
      clock,
      policies: [tokenAuth(tokens)],
    });
    expect(await api.get('/x').json()).toBe(1);
    expect(clock.pending).toBe(1); // the refresh ahead of expiry
    expect(clock.keepingAlive).toBe(0);
    await tokens.close();
  });

  it('30 calls queued in a rate limiter or a bulkhead add no listener to the shared never-aborting signal', async () => {
    const clock = new FakeClock();
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const transport = new MemoryTransport().route('GET', '/x', async () => {
      await gate;
      return { json: 1 };
    });
    const limited = createClient({
      baseUrl: 'http://api.test',
      transport,
      clock,
      policies: [rateLimit({ limit: 50, burst: 1, clock })],
    });
    const guarded = createClient({
      baseUrl: 'http://api.test',
      transport,
      clock,
      policies: [bulkhead({ maxConcurrent: 1, queueSize: 50 })],
    });
    const calls = [
      ...Array.from({ length: 30 }, () => limited.get('/x').json()),
      ...Array.from({ length: 30 }, () => guarded.get('/x').json()),
    ];
    await clock.advance(0);
    expect(clock.keepingAlive).toBe(29); // the limiter's queued calls; the bulkhead's wait for a slot
    expect(getEventListeners(NEVER_ABORTED, 'abort')).toHaveLength(0);
    release?.();
    await clock.advance(1_000);
    expect(await Promise.all(calls)).toEqual(Array(60).fill(1));
    expect(clock.pending).toBe(0);
  });

  it('sleepWith ends on an AbortSignal or a CallAbort and leaves no listener', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const sleeping = sleepWith(clock, 1_000, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    const abort = new CallAbort();
    const waiting = sleepWith(clock, 1_000, abort);
    abort.abort(new Error('call aborted'));
    await expect(waiting).rejects.toThrow('call aborted');
    const ended = sleepWith(clock, 1_000, NEVER_ABORTED);
    expect(getEventListeners(NEVER_ABORTED, 'abort')).toHaveLength(0);
    expect(clock.keepingAlive).toBe(1);
    await clock.advance(1_000);
    await ended;
    expect(clock.pending).toBe(0);
  });
});
