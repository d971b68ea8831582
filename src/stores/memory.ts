import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../core/clock.js';
import { parseOptions } from '../core/options/index.js';
import { createLease } from './lease.js';
import { memoryStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** Options of {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /** The clock used for expiry; tests pass a FakeClock. */
  readonly clock?: Clock;
}

/**
 * An in-process {@link TokenStore}: the default. Entries and leases expire lazily on read (no timers),
 * measured on the clock's monotonic time. Not shared across processes.
 */
export class MemoryTokenStore implements TokenStore {
  readonly name = 'memory';
  readonly #values = new Map<string, { value: string; expiresAt: number }>();
  readonly #leases = new Map<string, { owner: string; expiresAt: number }>();
  readonly #clock: Clock;

  constructor(options: MemoryTokenStoreOptions = {}) {
    parseOptions(memoryStoreOptionsSchema, options);
    this.#clock = options.clock ?? systemClock;
  }

  async get(key: string): Promise<string | undefined> {
    const entry = this.#values.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#clock.now()) {
      this.#values.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) {
      this.#values.delete(key);
      return;
    }
    this.#values.set(key, { value, expiresAt: this.#clock.now() + ttlMs });
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(key);
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const now = this.#clock.now();
    const held = this.#leases.get(key);
    if (held && held.expiresAt > now) return undefined;
    const owner = randomUUID();
    this.#leases.set(key, { owner, expiresAt: now + ttlMs });
    return createLease(key, owner, async () => {
      if (this.#leases.get(key)?.owner === owner) this.#leases.delete(key);
    });
  }

  async close(): Promise<void> {
    this.#values.clear();
    this.#leases.clear();
  }
}
