/**
 * The status page's HTML: the operations page (a shell whose table the inline script renders from the embedded
 * status document, then keeps up to date) and the login form. Both carry their style and script under the
 * response's CSP nonce; nothing here has an inline event handler.
 */
import type { GatewayStatus } from './status-model.js';
import { STATUS_SCRIPT } from './status-script.js';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe inside a `<script type="application/json">` element (no `</script>`, no `<!--`). */
function embeddedJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const STYLE = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0;padding:1rem 1.25rem;color:#1d1d1f;background:#fafafa}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem 1rem}
h1{font-size:1.3rem;margin:0 0 .25rem}
#summary{margin:0;color:#444}#summary.bad{color:#a1150f;font-weight:600}
#notice{min-height:1.2em;margin:.4rem 0}.good{color:#1e6b2d}.bad{color:#a1150f}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e3e3;padding:.45rem .55rem;vertical-align:top;text-align:left}
thead th{background:#f0f0f0;font-weight:600;white-space:nowrap;font-size:.85rem}
tbody th .name{font-weight:600}code{font-size:.8rem}.url{color:#666;word-break:break-all}
td[data-label=latency] div div,.breaker code,[data-class]{white-space:nowrap}
.small{font-size:.8rem}.muted{color:#888}
.state{padding:0 .35rem;border-radius:3px;white-space:nowrap}
.closed,.store-up,.valid{background:#d9f5dd}.open,.isolated,.store-down,.expired{background:#f9d6d5}
.half-open,.refreshing,.stale{background:#fbefc8}
form.action,form.logout{display:inline;margin:0}
button{font:inherit;font-size:.8rem;padding:.15rem .5rem;margin-top:.2rem;cursor:pointer}
.login{max-width:22rem;margin:3rem auto;background:#fff;padding:1.25rem;border:1px solid #ddd;border-radius:6px}
.login input{width:100%;font:inherit;padding:.4rem;margin:.3rem 0 .8rem}
@media (max-width:760px){
  body{padding:.75rem}
  thead{display:none}
  table,tbody,tr,th,td{display:block;width:100%}
  tr{border:1px solid #ddd;border-radius:6px;margin-bottom:.75rem;background:#fff}
  tbody th,td{display:grid;grid-template-columns:6.5rem 1fr;gap:.5rem;border-bottom:1px solid #f0f0f0}
  tbody th::before,td::before{content:attr(data-label);color:#666;font-weight:400}
}
`;

/** What the page needs besides the status document. */
export interface StatusPageOptions {
  /** The CSP nonce of this response. */
  readonly nonce: string;
  /** How often the script polls, in ms. */
  readonly refresh: number;
  /** Where the script polls: `/status/json`, inside the session cookie's path. */
  readonly source: string;
  /** The session's CSRF token: with it, the page offers admin actions and a logout button. */
  readonly csrf?: string | undefined;
  /** Whether to offer the admin actions (they also need `csrf`). */
  readonly actions?: boolean | undefined;
  /** Who is logged in (the API key's name), shown beside the logout button. */
  readonly caller?: string | undefined;
}

/**
 * Renders the status page: the shell, the status document embedded as JSON, and the script that renders it and
 * polls for fresh numbers. Every value is escaped.
 */
export function renderStatusPage(status: GatewayStatus, options: StatusPageOptions): string {
  const nonce = escapeHtml(options.nonce);
  const csrf =
    options.csrf && options.actions ? ` data-csrf="${escapeHtml(options.csrf)}" data-actions="on"` : '';
  const logout = options.csrf
    ? `<form class="logout" method="post" action="/status/logout"><input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}"><span class="muted">${escapeHtml(options.caller ?? '')}</span> <button type="submit">Log out</button></form>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reqforge gateway status</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-source="${escapeHtml(options.source)}" data-refresh="${Math.round(options.refresh)}"${csrf}>
<header><h1>reqforge gateway</h1><p id="summary">${status.ready ? 'Ready' : 'Not ready'}</p>
<span class="muted small"><a href="/status.json">JSON</a> · <a href="/metrics">metrics</a></span>${logout}</header>
<p id="notice" role="status" aria-live="polite"></p>
<div class="scroll">
<table id="upstreams">
<thead><tr><th>upstream</th><th>req/s</th><th>latency</th><th>errors</th><th>retries</th><th>breaker</th><th>limiter</th><th>bulkhead</th><th>token</th></tr></thead>
<tbody></tbody>
</table>
</div>
<noscript><p>This page needs JavaScript for its table; the same numbers are at <a href="/status.json">/status.json</a>.</p></noscript>
<script type="application/json" id="status-data">${embeddedJson(status)}</script>
<script nonce="${nonce}">${STATUS_SCRIPT}</script>
</body>
</html>
`;
}

/** The login form: one API key posted once to `/status/login`; `message` says why it is shown again. */
export function renderLoginPage(nonce: string, message?: string): string {
  const note = message ? `<p class="bad" role="alert">${escapeHtml(message)}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reqforge gateway status: log in</title>
<style nonce="${escapeHtml(nonce)}">${STYLE}</style>
</head>
<body>
<form class="login" method="post" action="/status/login">
<h1>reqforge gateway</h1>
${note}<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>
</body>
</html>
`;
}
