/**
 * The `defaults:` block of a configuration: upstream settings every upstream inherits, field by field (an
 * upstream's `rateLimit: { limit: 50 }` keeps the default `window`), before the upstreams are validated. PyFly's
 * `pyfly.client.default.*` and hfortix's session-wide settings, for the gateway and `loadClients` alike.
 */

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `own` over `inherited`, recursively for objects; lists, scalars and `false` replace. Objects of another `type`
 * (an upstream's `auth: { type: bearer }` below a default `auth: { type: oauth2 }`) replace too, so settings of one
 * kind never leak into another.
 */
export function mergeDefaults(inherited: unknown, own: unknown): unknown {
  if (own === undefined) return inherited;
  if (!isPlainObject(own) || !isPlainObject(inherited)) return own;
  if ('type' in own && 'type' in inherited && own.type !== inherited.type) return own;
  const out: Record<string, unknown> = { ...inherited };
  for (const [key, value] of Object.entries(own)) out[key] = mergeDefaults(inherited[key], value);
  return out;
}

/**
 * The configuration with `defaults` merged into every upstream (the `defaults` key itself kept, so the schema
 * checks it and reports its problems under `defaults.…`). `valid` says whether the defaults passed their own schema:
 * invalid defaults are not merged, so each problem is reported once, at its place in the block.
 */
export function applyUpstreamDefaults(config: unknown, valid: (defaults: unknown) => boolean): unknown {
  if (!isPlainObject(config) || !isPlainObject(config.defaults) || !isPlainObject(config.upstreams)) {
    return config;
  }
  const defaults = config.defaults;
  if (!valid(defaults)) return config;
  const upstreams: Record<string, unknown> = {};
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    upstreams[name] = isPlainObject(upstream) ? mergeDefaults(defaults, upstream) : upstream;
  }
  return { ...config, upstreams };
}
