import type { Lease } from './types.js';

/** Builds a {@link Lease} whose `release` runs `free` at most once, however often it is called. */
export function createLease(key: string, owner: string, free: () => Promise<unknown>): Lease {
  let released = false;
  return {
    key,
    owner,
    release: async () => {
      if (released) return;
      released = true;
      await free();
    },
  };
}
