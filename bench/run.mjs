// npm run bench [-- --requests N --concurrency C --rounds R --only a,b --json --baseline <dir>]
// Drives a loopback keep-alive server with a fixed number of requests at fixed concurrency for each
// client, in alternating rounds within one run, and reports each client's median requests per second
// and its ratio to raw undici Pool.request. `--baseline <dir>` (a checkout whose dist/ is built, say the previous
// release's) adds its three reqforge rows and its gateway in the same rounds, each paired with this build's row: the
// A/B that says whether a change made the hot path slower, on one machine state.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { clients, reqforgeRows } from './clients.mjs';
import { benchGateway } from './gateway.mjs';

const { values: args } = parseArgs({
  allowNegative: true,
  options: {
    requests: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '2000' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
    gateway: { type: 'boolean', default: true },
    baseline: { type: 'string' },
  },
});
const requests = Number(args.requests);
const concurrency = Number(args.concurrency);
const rounds = Number(args.rounds);
const warmup = Number(args.warmup);
const only = args.only ? new Set(args.only.split(',')) : undefined;
const log = (line) => {
  if (!args.json) process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
};

// Pin the client and the server to different cores when we can: on a 2-core machine the scheduler
// otherwise moves them around and the noise between rounds dwarfs the differences we measure.
function canPin() {
  if (process.platform !== 'linux' || os.cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const pinned = canPin();

async function drive(run, total) {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      await run();
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return total / seconds;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const serverScript = new URL('./server.mjs', import.meta.url).pathname;
const server = pinned
  ? spawn('taskset', ['-c', '1', process.execPath, serverScript], { stdio: ['ignore', 'pipe', 'inherit'] })
  : spawn(process.execPath, [serverScript], { stdio: ['ignore', 'pipe', 'inherit'] });
const [chunk] = await once(server.stdout, 'data');
const origin = `http://127.0.0.1:${String(chunk).trim()}`;

if (args.baseline) {
  const dist = pathToFileURL(`${resolve(args.baseline)}/dist/`).href;
  const rows = reqforgeRows(
    await import(`${dist}index.js`),
    await import(`${dist}observability/index.js`),
    ' (baseline build)',
  );
  // Each baseline row is paired with this build's row of the same name: its "ratio to its pair" is baseline/this.
  clients.push(...rows.map((row) => ({ ...row, pair: row.name.replace(' (baseline build)', '') })));
}
const selected = clients.filter(
  (c) =>
    !only ||
    only.has(c.name) ||
    c.name === 'undici' ||
    clients.some((o) => only.has(o.name) && o.pair === c.name) ||
    (c.name.endsWith('(baseline build)') && only.has(c.pair)),
);
const instances = selected.map((c) => ({
  name: c.name,
  pair: c.pair,
  client: c.setup(origin, concurrency),
  rps: [],
}));

log(
  `reqforge bench: ${requests} GETs per client per round, concurrency ${concurrency}, ${rounds} rounds, ` +
    `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, Node ${process.version}${pinned ? ', client and server pinned to separate cores' : ''}`,
);
for (const inst of instances) await drive(inst.client.run, warmup);
for (let round = 0; round < rounds; round++) {
  // Rotate the order each round so no client always runs right after the same neighbour.
  const shift = round % instances.length;
  const order = [...instances.slice(shift), ...instances.slice(0, shift)];
  for (const inst of order) inst.rps.push(await drive(inst.client.run, requests));
  if ((round + 1) % 5 === 0 || round + 1 === rounds) log(`  round ${round + 1}/${rounds} done`);
}
for (const inst of instances) await inst.client.close();
server.kill();

// Each round pairs every client with undici on the same machine state; the ratio is the median of
// those per-round ratios, which is far steadier than a ratio of medians.
const base = instances.find((i) => i.name === 'undici').rps;
const perRound = (rps, other) => Number(median(rps.map((x, round) => x / other[round])).toFixed(3));
const results = instances.map((i) => {
  const pair = i.pair && instances.find((o) => o.name === i.pair);
  return {
    name: i.name,
    rps: Math.round(median(i.rps)),
    ratio: perRound(i.rps, base),
    ...(pair && { pair: pair.name, ratioToPair: perRound(i.rps, pair.rps) }),
  };
});
log('');
log('| client | req/s (median) | ratio to undici | ratio to its pair |');
log('|---|---:|---:|---:|');
for (const r of results) {
  const paired = r.pair ? `${r.ratioToPair.toFixed(2)} (to ${r.pair})` : '';
  log(`| ${r.name} | ${r.rps.toLocaleString('en-US')} | ${r.ratio.toFixed(2)} | ${paired} |`);
}

// The gateway section (skip with --no-gateway): ratios are to a bare @fastify/http-proxy and to a minimal
// node:http + undici proxy (the yardstick in DESIGN.md) on the same upstream.
let gatewayRows = [];
if (args.gateway && !only) {
  log('');
  log(
    'gateway: reqforge gateway (OAuth2 token injection + standard policies + metrics) vs @fastify/http-proxy vs a minimal node:http + undici proxy vs direct',
  );
  gatewayRows = await benchGateway({
    concurrency,
    log,
    ...(args.baseline && { baseline: `${resolve(args.baseline)}/dist` }),
  });
  log('');
  log('| path | req/s (median) | ratio to fastify proxy | ratio to minimal proxy | proxy CPU per request |');
  log('|---|---:|---:|---:|---:|');
  for (const r of gatewayRows) {
    log(
      `| ${r.name} | ${r.rps.toLocaleString('en-US')} | ${r.ratio.toFixed(2)} | ${r.ratioToMinimal.toFixed(2)} | ${r.cpuPerRequestUs ? `${r.cpuPerRequestUs} µs` : ''} |`,
    );
  }
}
if (args.json) {
  const rows = [
    ...results,
    ...gatewayRows.map((r) => ({
      name: `gateway:${r.name}`,
      rps: r.rps,
      ratio: r.ratio,
      ratioToMinimal: r.ratioToMinimal,
    })),
  ];
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
}
