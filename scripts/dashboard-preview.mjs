// node scripts/dashboard-preview.mjs [seconds]: the shipped dashboard's queries on real data, as a picture.
// Starts two sandboxes (one healthy, one failing 40 % of calls), the gateway in front of them (`reqforge gateway`,
// OAuth2 on the first), Prometheus (Debian's `prometheus` package) scraping the gateway every second, drives traffic
// for `seconds` (default 90), then screenshots Prometheus's graph page with four of the dashboard's panels' queries
// into docs/images/dashboard-queries.png. Needs `npm run build`, /usr/bin/prometheus and /usr/bin/chromium.
// Grafana itself is not packaged by Debian, so the picture is Prometheus's own graph of the same expressions.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const seconds = Number(process.argv[2] ?? 90);
const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'reqforge-dashboard-'));
const children = [];

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function run(command, args, ready) {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let seen = '';
  const onData = (chunk) => {
    seen += chunk;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const deadline = Date.now() + 15_000;
  while (!ready(seen)) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`${command} did not start:\n${seen}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

const panels = JSON.parse(readFileSync(join(root, 'deploy/grafana/reqforge-dashboard.json'), 'utf8')).panels;
const queryOf = (title) => {
  const panel = panels.find((p) => p.title.startsWith(title));
  if (!panel) throw new Error(`no panel "${title}"`);
  return panel.targets[0].expr.replace(/\$__(rate_interval|interval|range)\b/g, '1m').replace(/\$\w+/g, '.+');
};

try {
  const [healthy, failing, gatewayPort, promPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const bin = join(root, 'bin/reqforge.js');
  await run(process.execPath, [bin, 'sandbox', '--port', String(healthy), '--latency', '15'], (s) =>
    s.includes('sandbox on'),
  );
  await run(
    process.execPath,
    [bin, 'sandbox', '--port', String(failing), '--error-rate', '0.4', '--status', '503', '--seed', '7'],
    (s) => s.includes('sandbox on'),
  );
  const config = join(dir, 'reqforge.yaml');
  writeFileSync(
    config,
    `listen: { host: 127.0.0.1, port: ${gatewayPort} }
upstreams:
  pets:
    baseUrl: http://127.0.0.1:${healthy}/api
    auth: { type: oauth2, tokenUrl: http://127.0.0.1:${healthy}/oauth/token, clientId: demo, clientSecret: demo-secret }
  flaky:
    baseUrl: http://127.0.0.1:${failing}/api
`,
  );
  await run(process.execPath, [bin, 'gateway', '-c', config, '--log-level', 'warn'], (s) =>
    s.includes('listening'),
  );
  const promConfig = join(dir, 'prometheus.yml');
  writeFileSync(
    promConfig,
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: reqforge-gateway
    static_configs: [{ targets: ['127.0.0.1:${gatewayPort}'] }]
`,
  );
  await run(
    '/usr/bin/prometheus',
    [
      `--config.file=${promConfig}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    (s) => s.includes('Server is ready'),
  );

  // Traffic: 8 workers for `seconds`, three quarters to the healthy upstream.
  const until = Date.now() + seconds * 1000;
  let sent = 0;
  const worker = async (i) => {
    while (Date.now() < until) {
      const path = i % 4 === 3 ? '/flaky/pets' : '/pets/pets';
      const response = await fetch(`http://127.0.0.1:${gatewayPort}${path}`).catch(() => undefined);
      await response?.arrayBuffer();
      sent++;
      // Paced like a real client (a refused call comes back at once and would otherwise spin).
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, i) => worker(i)));
  await new Promise((r) => setTimeout(r, 3000));

  const queries = [
    queryOf('Calls per second'),
    queryOf('Error ratio'),
    queryOf('Latency p50'),
    queryOf('Gateway: requests'),
  ];
  const params = queries
    .map((q, i) => `g${i}.expr=${encodeURIComponent(q)}&g${i}.tab=0&g${i}.range_input=${seconds + 10}s`)
    .join('&');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 3100 } });
  await page.goto(`http://127.0.0.1:${promPort}/classic/graph?${params}`);
  await page.waitForTimeout(4000);
  const out = join(root, 'docs/images/dashboard-queries.png');
  await page.screenshot({ path: out });
  await browser.close();
  console.log(
    `${sent} requests through the gateway; ${queries.length} dashboard queries graphed into ${out}`,
  );
} finally {
  for (const child of children.reverse()) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
  rmSync(dir, { recursive: true, force: true });
}
