// npm run bench:overhead [-- --calls N --rounds R --concurrency C --baseline <dir>]
// The pipeline's own cost per call, with no network: every client sends through an in-process transport that
// answers at once, so the numbers are reqforge's CPU time per call (building the request, the policies, the
// response and JSON body). The network table of `npm run bench` shows how that compares with a real round trip.
// `--baseline <dir>` adds the same rows built from another checkout's dist (say, main's), in the same rounds: an A/B
// of the hot path on one machine state.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { defineClient, get } from '../dist/declarative.js';
import * as current from '../dist/index.js';
import { createMetrics } from '../dist/observability/index.js';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '7' },
    concurrency: { type: 'string', default: '50' },
    baseline: { type: 'string' },
  },
});
const calls = Number(args.calls);
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);

// A body with undici's fast-consumer shape, so the response reads it the way it reads an undici body.
const fastBody = () => ({ text: () => Promise.resolve('{"ok":true}') });
// Each answer comes on a later turn of the event loop (as a socket read would), so per-call state lives across
// turns as it does under real traffic.
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const transportOf = ({ HttpResponse }) => ({
  handle: (request, ctx) =>
    nextTurn().then(
      () =>
        new HttpResponse({
          status: 200,
          headers: { 'content-type': 'application/json', 'content-length': '11' },
          request,
          elapsed: 0,
          body: fastBody(),
          maxBodySize: ctx.maxBodySize,
          // As the undici transport does (a build without decompression ignores it).
          decompress: ctx.decompress,
        }),
    ),
  close: async () => {},
});

const baseUrl = 'http://bench.invalid';
const call = (client) => () => client.get('/json').json();
const rowsOf = (lib, suffix) => {
  const { createClient } = lib;
  const transport = transportOf(lib);
  return [
    [`bare (policies: [])${suffix}`, call(createClient({ baseUrl, transport, policies: [] }))],
    [`default preset${suffix}`, call(createClient({ baseUrl, transport }))],
    [`standard preset${suffix}`, call(createClient({ baseUrl, transport, preset: 'standard' }))],
    [
      `standard + limiter${suffix}`,
      call(
        createClient({
          baseUrl,
          transport,
          preset: 'standard',
          rateLimit: { limit: 1e9, window: 1000, burst: 1e6 },
        }),
      ),
    ],
  ];
};
const rows = rowsOf(current, '');
// Usage tracking (`usage: true`, or limits): what client.usage() costs per call, against the default preset.
rows.push([
  'default preset + usage',
  call(
    current.createClient({
      baseUrl,
      transport: transportOf(current),
      usage: { perMinute: 1e9, errorsPerHour: 1e9 },
    }),
  ),
]);

// DESIGN §7's client row (standard pipeline, cached bearer token, metrics), with or without tracing. Issue 15: tracing
// enabled with @opentelemetry/api installed but no SDK registered must cost within 3 %.
function authMetricsClient(tracing) {
  const api = current.createClient({
    baseUrl,
    transport: transportOf(current),
    name: 'bench',
    tracing,
    policies: current.standardPolicies(
      {
        rateLimit: { limit: 1e9, window: 1000, burst: 1e6 },
        auth: current.tokenAuth({
          id: 'bench',
          fetchToken: async () => ({ accessToken: 'bench-token-0123456789abcdef', expiresIn: 3600 }),
        }),
      },
      'standard',
    ),
  });
  createMetrics().instrument(api);
  return call(api);
}
rows.push(
  ['standard + auth + metrics', authMetricsClient(false)],
  ['standard + auth + metrics + tracing (no SDK)', authMetricsClient(true)],
);

// A declared endpoint against the same call through createClient: the same pipeline (a declared client's default
// `resilience: true` is the standard preset's order: total timeout, retry, breaker, attempt timeout), the same path
// parameter, the same JSON result. Then the same endpoint with a zod response schema.
const transport = transportOf(current);
const standard = current.createClient({ baseUrl, transport, preset: 'standard' });
const Declared = defineClient({
  baseUrl,
  endpoints: {
    item: get('/items/{id}'),
    checked: get('/items/{id}', { response: z.object({ ok: z.boolean() }) }),
  },
});
const declared = Declared.connect({ transport });
const COMPARED = ['createClient: get(/items/{id}).json()', 'declared endpoint, no schema'];
rows.push(
  [COMPARED[0], () => standard.get('/items/{id}', { params: { id: 7 } }).json()],
  [COMPARED[1], () => declared.item({ id: 7 })],
  ['declared endpoint, zod response schema', () => declared.checked({ id: 7 })],
);

if (args.baseline) {
  const lib = await import(pathToFileURL(resolve(args.baseline, 'dist/index.js')).href);
  rows.push(...rowsOf(lib, ' (baseline)'));
}

async function drive(fn, total) {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      await fn();
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Number(process.hrtime.bigint() - start) / total; // ns per call
}

const results = new Map(rows.map(([name]) => [name, []]));
for (const [, fn] of rows) await drive(fn, calls / 4);
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < rows.length; i++) {
    const [name, fn] = rows[(i + r) % rows.length];
    results.get(name).push(await drive(fn, calls));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bare = median(results.get(rows[0][0]));
console.log(
  `reqforge pipeline overhead: ${calls} calls per round, ${rounds} rounds, concurrency ${concurrency}`,
);
console.log('\n| pipeline | ns per call (median) | added over bare |\n|---|---:|---:|');
for (const [name] of rows) {
  const ns = median(results.get(name));
  console.log(`| ${name} | ${Math.round(ns)} | ${name === rows[0][0] ? '' : `+${Math.round(ns - bare)}`} |`);
}
const usage = median(results.get('default preset + usage')) - median(results.get('default preset'));
console.log(
  `\nusage tracking (\`usage: { … }\`): ${usage >= 0 ? '+' : ''}${Math.round(usage)} ns per call over the default preset`,
);
const [plain, decl] = COMPARED.map((name) => median(results.get(name)));
console.log(
  `\ndeclared endpoint / createClient call, ns per call: ${(decl / plain).toFixed(3)} (goal: within 1.05)`,
);
// The tracing row against the same pipeline without tracing, as a ratio of medians measured in one run.
const untraced = median(results.get('standard + auth + metrics'));
const traced = median(results.get('standard + auth + metrics + tracing (no SDK)'));
console.log(
  `\ntracing enabled without an SDK: ${(((traced - untraced) / untraced) * 100).toFixed(1)} % per call over the same pipeline without tracing (goal: within 3 %)`,
);
