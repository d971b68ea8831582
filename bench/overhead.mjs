// npm run bench:overhead [-- --calls N --rounds R --concurrency C]
// The pipeline's own cost per call, with no network: every client sends through an in-process transport that
// answers at once, so the numbers are reqforge's CPU time per call (building the request, the policies, the
// response and JSON body). The network table of `npm run bench` shows how that compares with a real round trip.
import { parseArgs } from 'node:util';
import { createClient, HttpResponse, standardPolicies, tokenAuth } from '../dist/index.js';
import { createMetrics } from '../dist/observability/index.js';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '7' },
    concurrency: { type: 'string', default: '50' },
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
const transport = {
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
        }),
    ),
  close: async () => {},
};

const baseUrl = 'http://bench.invalid';
const rows = [
  ['bare (policies: [])', createClient({ baseUrl, transport, policies: [] })],
  ['default preset', createClient({ baseUrl, transport })],
  ['standard preset', createClient({ baseUrl, transport, preset: 'standard' })],
  [
    'standard + limiter',
    createClient({
      baseUrl,
      transport,
      preset: 'standard',
      rateLimit: { limit: 1e9, window: 1000, burst: 1e6 },
    }),
  ],
  ['standard + auth + metrics', authMetricsClient(false)],
  // Issue 15: tracing enabled with @opentelemetry/api installed but no SDK registered must cost within 3 %.
  ['standard + auth + metrics + tracing (no SDK)', authMetricsClient(true)],
];

/** DESIGN §7's client row (standard pipeline, cached bearer token, metrics), with or without tracing. */
function authMetricsClient(tracing) {
  const api = createClient({
    baseUrl,
    transport,
    name: 'bench',
    tracing,
    policies: standardPolicies(
      {
        rateLimit: { limit: 1e9, window: 1000, burst: 1e6 },
        auth: tokenAuth({
          id: 'bench',
          fetchToken: async () => ({ accessToken: 'bench-token-0123456789abcdef', expiresIn: 3600 }),
        }),
      },
      'standard',
    ),
  });
  createMetrics().instrument(api);
  return api;
}

async function drive(client, total) {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      await client.get('/json').json();
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Number(process.hrtime.bigint() - start) / total; // ns per call
}

const results = new Map(rows.map(([name]) => [name, []]));
for (const [, client] of rows) await drive(client, calls / 4);
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < rows.length; i++) {
    const [name, client] = rows[(i + r) % rows.length];
    results.get(name).push(await drive(client, calls));
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
// The tracing row against the same pipeline without tracing, as a ratio of medians measured in one run.
const untraced = median(results.get('standard + auth + metrics'));
const traced = median(results.get('standard + auth + metrics + tracing (no SDK)'));
console.log(
  `\ntracing enabled without an SDK: ${(((traced - untraced) / untraced) * 100).toFixed(1)} % per call over the same pipeline without tracing (goal: within 3 %)`,
);
