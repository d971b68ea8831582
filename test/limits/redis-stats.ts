import type { Redis } from 'ioredis';

/**
 * Calls per Redis command since the last `CONFIG RESETSTAT`, from `INFO commandstats`. Commands a Lua script runs
 * inside Redis are counted too (`time`, `hset`, …), though they are no round trip.
 */
export async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const text = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}
