interface Entry<V> {
  value: V;
  hot: boolean;
}

/**
 * A size-bounded map for keyed policy state (breakers, limiters, budgets per host). Eviction approximates LRU
 * with the CLOCK ("second chance") algorithm: a read only sets a flag, so the hot path costs one `Map.get`, and
 * when the map is full the oldest entry not read since the last sweep is evicted.
 */
export class BoundedMap<K, V> {
  readonly max: number;
  readonly #map = new Map<K, Entry<V>>();
  #last: Entry<V> | undefined;
  #lastKey: K | undefined;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('BoundedMap needs a max size >= 1');
    this.max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    // Policies look up the same key (the host) call after call: one comparison instead of a hash lookup.
    let entry = this.#last;
    if (entry === undefined || this.#lastKey !== key) {
      entry = this.#map.get(key);
      if (entry === undefined) return undefined;
      this.#last = entry;
      this.#lastKey = key;
    }
    entry.hot = true;
    return entry.value;
  }

  set(key: K, value: V): void {
    const entry = this.#map.get(key);
    if (entry) {
      entry.value = value;
      entry.hot = true;
      return;
    }
    if (this.#map.size >= this.max) this.#evict();
    this.#map.set(key, { value, hot: false });
  }

  /** Values, oldest first. */
  *values(): IterableIterator<V> {
    for (const entry of this.#map.values()) yield entry.value;
  }

  /** Entries, oldest first. */
  *entries(): IterableIterator<[K, V]> {
    for (const [key, entry] of this.#map) yield [key, entry.value];
  }

  #evict(): void {
    // At most one full sweep: every entry read since the last sweep gets a second chance at the back.
    for (let i = 0, n = this.#map.size; i <= n; i++) {
      const first = this.#map.entries().next();
      if (first.done) return;
      const [key, entry] = first.value;
      this.#map.delete(key);
      if (!entry.hot) {
        if (entry === this.#last) this.#last = this.#lastKey = undefined;
        return;
      }
      entry.hot = false;
      this.#map.set(key, entry);
    }
  }
}
