// npm run build && node bench/shared-limit.mjs [-- --seconds 10 --limit 500 --processes 4 --calls 2000]
// The shared (Redis) rate limiter, on a private redis-server started on a spare port (never a shared one):
// 1. the full-size run of issue 17: 4 processes share 500/s for 10 s against a loopback server, judged on what the
//    limiter granted (reservation starts on Redis's clock) and on what the server saw per second;
// 2. the overhead per call of a non-binding limit: no limiter, the in-process bucket, and the Redis limiter (one
//    round trip on loopback), measured side by side in interleaved rounds (medians), sequential calls.
import { fork, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { analyse, perSecond } from '../test/limits/shared-limit-analysis.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = pathToFileURL(join(here, '../dist/index.js')).href;
const { createClient } = await import(dist);
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    limit: { type: 'string', default: '500' },
    processes: { type: 'string', default: '4' },
    calls: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
  },
});
const seconds = Number(args.seconds);
const limit = Number(args.limit);
const processes = Number(args.processes);

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const reachable = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const port = await freePort();
const redis = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  {
    stdio: 'ignore',
  },
);
for (let i = 0; i < 200 && !(await reachable(port)); i++) await new Promise((r) => setTimeout(r, 25));
const redisUrl = `redis://127.0.0.1:${port}`;

const arrivals = [];
const server = createServer((_req, res) => {
  arrivals.push(Date.now());
  res.end('ok');
});
server.keepAliveTimeout = 10_000;
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const apiUrl = `http://127.0.0.1:${server.address().port}`;

try {
  // 1. The full-size run.
  const workers = Array.from({ length: processes }, () =>
    fork(join(here, '../test/limits/limiter-worker.mjs'), [dist], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const next = (w, type) =>
    new Promise((resolve, reject) => {
      const on = (m) => {
        if (m.type === type) {
          w.off('message', on);
          resolve(m);
        } else if (m.type === 'error') reject(new Error(m.message));
      };
      w.on('message', on);
    });
  await Promise.all(workers.map((w) => next(w, 'loaded')));
  const run = {
    redisUrl,
    keyPrefix: `bench${process.pid}:`,
    name: 'bench',
    apiUrl,
    limit,
    burst: 10,
    rate: (limit * 1.5) / processes,
    connections: 64,
    durationMs: seconds * 1000,
    heartbeat: 1_000,
    storeTimeout: 2_000,
  };
  const ready = workers.map((w) => next(w, 'ready'));
  for (const w of workers) w.send({ type: 'setup', run });
  await Promise.all(ready);
  const done = workers.map((w) => next(w, 'result'));
  for (const w of workers) w.send({ type: 'go' });
  const results = await Promise.all(done);
  for (const w of workers) w.send({ type: 'exit' });
  const a = analyse(results, { limit });
  const windows = perSecond(arrivals);
  const ok = results.reduce((n, r) => n + (r.outcomes.ok ?? 0), 0);
  const permits = results.reduce((n, r) => n + r.stats.reservations, 0);
  const heartbeats = results.reduce((n, r) => n + r.stats.heartbeats, 0);
  console.log(
    `\n## Shared limit: ${processes} processes × ${limit}/s (burst 10) for ${seconds} s, demand 1.5 × the limit\n`,
  );
  console.log('| measure | value |');
  console.log('|---|---|');
  const outcomes = {};
  for (const r of results)
    for (const [k, n] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n;
  console.log(`| call outcomes | ${JSON.stringify(outcomes)} |`);
  console.log(
    `| permits granted by Redis | ${a.granted} (answered: ${ok}, seen by the server: ${arrivals.length}) |`,
  );
  console.log(`| longest span with callers queued | ${(a.backlogMs / 1000).toFixed(2)} s |`);
  console.log(
    `| delivered in it vs the limit | ${a.delivered} vs ${a.expected.toFixed(0)} (${(a.deviation * 100).toFixed(2)} %) |`,
  );
  console.log(`| most granted in any 1 s (limit + burst = ${limit + 10}) | ${a.maxPerSecondGranted} |`);
  console.log(`| server per 1 s window | ${windows.join(' / ')} |`);
  console.log(`| reservations out of arrival order | ${a.orderViolations} |`);
  console.log(
    `| calls sent before their slot | ${a.earlySends} (latest send ${a.maxLateMs} ms after its slot) |`,
  );
  console.log(
    `| Redis scripts per permit | ${permits} permits + ${heartbeats} heartbeats, degraded ${results.reduce((n, r) => n + r.stats.degraded, 0)} |`,
  );

  // 2. Overhead per call of a non-binding limit.
  const calls = Number(args.calls);
  const rounds = Number(args.rounds);
  const rows = [
    ['no limiter', createClient({ baseUrl: apiUrl, retry: false })],
    [
      'in-process bucket',
      createClient({ baseUrl: apiUrl, retry: false, rateLimit: { limit: 1e9, burst: 1e6 } }),
    ],
    [
      'Redis GCRA (shared)',
      createClient({
        baseUrl: apiUrl,
        retry: false,
        rateLimit: {
          limit: 1e9,
          burst: 1e6,
          store: { url: redisUrl, keyPrefix: 'benchoh:' },
          storeTimeout: 2_000,
        },
      }),
    ],
  ];
  const timings = rows.map(() => []);
  for (const [, client] of rows) for (let i = 0; i < 200; i++) await (await client.get('/')).text();
  for (let r = 0; r < rounds; r++) {
    for (const [i, [, client]] of rows.entries()) {
      const t0 = process.hrtime.bigint();
      for (let c = 0; c < calls; c++) await (await client.get('/')).text();
      timings[i].push(Number(process.hrtime.bigint() - t0) / 1e3 / calls);
    }
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const base = median(timings[0]);
  console.log(
    `\n## Overhead of a non-binding limit per call (sequential, ${calls} calls × ${rounds} interleaved rounds, medians)\n`,
  );
  console.log('| client | µs per call | vs no limiter |');
  console.log('|---|---|---|');
  for (const [i, [name]] of rows.entries()) {
    const m = median(timings[i]);
    console.log(`| ${name} | ${m.toFixed(1)} | +${(m - base).toFixed(1)} µs (${(m / base).toFixed(2)}×) |`);
  }
  await Promise.all(rows.map(([, c]) => c.close()));
} finally {
  server.close();
  redis.kill('SIGKILL');
}
