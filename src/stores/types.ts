/**
 * The TokenStore contract: where tokens are cached and how processes agree on who fetches one.
 * Every backend (memory, file, SQLite, Redis, PostgreSQL, MySQL, Memcached) implements it and passes
 * the one shared contract suite. Values are opaque strings (the TokenManager serialises, and an
 * encrypting wrapper may encrypt them); stores never parse them.
 */
export interface TokenStore {
  /** A short backend name for events and metrics labels, such as `redis`. */
  readonly name: string;
  /** The value stored under `key`, or undefined when missing or expired. */
  get(key: string): Promise<string | undefined>;
  /** Stores `value` under `key` for `ttlMs` milliseconds (after which `get` misses). */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Removes `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Tries to take the lease named `key` for `ttlMs` milliseconds: the distributed single-flight lock.
   * Resolves to a {@link Lease} when taken, or `undefined` at once when another holder has it.
   * A lease whose holder dies expires by itself after `ttlMs`.
   */
  acquireLease(key: string, ttlMs: number): Promise<Lease | undefined>;
  /** Releases connections and timers the store owns (not a client the user passed in). */
  close(): Promise<void>;
}

/** A held lease. Release is compare-and-delete: it never frees a lease that expired and was taken by someone else. */
export interface Lease {
  /** The lease name. */
  readonly key: string;
  /** The holder's random id, compared on release. */
  readonly owner: string;
  /** Frees the lease if this holder still owns it. Safe to call more than once. */
  release(): Promise<void>;
}
