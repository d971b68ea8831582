/**
 * The status page's script, as plain JavaScript text (no build step, no framework), served inline under the
 * response's CSP nonce. It renders the status document embedded in the page, then polls `/status/json` and
 * renders again; admin forms post through `fetch` and report in a status line. Everything is built with DOM
 * calls and `textContent`, never `innerHTML`, so no value from the document can become markup.
 */

/** The number formatting the page uses (also loaded alone by the tests, hence a separate string). */
export const STATUS_FORMAT_JS = `
const fmt = {
  rate: (n) => \`\${(Number(n) || 0).toFixed(1)}/s\`,
  ms: (n) => n == null ? '–' : n < 10 ? \`\${n.toFixed(1)} ms\` : n < 10000 ? \`\${Math.round(n)} ms\` : \`\${(n / 1000).toFixed(1)} s\`,
  pct: (n) => !n ? '0 %' : n < 0.1 ? '<0.1 %' : \`\${n.toFixed(1)} %\`,
  count: (n) => Math.round(Number(n) || 0).toLocaleString('en-US'),
  duration: (ms) => {
    let s = Math.max(0, Math.round(ms / 1000));
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    return h ? \`\${h}h \${m}m\` : m ? \`\${m}m \${s}s\` : \`\${s}s\`;
  },
  in: (ms) => \`in \${fmt.duration(ms)}\`,
};
`;

const RENDER_JS = `
const body = document.body;
const source = body.dataset.source;
const every = Math.max(1000, Number(body.dataset.refresh) || 5000);
const csrf = body.dataset.csrf || '';
const tbody = document.querySelector('#upstreams tbody');
const summary = document.getElementById('summary');
const notice = document.getElementById('notice');

const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false || v === '') continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const kid of kids.flat()) {
    if (kid !== undefined && kid !== null && kid !== false) e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
};
const muted = (text) => el('span', { class: 'muted' }, text);
const line = (...kids) => el('div', null, ...kids);
const badge = (state) => el('span', { class: \`state \${String(state).replace(/[^a-z-]/gi, '')}\` }, String(state));
// One content box per cell: on a phone the cell is a two-column grid, label and content.
const cell = (label, ...kids) => el('td', { 'data-label': label }, el('div', null, ...kids));

function say(text, ok) {
  notice.textContent = text;
  notice.className = ok ? 'good' : 'bad';
}

function actionForm(action, fields, label) {
  if (!csrf) return null;
  const form = el('form', { method: 'post', action: \`/status/actions/\${action}\`, 'data-action': action, class: 'action' });
  for (const [name, value] of Object.entries({ ...fields, csrf })) form.append(el('input', { type: 'hidden', name, value }));
  form.append(el('button', { type: 'submit' }, label));
  return form;
}

const CLASSES = [['clientError', '4xx'], ['serverError', '5xx'], ['network', 'network'], ['refused', 'refused']];

function errorsCell(live) {
  const e = live.errorPercent;
  const total = e.clientError + e.serverError + e.network + e.refused;
  return cell('errors',
    el('div', { 'data-field': 'errors', class: total >= 5 ? 'bad' : '' }, fmt.pct(total)),
    CLASSES.map(([k, label]) => el('div', { class: 'small', 'data-class': k, 'data-count': live.window[k] },
      \`\${label} \${fmt.count(live.window[k])} · \${fmt.pct(e[k])}\`)));
}

function breakerCell(u) {
  const cb = u.state.circuitBreaker;
  if (!cb || !cb.enabled) return cell('breaker', muted('off'));
  if (cb.breakers.length === 0) return cell('breaker', badge(cb.state));
  return cell('breaker', cb.breakers.map((b) => el('div', { class: 'breaker', 'data-target': b.target },
    badge(b.state), ' ', el('code', null, b.target),
    b.halfOpenIn > 0 ? el('div', { class: 'small' }, \`half-open \${fmt.in(b.halfOpenIn)}\`) : null,
    el('div', { class: 'small muted' }, \`\${fmt.count(b.failures)} of \${fmt.count(b.calls)} failed\`),
    b.state !== 'closed' && u.actions.includes('reset-breaker')
      ? actionForm('reset-breaker', { upstream: u.name, target: b.target }, 'Reset breaker') : null)));
}

function limiterCell(rl) {
  if (!rl || !rl.enabled) return cell('limiter', muted('off'));
  return cell('limiter',
    line('queue ', el('b', { 'data-field': 'queue' }, fmt.count(rl.queueLength))),
    el('div', { class: 'small' }, \`longest wait \${fmt.ms(rl.longestWait)}\`),
    el('div', { class: 'small muted' }, \`\${fmt.count(rl.limit)} per \${fmt.duration(rl.window)} · \${fmt.count(rl.dropped + rl.raised)} refused\`));
}

function bulkheadCell(bh) {
  if (!bh || !bh.enabled) return cell('bulkhead', muted('off'));
  return cell('bulkhead',
    line(el('b', { 'data-field': 'in-flight' }, fmt.count(bh.inFlight)), \` / \${fmt.count(bh.maxConcurrent)}\`),
    el('div', { class: 'small muted' }, \`\${fmt.count(bh.queued)} queued\`));
}

function tokenCell(u, store) {
  const auth = u.auth;
  const tokens = auth && Array.isArray(auth.cached) ? auth.cached : undefined;
  if (!tokens) return cell('token', muted('–'));
  return cell('token',
    tokens.length === 0 ? muted('no token yet') : tokens.map((t) => el('div', { class: 'token' },
      badge(t.state), ' ',
      t.state === 'expired' ? 'expired' : \`expires \${fmt.in(t.expiresInSeconds * 1000)}\`,
      t.failures ? el('div', { class: 'small bad' }, \`\${t.failures} failed refreshes\${t.lastErrorCode ? \` (\${t.lastErrorCode})\` : ''}\`) : null)),
    store ? el('div', { class: 'small' }, 'store ', el('span', { class: \`state store-\${store.up ? 'up' : 'down'}\`, 'data-store': store.up ? 'up' : 'down' }, \`\${store.name} \${store.up ? 'up' : 'down'}\`)) : null,
    u.actions.includes('refresh-token') ? actionForm('refresh-token', { upstream: u.name }, 'Refresh token') : null);
}

function row(u, doc) {
  const live = u.live;
  const l = live.latencyMs;
  return el('tr', { 'data-upstream': u.name },
    el('th', { scope: 'row', 'data-label': 'upstream' }, el('div', null, el('div', { class: 'name' }, u.name), el('code', { class: 'url' }, u.baseUrl))),
    cell('req/s', el('div', { 'data-field': 'rps' }, fmt.rate(live.requestsPerSecond)),
      el('div', { class: 'small muted' }, \`\${fmt.count(live.totals.requests)} total · \${fmt.count(u.inFlight)} in flight\`)),
    cell('latency', l
      ? [['p50', l.p50], ['p95', l.p95], ['p99', l.p99]].map(([q, v]) => line(\`\${q} \`, el('b', { 'data-field': q }, fmt.ms(v))))
      : muted('no requests')),
    errorsCell(live),
    cell('retries', el('div', { 'data-field': 'retries' }, fmt.count(live.window.retries)),
      el('div', { class: 'small muted' }, \`\${fmt.count(live.totals.retries)} total\`)),
    breakerCell(u),
    limiterCell(u.state.rateLimit),
    bulkheadCell(u.state.bulkhead),
    tokenCell(u, doc.store));
}

function render(doc) {
  const parts = [doc.ready ? 'Ready' : 'Not ready'];
  if (doc.draining) parts.push('draining');
  if (doc.store) parts.push(\`token store \${doc.store.name} \${doc.store.up ? 'up' : 'down'}\`);
  parts.push(\`up \${fmt.duration(doc.uptimeSeconds * 1000)}\`);
  parts.push(\`updated \${new Date().toLocaleTimeString('en-GB')}\`);
  summary.textContent = parts.join(' · ');
  summary.className = doc.ready ? '' : 'bad';
  const rows = doc.upstreams.map((u) => row(u, doc));
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', null, el('td', { colspan: 9, class: 'muted' }, 'no upstreams configured'))]));
}

let timer;
async function poll() {
  clearTimeout(timer);
  try {
    const res = await fetch(source, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
    if (res.status === 401) {
      location.reload();
      return;
    }
    if (!res.ok) throw new Error(\`HTTP \${res.status}\`);
    render(await res.json());
    body.dataset.updates = String(Number(body.dataset.updates || 0) + 1);
  } catch (error) {
    say(\`Live updates failed (\${error.message}); trying again\`, false);
  }
  timer = setTimeout(poll, every);
}

document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.action) return;
  event.preventDefault();
  for (const button of form.querySelectorAll('button')) button.disabled = true;
  try {
    const res = await fetch(form.action, {
      method: 'POST',
      body: new URLSearchParams(new FormData(form)),
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
    });
    const answer = await res.json().catch(() => ({}));
    say(answer.message || answer.detail || \`HTTP \${res.status}\`, res.ok);
  } catch (error) {
    say(\`The action failed: \${error.message}\`, false);
  }
  poll();
});

render(JSON.parse(document.getElementById('status-data').textContent));
timer = setTimeout(poll, every);
`;

/** The whole script: formatting, rendering, polling and admin forms, in one strict-mode function scope. */
export const STATUS_SCRIPT = `(() => {\n'use strict';\n${STATUS_FORMAT_JS}${RENDER_JS}})();\n`;
