import { createHash, randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Clock, systemClock } from '../core/clock.js';
import { parseOptions } from '../core/options/index.js';
import { createLease } from './lease.js';
import { fileStoreOptionsSchema } from './options.js';
import type { Lease, TokenStore } from './types.js';

/** Options of {@link FileTokenStore}. */
export interface FileTokenStoreOptions {
  /** The directory that holds the store's files; created (mode 0700) when missing. */
  readonly path: string;
  /**
   * Namespace mixed into every file name, so several stores can share one directory.
   * @default 'reqforge:'
   */
  readonly keyPrefix?: string;
  /** The clock whose wall time decides expiry; tests pass a FakeClock. Every process must agree on it. */
  readonly clock?: Clock;
}

/** A steal guard older than this belongs to a process that died mid-steal (a steal takes milliseconds). */
const DEAD_GUARD_MS = 10_000;
const MAGIC = 'rf1';

function errCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { code?: string }).code : undefined;
}

/**
 * A {@link TokenStore} in one directory of the local file system, safe for many processes on one machine.
 *
 * - File names are the SHA-256 of prefix + key, so hostile keys (`../`, quotes, very long) are harmless.
 * - Writes are atomic: a temp file is written with mode 0600, fsync'd and renamed over the old one,
 *   so a reader sees the old or the new value, never a torn one.
 * - Expiry is an absolute wall-clock time stored in the file, checked on read.
 * - A lease is a file created exclusively (`link()` of a complete temp file: `O_EXCL` semantics without
 *   ever exposing an empty file). A lease past its expiry is stolen under a guard file created with `wx`
 *   and named after the stale owner, which makes steal and release compare-and-set.
 *
 * @example
 * const store = await FileTokenStore.open({ path: '/var/lib/myapp/tokens' });
 */
export class FileTokenStore implements TokenStore {
  readonly name = 'file';
  readonly #dir: string;
  readonly #prefix: string;
  readonly #clock: Clock;

  /** Use {@link FileTokenStore.open}, which creates the directory. */
  constructor(options: FileTokenStoreOptions) {
    this.#dir = resolve(options.path);
    this.#prefix = options.keyPrefix ?? 'reqforge:';
    this.#clock = options.clock ?? systemClock;
  }

  /** Creates the directory (mode 0700) if needed and returns the store. */
  static async open(options: FileTokenStoreOptions): Promise<FileTokenStore> {
    parseOptions(fileStoreOptionsSchema, options);
    const store = new FileTokenStore(options);
    await mkdir(store.#dir, { recursive: true, mode: 0o700 });
    return store;
  }

  /** The directory this store writes to. */
  get directory(): string {
    return this.#dir;
  }

  #file(kind: 'v' | 'l', key: string): string {
    const hash = createHash('sha256').update(this.#prefix).update('\0').update(key).digest('hex');
    return join(this.#dir, `${kind}-${hash}`);
  }

  async get(key: string): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file('v', key), 'utf8');
    } catch (error) {
      if (errCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const first = text.indexOf('\n');
    const second = text.indexOf('\n', first + 1);
    if (first < 0 || second < 0 || text.slice(0, first) !== MAGIC) return undefined;
    const expiresAt = Number(text.slice(first + 1, second));
    if (!(expiresAt > this.#clock.wallNow())) return undefined;
    return text.slice(second + 1);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return this.delete(key);
    const expiresAt = Math.ceil(this.#clock.wallNow() + ttlMs);
    const tmp = await this.#writeTemp(`${MAGIC}\n${expiresAt}\n${value}`);
    try {
      await rename(tmp, this.#file('v', key));
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(this.#file('v', key)).catch((error: unknown) => {
      if (errCode(error) !== 'ENOENT') throw error;
    });
  }

  async acquireLease(key: string, ttlMs: number): Promise<Lease | undefined> {
    const path = this.#file('l', key);
    const owner = randomUUID();
    const tmp = await this.#writeTemp(`${owner}\n${Math.ceil(this.#clock.wallNow() + ttlMs)}\n`);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await link(tmp, path);
          return this.#lease(key, path, owner);
        } catch (error) {
          if (errCode(error) !== 'EEXIST') throw error;
        }
        const current = await readLease(path);
        if (current === undefined) continue; // released in between: try again
        if (current.expiresAt > this.#clock.wallNow()) return undefined;
        // Stale: only the holder of the guard named after the stale owner may replace it.
        const stolen = await this.#guarded(path, current.owner, async () => {
          const again = await readLease(path);
          if (again?.owner !== current.owner) return false;
          await rename(tmp, path);
          return true;
        });
        return stolen ? this.#lease(key, path, owner) : undefined;
      }
      return undefined;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  async close(): Promise<void> {}

  #lease(key: string, path: string, owner: string): Lease {
    return createLease(key, owner, async () => {
      // Same guard as a stealer: if someone is stealing our expired lease, it is theirs now.
      await this.#guarded(path, owner, async () => {
        const current = await readLease(path);
        if (current?.owner === owner) await unlink(path).catch(() => undefined);
        return true;
      });
    });
  }

  /** Runs `fn` holding the exclusive guard for the lease state "held by `owner`"; false when busy. */
  async #guarded(path: string, owner: string, fn: () => Promise<boolean>): Promise<boolean> {
    const guard = `${path}.${owner.replace(/[^A-Za-z0-9-]/g, '_')}.steal`;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(guard, 'wx', 0o600);
    } catch (error) {
      if (errCode(error) !== 'EEXIST') throw error;
      const info = await stat(guard).catch(() => undefined);
      // A guard left by a process that died mid-steal: clear it; the next acquirer proceeds.
      if (info && Date.now() - info.mtimeMs > DEAD_GUARD_MS) await unlink(guard).catch(() => undefined);
      return false;
    }
    await handle.close();
    try {
      return await fn();
    } finally {
      await unlink(guard).catch(() => undefined);
    }
  }

  async #writeTemp(content: string): Promise<string> {
    const tmp = join(this.#dir, `.tmp-${randomUUID()}`);
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } catch (error) {
      await handle.close();
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    await handle.close();
    return tmp;
  }
}

async function readLease(path: string): Promise<{ owner: string; expiresAt: number } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const [owner = '', expires = ''] = text.split('\n');
  const expiresAt = Number(expires);
  // An unreadable lease (disk trouble) counts as expired, under a name derived from its bytes.
  if (!owner || !Number.isFinite(expiresAt)) {
    return { owner: createHash('sha256').update(text).digest('hex').slice(0, 32), expiresAt: 0 };
  }
  return { owner, expiresAt };
}
