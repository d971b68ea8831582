import { fork } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/stores/file.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { compileSrc } from '../helpers/compile.js';

const here = dirname(fileURLToPath(import.meta.url));
const _root = resolve(here, '../..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reqforge-filestore-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileTokenStore on disk', () => {
  it('creates the directory 0700 and files 0600, named by hash', async () => {
    const path = join(dir, 'perms', 'tokens');
    const store = await FileTokenStore.open({ path });
    await store.set('../../etc/passwd', 'v', 60_000);
    const lease = await store.acquireLease('../x', 60_000);
    expect((await stat(path)).mode & 0o777).toBe(0o700);
    const files = await readdir(path);
    expect(files).toHaveLength(2);
    for (const f of files) {
      expect(f).toMatch(/^[vl]-[0-9a-f]{64}$/);
      expect((await stat(join(path, f))).mode & 0o777).toBe(0o600);
    }
    await lease?.release();
    expect(await readdir(path)).toHaveLength(1); // lease file gone, no temp or guard files left
  });

  it('reads a corrupt or foreign file as a miss, and steals a corrupt lease', async () => {
    const clock = new FakeClock();
    const path = join(dir, 'corrupt');
    const store = await FileTokenStore.open({ path, clock });
    await store.set('k', 'v', 60_000);
    await store.acquireLease('k', 60_000);
    const [valueFile, leaseFile] = ['v', 'l'].map((kind) =>
      readdir(path).then((f) => f.find((n) => n.startsWith(kind))!),
    );
    await writeFile(join(path, await valueFile!), 'garbage');
    await writeFile(join(path, await leaseFile!), '');
    expect(await store.get('k')).toBeUndefined();
    expect(await store.acquireLease('k', 60_000)).toBeDefined();
  });

  it('never steals a lease while a steal of the same stale holder is in progress', async () => {
    const clock = new FakeClock();
    const path = join(dir, 'guard');
    const store = await FileTokenStore.open({ path, clock });
    const stale = await store.acquireLease('k', 1_000);
    await clock.advance(2_000);
    const leaseFile = (await readdir(path)).find((n) => n.startsWith('l-'))!;
    // Simulate another process holding the guard for this stale owner.
    await writeFile(join(path, `${leaseFile}.${stale!.owner}.steal`), '');
    expect(await store.acquireLease('k', 1_000)).toBeUndefined();
    await stale!.release(); // the old holder may not release it either: the guard is taken
    expect(await store.acquireLease('k', 1_000)).toBeUndefined();
    await rm(join(path, `${leaseFile}.${stale!.owner}.steal`));
    expect(await store.acquireLease('k', 1_000)).toBeDefined();
  });

  it('8 processes writing and reading the same keys for 3 s never see a torn value', async () => {
    // Children run plain JS: the shared test build of src/.
    const modulePath = new URL('stores/file.js', await compileSrc()).href;
    const shared = join(dir, 'shared');
    type Stats = {
      writes: number;
      reads: number;
      hits: number;
      corrupt: number;
      leases: number;
      overlaps: number;
      errors: string[];
    };
    const results = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) =>
          new Promise<Stats>((resolvePromise, reject) => {
            const child = fork(join(here, 'file-worker.mjs'), [modulePath, shared, '3000', String(i)], {
              stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            });
            let stats: Stats | undefined;
            child.on('message', (m) => {
              stats = m as Stats;
            });
            child.on('error', reject);
            child.on('exit', (code) =>
              stats ? resolvePromise(stats) : reject(new Error(`worker ${i} exited with ${code}`)),
            );
          }),
      ),
    );
    const total = results.reduce(
      (a, r) => ({
        writes: a.writes + r.writes,
        hits: a.hits + r.hits,
        corrupt: a.corrupt + r.corrupt,
        leases: a.leases + r.leases,
        overlaps: a.overlaps + r.overlaps,
        errors: [...a.errors, ...r.errors],
      }),
      { writes: 0, hits: 0, corrupt: 0, leases: 0, overlaps: 0, errors: [] as string[] },
    );
    expect(total.errors).toEqual([]);
    expect(total.corrupt).toBe(0);
    expect(total.overlaps).toBe(0);
    expect(total.writes).toBeGreaterThan(200);
    expect(total.hits).toBeGreaterThan(200);
    expect(total.leases).toBeGreaterThan(10);
    // No temp or guard files are left behind.
    expect((await readdir(shared)).filter((f) => !/^[vl]-[0-9a-f]{64}$/.test(f))).toEqual([]);
  }, 30_000);
});
