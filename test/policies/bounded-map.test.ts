import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/core/bounded-map.js';
import { circuitBreaker } from '../../src/index.js';

describe('BoundedMap', () => {
  it('never grows past its bound and keeps entries read since the last sweep', () => {
    const map = new BoundedMap<string, number>(3);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    expect(map.get('a')).toBe(1); // a gets a second chance
    map.set('d', 4); // evicts b, the oldest entry not read
    expect([...map.entries()].map(([k]) => k).sort()).toEqual(['a', 'c', 'd']);
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, i);
    expect(map.size).toBe(3);
  });

  it('forgets an evicted key even when it was the last one read', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    expect(map.get('a')).toBe(1);
    expect(map.get('a')).toBe(1); // served from the last-read cache
    map.set('b', 2);
    map.set('c', 3); // a was read: second chance, so b goes
    map.set('d', 4); // a was swept without a read since: a goes
    expect(map.get('a')).toBeUndefined();
    expect(map.get('c')).toBe(3);
    map.set('e', 5);
    map.set('f', 6);
    expect(map.size).toBe(2);
    expect(map.get('c')).toBeUndefined();
  });

  it('passes over pinned values and tells onEvict about the one it drops', () => {
    const evicted: number[] = [];
    const busy = new Set([1]);
    const map = new BoundedMap<string, number>(2, {
      pinned: (v) => busy.has(v),
      onEvict: (v) => evicted.push(v),
    });
    map.set('a', 1); // pinned: a fetch in flight
    map.set('b', 2);
    map.set('c', 3); // a is passed over, b goes
    expect(evicted).toEqual([2]);
    expect(map.peek('a')).toBe(1); // a peek is not a use
    busy.clear();
    map.set('d', 4); // no longer pinned and not read: a, now the oldest, goes
    expect(evicted).toEqual([2, 1]);
    expect([...map.entries()].map(([k]) => k).sort()).toEqual(['c', 'd']);
  });

  it('grows past its bound rather than drop a pinned value', () => {
    const map = new BoundedMap<string, number>(1, { pinned: () => true });
    map.set('a', 1);
    map.set('b', 2);
    expect(map.size).toBe(2);
  });

  it('bounds keyed breaker state for a client that talks to many hosts', () => {
    const breaker = circuitBreaker({ maxKeys: 50 });
    for (let i = 0; i < 10_000; i++) breaker.breaker(`host-${i}:443`);
    const keys = breaker.snapshot().map((b) => b.key);
    expect(keys).toHaveLength(50);
    // The newest host is kept (the one a call is about to use), the first ones are long forgotten.
    expect(keys).toContain('host-9999:443');
    expect(keys).not.toContain('host-0:443');
  });
});
