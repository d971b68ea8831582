/** Hop-by-hop headers: the ones a proxy never forwards, in either direction. */

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
];

/** The standard hop-by-hop header names (plus `host`, which the client sets for the upstream). */
export const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

/** Hop-by-hop header names: the standard ones plus any the `Connection` header lists (no copy when it lists none). */
export function hopByHop(connection: string | string[] | undefined): ReadonlySet<string> {
  const list = Array.isArray(connection) ? connection.join(',') : connection;
  if (!list || list === 'keep-alive' || list === 'close') return HOP_BY_HOP_SET;
  let set: Set<string> | undefined;
  for (const raw of list.split(',')) {
    const name = raw.trim().toLowerCase();
    if (!HOP_BY_HOP_SET.has(name)) {
      set ??= new Set(HOP_BY_HOP);
      set.add(name);
    }
  }
  return set ?? HOP_BY_HOP_SET;
}
