// A child process hammering one FileTokenStore directory: writes checksummed values, reads them back,
// and takes a lease around a critical section to prove exclusivity across processes.
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const [modulePath, dir, durationMs, id] = process.argv.slice(2);
const { FileTokenStore } = await import(modulePath);
const store = await FileTokenStore.open({ path: dir, keyPrefix: 'mp:' });
const checksum = (s) => createHash('sha256').update(s).digest('hex');
const stats = { id, writes: 0, reads: 0, hits: 0, corrupt: 0, leases: 0, overlaps: 0, errors: [] };
const end = Date.now() + Number(durationMs);

while (Date.now() < end) {
  const key = `shared-${Math.floor(Math.random() * 4)}`;
  try {
    if (Math.random() < 0.5) {
      const payload = `${id}:${randomBytes(Math.floor(Math.random() * 8_000) + 10).toString('base64')}`;
      await store.set(key, `${payload}|${checksum(payload)}`, 60_000);
      stats.writes++;
    } else {
      const value = await store.get(key);
      stats.reads++;
      if (value !== undefined) {
        stats.hits++;
        const at = value.lastIndexOf('|');
        if (at < 0 || checksum(value.slice(0, at)) !== value.slice(at + 1)) stats.corrupt++;
      }
    }
    if (Math.random() < 0.1) {
      const lease = await store.acquireLease('critical', 2_000);
      if (lease) {
        stats.leases++;
        if ((await store.get('holder')) !== undefined) stats.overlaps++;
        await store.set('holder', String(id), 60_000);
        await sleep(1);
        if ((await store.get('holder')) !== String(id)) stats.overlaps++;
        await store.delete('holder');
        await lease.release();
      }
    }
  } catch (error) {
    stats.errors.push(String(error));
  }
}
process.send(stats, () => process.exit(0));
