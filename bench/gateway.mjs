// The gateway section of `npm run bench`: the same GETs at the same concurrency through the reqforge gateway
// (OAuth2 token injection + standard policies + metrics), through a bare @fastify/http-proxy, and straight to
// the upstream, in rotating rounds of one run. Ratios are per round against the fastify proxy.
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { Pool } from 'undici';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// On Linux with 2+ cores, the proxy under test gets a core of its own (the last one) and the driver and the
// upstream share the first, so the proxies' throughput is compared at the same CPU budget.
function pin(pid, core) {
  if (process.platform !== 'linux' || os.cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-cp', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function start(script, args, core) {
  const child = fork(new URL(script, import.meta.url), args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  if (core !== undefined) pin(child.pid, core);
  const [chunk] = await once(child.stdout, 'data');
  return { child, url: String(chunk).trim() };
}

function cpuOf(proc) {
  if (!proc) return Promise.resolve(0);
  return new Promise((resolve) => {
    proc.child.once('message', (m) => resolve((m.cpu.user + m.cpu.system) / 1000));
    proc.child.send('cpu');
  });
}

async function drive(pool, path, total, concurrency) {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      const { statusCode, body } = await pool.request({ path, method: 'GET' });
      await body.text();
      if (statusCode !== 200) failed++;
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failed > 0) throw new Error(`${failed} of ${total} calls failed on ${path}`);
  return total / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Runs the gateway comparison and returns rows `{ name, rps, ratio }` (ratio to the fastify proxy). */
export async function benchGateway({
  requests = 3000,
  concurrency = 50,
  rounds = Number(process.env.ROUNDS ?? 15),
  baseline,
  log = () => undefined,
} = {}) {
  const last = os.cpus().length - 1;
  pin(process.pid, 0);
  const upstream = await start('./server.mjs', [], 0);
  const origin = upstream.url.startsWith('http') ? upstream.url : `http://127.0.0.1:${upstream.url}`;
  const gateway = await start('./proxy-proc.mjs', ['gateway', origin], last);
  const fastify = await start('./proxy-proc.mjs', ['fastify', origin], last);
  const minimal = await start('./proxy-proc.mjs', ['minimal', origin], last);
  const before = baseline && (await start('./proxy-proc.mjs', ['gateway', origin, baseline], last));
  const targets = [
    {
      name: 'direct',
      pool: new Pool(origin, { connections: concurrency }),
      path: '/json',
      rps: [],
      cpu: 0,
      n: 0,
    },
    {
      name: 'fastify-http-proxy',
      proc: fastify,
      pool: new Pool(fastify.url, { connections: concurrency }),
      path: '/bench/json',
      rps: [],
      cpu: 0,
      n: 0,
    },
    {
      name: 'minimal-node-undici-proxy',
      proc: minimal,
      pool: new Pool(minimal.url, { connections: concurrency }),
      path: '/bench/json',
      rps: [],
      cpu: 0,
      n: 0,
    },
    {
      name: 'reqforge-gateway',
      proc: gateway,
      pool: new Pool(gateway.url, { connections: concurrency }),
      path: '/bench/json',
      rps: [],
      cpu: 0,
      n: 0,
    },
  ];
  if (before) {
    targets.push({
      name: 'reqforge-gateway (baseline build)',
      proc: before,
      pool: new Pool(before.url, { connections: concurrency }),
      path: '/bench/json',
      rps: [],
      cpu: 0,
      n: 0,
    });
  }
  try {
    for (const t of targets) await drive(t.pool, t.path, 1000, concurrency);
    for (let round = 0; round < rounds; round++) {
      const shift = round % targets.length;
      for (const t of [...targets.slice(shift), ...targets.slice(0, shift)]) {
        const before = await cpuOf(t.proc);
        t.rps.push(await drive(t.pool, t.path, requests, concurrency));
        t.cpu += (await cpuOf(t.proc)) - before;
        t.n += requests;
      }
      if ((round + 1) % 3 === 0) log(`  gateway round ${round + 1}/${rounds} done`);
    }
  } finally {
    for (const t of targets) await t.pool.close();
    for (const p of [upstream, gateway, fastify, minimal, before]) p?.child.kill();
  }
  const base = targets[1].rps;
  const yardstick = targets[2].rps;
  return targets.map((t) => ({
    name: t.name,
    rps: Math.round(median(t.rps)),
    ratio: Number(median(t.rps.map((r, i) => r / base[i])).toFixed(3)),
    ratioToMinimal: Number(median(t.rps.map((r, i) => r / yardstick[i])).toFixed(3)),
    ...(t.proc && { cpuPerRequestUs: Number(((t.cpu * 1000) / t.n).toFixed(1)) }),
  }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `--baseline <dir>`: also run the gateway from another build (say, main's `dist`) in the same rounds.
  const at = process.argv.indexOf('--baseline');
  const baseline = at === -1 ? undefined : process.argv[at + 1];
  const rows = await benchGateway({ baseline, log: (l) => console.log(l) });
  console.log(
    '\n| path | req/s (median) | ratio to fastify proxy | ratio to minimal proxy | proxy CPU per request |\n|---|---:|---:|---:|---:|',
  );
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.rps.toLocaleString('en-US')} | ${r.ratio.toFixed(2)} | ${r.ratioToMinimal.toFixed(2)} | ${r.cpuPerRequestUs ? `${r.cpuPerRequestUs} µs` : ''} |`,
    );
}
