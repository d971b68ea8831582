/**
 * The status document (`/status.json`, and what the status page renders): its types and the sanitiser every
 * fact passes through before it is shown.
 */
import type { ClientState } from '../client/state.js';
import { defaultRedactor } from '../core/redact.js';
import { REDACTED } from '../core/secret.js';
import type { LiveSummary } from './status-recorder.js';

/** An admin action the status page offers for an upstream (see docs/gateway.md, "Admin actions"). */
export type UpstreamAction = 'reset-breaker' | 'refresh-token';

/** What the status page shows for one upstream. */
export interface UpstreamStatus {
  readonly name: string;
  /** The base URL, with any secret query values redacted. */
  readonly baseUrl: string;
  /** Requests forwarded to the upstream (refusals before sending not included), since start. */
  readonly requests: number;
  /**
   * Requests that did not end well, since start: upstream 4xx and 5xx, network failures and timeouts, and the
   * gateway's refusals (`live.totals` has them by class).
   */
  readonly errors: number;
  readonly inFlight: number;
  /** Rates, error shares by class, retries and latency percentiles (see {@link LiveSummary}). */
  readonly live: LiveSummary;
  /** The admin actions this upstream offers. */
  readonly actions: readonly UpstreamAction[];
  /**
   * What the upstream's policies know: its client's `state()` (breakers per target, limiter, bulkhead, retry budget,
   * usage), the same shape as the library's `client.state()`.
   */
  readonly state: ClientState;
  /** Token facts from the auth step (expiry, fetches), never the token. */
  readonly auth?: unknown;
  /** Anything an injected status provider adds. */
  readonly extra?: unknown;
}

/** The whole status document (also served as JSON at `/status.json`). */
export interface GatewayStatus {
  readonly ready: boolean;
  readonly draining: boolean;
  readonly uptimeSeconds: number;
  /** The shared token store's health (absent for `memory`). */
  readonly store?: { readonly name: string; readonly up: boolean };
  readonly upstreams: readonly UpstreamStatus[];
}

const SECRET_KEY = /token|secret|password|passwd|credential|authorization|api-?key|cookie|assertion/i;
const SAFE_TOKEN_FACT =
  /^(token)?(expires?(at|in)?|expiry|fetch(es|ed)?|refresh(es|ed|at|in)?|hits?|misses?|source|type|kind|scopes?|state|status|count|age|lastError|lastFetch(ed)?At)$/i;

/**
 * A copy of `value` safe to show: keys that look secret get `[REDACTED]` (facts such as `expiresAt`
 * stay), strings are cut to 200 characters, depth is bounded.
 */
export function sanitizeStatus(value: unknown, depth = 0): unknown {
  if (depth > 6) return '…';
  if (value === null || value === undefined) return value;
  if (typeof value === 'string') return value.length > 200 ? `${value.slice(0, 200)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitizeStatus(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const secret =
        (SECRET_KEY.test(key) || defaultRedactor.isSecretParam(key)) && !SAFE_TOKEN_FACT.test(key);
      out[key] =
        secret && (typeof v === 'string' || typeof v === 'object') ? REDACTED : sanitizeStatus(v, depth + 1);
    }
    return out;
  }
  return String(value);
}
