import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryTokenStore } from '../../src/stores/memory.js';
import { RedisTokenStore } from '../../src/stores/redis.js';
import { isDegradedLease, ResilientTokenStore, type StoreEvents } from '../../src/stores/resilient.js';
import type { Lease, TokenStore } from '../../src/stores/types.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { freePort, haveRedisServer, startRedis } from '../helpers/redis-server.js';
import { runStoreContract } from './contract.js';
import { IN_CI } from './services.js';

/** A store whose behaviour the test switches: working, failing, or hanging. */
class FlakyStore implements TokenStore {
  readonly name = 'flaky';
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  calls = 0;
  readonly inner = new MemoryTokenStore();
  lateLease: Lease | undefined;
  #wrap<T>(fn: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.mode === 'fail') {
      return Promise.reject(
        Object.assign(new Error('connect ECONNREFUSED secret-host value=tok_x'), { code: 'ECONNREFUSED' }),
      );
    }
    if (this.mode === 'hang') return new Promise<T>(() => undefined);
    return fn();
  }
  get(key: string) {
    return this.#wrap(() => this.inner.get(key));
  }
  set(key: string, value: string, ttlMs: number) {
    return this.#wrap(() => this.inner.set(key, value, ttlMs));
  }
  delete(key: string) {
    return this.#wrap(() => this.inner.delete(key));
  }
  acquireLease(key: string, ttlMs: number) {
    return this.#wrap(() => this.inner.acquireLease(key, ttlMs));
  }
  close() {
    return this.inner.close();
  }
}

function setup(options: { timeoutMs?: number; retryAfterMs?: number } = {}) {
  const clock = new FakeClock();
  const flaky = new FlakyStore();
  const store = new ResilientTokenStore(flaky, { clock, timeoutMs: 100, retryAfterMs: 1_000, ...options });
  const events: { name: keyof StoreEvents; payload: unknown }[] = [];
  for (const name of ['store:error', 'store:down', 'store:up'] as const) {
    store.events.on(name, (payload) => events.push({ name, payload }));
  }
  return { clock, flaky, store, events };
}

describe('ResilientTokenStore', () => {
  it('passes operations through while the store works', async () => {
    const { store, flaky, events } = setup();
    await store.set('k', 'v', 60_000);
    expect(await flaky.inner.get('k')).toBe('v');
    expect(await store.get('k')).toBe('v');
    const lease = await store.acquireLease('l', 1_000);
    expect(lease?.degraded).toBe(false);
    expect(isDegradedLease(lease)).toBe(false);
    expect(await flaky.inner.acquireLease('l', 1_000)).toBeUndefined();
    await lease?.release();
    expect(await flaky.inner.acquireLease('l', 1_000)).toBeDefined();
    expect(events).toEqual([]);
  });

  it('turns errors into misses, serves the in-process copy, and reports without secrets', async () => {
    const { store, flaky, events } = setup();
    await store.set('k', 'tok_value', 60_000);
    flaky.mode = 'fail';
    expect(await store.get('k')).toBe('tok_value');
    expect(await store.get('other')).toBeUndefined();
    await expect(store.set('k2', 'v', 1_000)).resolves.toBeUndefined();
    await expect(store.delete('k2')).resolves.toBeUndefined();
    expect(store.down).toBe(true);
    expect(events.map((e) => e.name)).toEqual(['store:error', 'store:down']);
    expect(events[0]?.payload).toEqual({
      store: 'flaky',
      operation: 'get',
      error: 'ECONNREFUSED',
      timedOut: false,
    });
    const printed = JSON.stringify(events);
    expect(printed).not.toContain('tok_');
    expect(printed).not.toContain('secret-host');
  });

  it('times out a hanging store', async () => {
    const { store, flaky, clock, events } = setup();
    flaky.mode = 'hang';
    const pending = store.get('k');
    await clock.advance(100);
    expect(await pending).toBeUndefined();
    expect(events[0]?.payload).toMatchObject({ operation: 'get', error: 'ERR_TIMEOUT', timedOut: true });
  });

  it('skips the store while it is down, then probes and reports recovery', async () => {
    const { store, flaky, clock, events } = setup();
    flaky.mode = 'fail';
    await store.get('a');
    const calls = flaky.calls;
    await store.get('a');
    await store.set('a', 'b', 1_000);
    expect(flaky.calls).toBe(calls); // no calls inside the retry-after window
    flaky.mode = 'ok';
    await clock.advance(1_000);
    await store.get('a');
    expect(flaky.calls).toBe(calls + 1);
    expect(store.down).toBe(false);
    expect(events.at(-1)).toEqual({ name: 'store:up', payload: { store: 'flaky', downMs: 1_000 } });
  });

  it('hands out a degraded in-process lease while the store is down', async () => {
    const { store, flaky } = setup();
    flaky.mode = 'fail';
    const lease = await store.acquireLease('l', 5_000);
    expect(lease?.degraded).toBe(true);
    expect(isDegradedLease(lease)).toBe(true);
    expect(await store.acquireLease('l', 5_000)).toBeUndefined(); // still single flight in this process
    await lease?.release();
    expect(await store.acquireLease('l', 5_000)).toBeDefined();
  });

  it('gives back a lease the store granted after the timeout', async () => {
    const { store, flaky, clock } = setup();
    let grant: (lease: Lease | undefined) => void = () => undefined;
    flaky.acquireLease = async (key, ttl) => {
      const real = await flaky.inner.acquireLease(key, ttl);
      return new Promise((resolve) => {
        grant = () => resolve(real);
      });
    };
    const pending = store.acquireLease('late', 60_000);
    await clock.advance(100);
    expect((await pending)?.degraded).toBe(true);
    grant(undefined);
    await clock.advance(1);
    expect(await flaky.inner.acquireLease('late', 60_000)).toBeDefined();
  });
});

runStoreContract('resilient(memory)', async () => {
  const clock = new FakeClock();
  const store = new ResilientTokenStore(new MemoryTokenStore({ clock }), { clock });
  return {
    store,
    other: store,
    realTime: false,
    advance: (ms) => clock.advance(ms),
    cleanup: () => store.close(),
  };
});

describe.skipIf(!haveRedisServer && !IN_CI)(
  `Redis outage through the resilient wrapper${haveRedisServer ? '' : ' [skipped: redis-server is not installed]'}`,
  () => {
    const children: ChildProcess[] = [];
    afterAll(() => {
      for (const child of children) child.kill('SIGKILL');
    });

    it('never throws while its own redis-server is killed and restarted mid-traffic', async () => {
      const port = await freePort();
      children.push(await startRedis(port));
      const inner = await RedisTokenStore.connect({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'fault:' });
      const store = new ResilientTokenStore(inner, { timeoutMs: 200, retryAfterMs: 100 });
      const seen: string[] = [];
      store.events.on('store:down', () => seen.push('down'));
      store.events.on('store:up', () => seen.push('up'));
      let errors = 0;
      let ops = 0;
      let degraded = 0;
      let stop = false;
      const worker = async (id: number) => {
        for (let i = 0; !stop; i++) {
          try {
            const key = `k${(id + i) % 5}`;
            await store.set(key, `value-${id}-${i}`, 10_000);
            await store.get(key);
            const lease = await store.acquireLease(key, 500);
            if (isDegradedLease(lease)) degraded++;
            await lease?.release();
            ops += 3;
          } catch {
            errors++;
          }
          await sleep(5);
        }
      };
      const workers = Array.from({ length: 8 }, (_, id) => worker(id));
      await sleep(500);
      children[0]!.kill('SIGKILL');
      await sleep(600);
      children.push(await startRedis(port));
      await sleep(1_400);
      stop = true;
      await Promise.all(workers);

      expect(errors).toBe(0);
      expect(ops).toBeGreaterThan(100);
      expect(seen[0]).toBe('down');
      expect(seen).toContain('up');
      expect(degraded).toBeGreaterThan(0);
      // Traffic reaches the restarted server again.
      expect(store.down).toBe(false);
      await store.set('after', 'restart', 10_000);
      expect(await inner.get('after')).toBe('restart');
      await store.close();
    });
  },
);
