// `npm start`: the sandbox (fault-injecting API + OAuth2 server) and the gateway in front of it,
// configured by examples/gateway.yaml. Needs a build (`npm run build`); stop with Ctrl-C.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => import(new URL(`../dist/${path}`, import.meta.url).href);

let modules;
try {
  modules = await Promise.all([dist('cli/index.js'), dist('gateway/config.js'), dist('gateway/server.js')]);
} catch (error) {
  console.error('reqforge: the build is missing or stale; run `npm run build` first.');
  console.error(`  (${error.message})`);
  process.exit(1);
}
const [{ startCombinedSandbox }, { loadGatewayConfig, isConfigError }, { startGateway }] = modules;

const sandbox = await startCombinedSandbox({ port: Number(process.env.SANDBOX_PORT ?? 0), seed: 1 });
const env = { ...process.env, SANDBOX_URL: sandbox.url };

let config;
try {
  config = await loadGatewayConfig(join(root, 'examples', 'gateway.yaml'), { env });
} catch (error) {
  if (isConfigError(error)) {
    console.error(error.message);
    await sandbox.close();
    process.exit(2);
  }
  throw error;
}

let storeNote = 'memory (tokens live in this process)';
if (config.store.type === 'sqlite') {
  try {
    createRequire(import.meta.url)('better-sqlite3');
    const path = join(root, config.store.path);
    mkdirSync(dirname(path), { recursive: true });
    config = { ...config, store: { ...config.store, path } };
    storeNote = `SQLite at ${path}`;
  } catch {
    config = { ...config, store: { type: 'memory' } };
  }
}

const gateway = await startGateway({ config });
const url = gateway.url;
console.log(`
reqforge is running
  gateway     ${url}
  status      ${url}/status
  metrics     ${url}/metrics
  health      ${url}/health   ready ${url}/ready
  sandbox     ${sandbox.url}   (API under /api, OAuth2 under /oauth; sandbox credentials only)
  token store ${storeNote}

try:
  curl -i ${url}/pets/pets
  curl -i -X POST ${url}/pets/pets -H 'content-type: application/json' -d '{"name":"Kit"}'
  curl -i '${url}/chaos/pets?fault=503'

Ctrl-C drains in-flight requests and stops.
`);

let stopping = false;
const stop = async (signal) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: draining…`);
  await gateway.close();
  await sandbox.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
