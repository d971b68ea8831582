import { describe, expect, it } from 'vitest';
import { createCallContext } from '../../src/core/context.js';
import { isBulkheadRejectedError } from '../../src/core/errors.js';
import { EventHub } from '../../src/core/events.js';
import { HttpRequest } from '../../src/core/request.js';
import type { CallContext, Handler } from '../../src/core/types.js';
import { bulkhead } from '../../src/policies/bulkhead.js';
import { FakeClock } from '../../src/testing.js';

// Calls are tagged with the caller's key in `tags.route`; the handler holds each call until the test releases it
// and records the order in which calls were let through.
function harness(options: Parameters<typeof bulkhead>[0]) {
  const clock = new FakeClock();
  const limit = bulkhead(options);
  const served: string[] = [];
  const held: Array<() => void> = [];
  const handler: Handler = (request) =>
    new Promise((resolve) => {
      served.push(request.path.slice(1));
      held.push(() => resolve({ status: 200 } as never));
    });
  const wrapped = limit.wrap(handler);
  const call = (key: string, id: string) => {
    const ctx: CallContext = createCallContext({
      tags: { route: key },
      clock,
      events: new EventHub(),
      options: {},
      maxBodySize: 1024,
    });
    const request = new HttpRequest({ method: 'GET', origin: 'http://x', path: `/${id}`, headers: {} });
    return wrapped(request, ctx).then(
      () => id,
      (e: unknown) => e,
    );
  };
  const releaseOne = async () => {
    held.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await clock.advance(0);
  };
  return { clock, limit, served, call, releaseOne };
}

const byRoute = (_r: HttpRequest, ctx: CallContext) => ctx.tags.route ?? '';

describe('bulkhead fair mode (keyBy)', () => {
  it('serves queued keys in turn: a key with many queued calls delays another key by one turn at most', async () => {
    const h = harness({ maxConcurrent: 1, queueSize: 10, keyBy: byRoute });
    const calls = [h.call('a', 'a0')];
    for (let i = 1; i <= 5; i++) calls.push(h.call('a', `a${i}`));
    calls.push(h.call('b', 'b1'), h.call('b', 'b2'), h.call('c', 'c1'));
    await h.releaseOne();
    expect(h.limit.snapshot()).toMatchObject({ inFlight: 1, queued: 7 });
    for (let i = 0; i < 8; i++) await h.releaseOne();
    expect(h.served).toEqual(['a0', 'a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'a4', 'a5']);
    expect(await Promise.all(calls)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'b1', 'b2', 'c1']);
    expect(h.limit.snapshot()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it('a key arriving behind a long queue of another key is next in line', async () => {
    const h = harness({ maxConcurrent: 2, queueSize: 100, keyBy: byRoute });
    for (let i = 0; i < 60; i++) void h.call('flood', `f${i}`);
    await Promise.resolve();
    void h.call('other', 'o1');
    await h.releaseOne();
    await h.releaseOne();
    // f0 and f1 held the slots; the next two are f2 (first in the ring) and o1.
    expect(h.served.slice(0, 4)).toEqual(['f0', 'f1', 'f2', 'o1']);
  });

  it('queueSize bounds each key: a flooding key is refused, another key still queues', async () => {
    const h = harness({ maxConcurrent: 1, queueSize: 2, keyBy: byRoute });
    const a = [h.call('a', 'a0'), h.call('a', 'a1'), h.call('a', 'a2'), h.call('a', 'a3')];
    const b = h.call('b', 'b1');
    const refused = await a[3];
    expect(isBulkheadRejectedError(refused) && refused.reason).toBe('queue-full');
    expect(h.limit.snapshot()).toMatchObject({ inFlight: 1, queued: 3 });
    for (let i = 0; i < 4; i++) await h.releaseOne();
    expect(h.served).toEqual(['a0', 'a1', 'b1', 'a2']);
    expect(await b).toBe('b1');
  });

  it('a queue timeout removes the waiter from its key, and the ring goes on', async () => {
    const h = harness({ maxConcurrent: 1, queueSize: 5, queueTimeout: 100, keyBy: byRoute });
    void h.call('a', 'a0');
    const b = h.call('b', 'b1');
    await h.clock.advance(50);
    const c = h.call('c', 'c1');
    await h.clock.advance(60);
    const timedOut = await b;
    expect(isBulkheadRejectedError(timedOut) && timedOut.reason).toBe('queue-timeout');
    expect(h.limit.snapshot()).toMatchObject({ inFlight: 1, queued: 1 });
    await h.releaseOne();
    expect(h.served).toEqual(['a0', 'c1']);
    await h.releaseOne();
    expect(await c).toBe('c1');
  });

  it('without keyBy the queue stays one FIFO', async () => {
    const h = harness({ maxConcurrent: 1, queueSize: 10 });
    for (const id of ['a0', 'a1', 'a2', 'b1']) void h.call(id[0] as string, id);
    for (let i = 0; i < 4; i++) await h.releaseOne();
    expect(h.served).toEqual(['a0', 'a1', 'a2', 'b1']);
  });

  it('refuses a keyBy that is not a function, naming the option', () => {
    expect(() => bulkhead({ maxConcurrent: 1, keyBy: 'ip' as never })).toThrow(/bulkhead\.keyBy/);
  });
});
