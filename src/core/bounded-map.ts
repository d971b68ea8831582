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
  readonly #pinned: ((value: V) => boolean) | undefined;
  readonly #onEvict: ((value: V) => void) | undefined;

  /**
   * @param options.pinned values that must stay (say, a fetch in flight) are passed over by eviction; if every
   *   value is pinned the map grows past `max` until one is not
   * @param options.onEvict called with each evicted value (to stop its timers)
   */
  constructor(
    max: number,
    options: { readonly pinned?: (value: V) => boolean; readonly onEvict?: (value: V) => void } = {},
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('BoundedMap needs a max size >= 1');
    this.max = max;
    this.#pinned = options.pinned;
    this.#onEvict = options.onEvict;
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

  /** The value for `key` without counting it as a use (eviction is not told it was read). */
  peek(key: K): V | undefined {
    return this.#map.get(key)?.value;
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
    // At most one full sweep: every entry read since the last sweep (or pinned) gets a second chance at the back.
    for (let i = 0, n = this.#map.size; i <= n; i++) {
      const first = this.#map.entries().next();
      if (first.done) return;
      const [key, entry] = first.value;
      this.#map.delete(key);
      if (!entry.hot && !this.#pinned?.(entry.value)) {
        if (entry === this.#last) this.#last = this.#lastKey = undefined;
        this.#onEvict?.(entry.value);
        return;
      }
      entry.hot = false;
      this.#map.set(key, entry);
    }
  }
}
