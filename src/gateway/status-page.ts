import type { ClientState } from '../client/state.js';
import { defaultRedactor } from '../core/redact.js';
import { REDACTED } from '../core/secret.js';

/** What the status page shows for one upstream. */
export interface UpstreamStatus {
  readonly name: string;
  /** The base URL, with any secret query values redacted. */
  readonly baseUrl: string;
  /** Requests forwarded, failed (gateway-side problems) and in flight. */
  readonly requests: number;
  readonly errors: number;
  readonly inFlight: number;
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

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

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

function renderValue(value: unknown): string {
  if (value === undefined || value === null) return '<span class="muted">–</span>';
  if (typeof value !== 'object') return escapeHtml(String(value));
  if (Array.isArray(value)) {
    if (value.length === 0) return '<span class="muted">none</span>';
    return `<ul>${value.map((v) => `<li>${renderValue(v)}</li>`).join('')}</ul>`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '<span class="muted">–</span>';
  return `<dl>${entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${renderValue(v)}</dd>`).join('')}</dl>`;
}

function breakerCell(state: ClientState): string {
  const breaker = state.circuitBreaker;
  if (!breaker.enabled) return '<span class="muted">off</span>';
  // Before the first call there is no breaker yet: show the summary (`closed`).
  const states = breaker.breakers.length > 0 ? breaker.breakers.map((b) => b.state) : [breaker.state];
  return states
    .map((state) => {
      const name = String(state);
      return `<span class="state ${escapeHtml(name.replace(/[^a-z-]/gi, ''))}">${escapeHtml(name)}</span>`;
    })
    .join(' ');
}

/** The policies beside the breaker that this upstream has, for the "limits and usage" cell. */
function limitsOf(state: ClientState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of ['rateLimit', 'bulkhead', 'retryBudget', 'usage'] as const) {
    const { enabled, ...rest } = state[name] as { enabled: boolean };
    if (enabled) out[name] = rest;
  }
  return out;
}

function storeLine(status: GatewayStatus): string {
  const store = status.store;
  if (!store) return '';
  const state = store.up ? 'up' : 'down';
  return ` · token store <span class="state store-${state}" data-store="${state}">${escapeHtml(store.name)} ${state}</span>`;
}

/** Renders the status page: one row per upstream, refreshed every `refreshSeconds`. Every value is escaped. */
export function renderStatusPage(status: GatewayStatus, refreshSeconds: number): string {
  const rows = status.upstreams
    .map((u) => {
      return `<tr data-upstream="${escapeHtml(u.name)}">
<th scope="row">${escapeHtml(u.name)}</th>
<td><code>${escapeHtml(u.baseUrl)}</code></td>
<td>${u.requests}</td><td>${u.errors}</td><td>${u.inFlight}</td>
<td>${breakerCell(u.state)}</td>
<td>${renderValue(limitsOf(u.state))}</td>
<td>${renderValue(u.auth)}</td>
<td>${renderValue(u.extra)}</td>
</tr>`;
    })
    .join('\n');
  const refresh = Math.max(1, Math.round(refreshSeconds));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reqforge gateway status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left}
thead th{background:#f4f4f4}dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:0 .6rem}dt{color:#666}dd{margin:0}
ul{margin:0;padding-left:1rem}.muted{color:#999}.state{padding:0 .3rem;border-radius:3px}
.closed,.store-up{background:#d9f5dd}.open,.isolated,.store-down{background:#f9d6d5}.half-open{background:#fbefc8}
</style>
</head>
<body>
<h1>reqforge gateway</h1>
<p>${status.ready ? 'Ready' : 'Not ready'}${status.draining ? ' · draining' : ''}${storeLine(status)} · up ${Math.round(status.uptimeSeconds)} s · refreshes every ${refresh} s · <a href="/status.json">JSON</a> · <a href="/metrics">metrics</a></p>
<table>
<thead><tr><th>upstream</th><th>base URL</th><th>requests</th><th>errors</th><th>in flight</th><th>breaker</th><th>limits and usage</th><th>token</th><th>more</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="9" class="muted">no upstreams configured</td></tr>'}
</tbody>
</table>
</body>
</html>
`;
}
