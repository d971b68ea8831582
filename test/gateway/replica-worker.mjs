// A child process of replicas.test.ts: one gateway replica, sharing nothing in memory with its siblings.
// It loads the compiled reqforge gateway (test/helpers/compile.ts) and takes orders over IPC:
//   { type: 'start', config }  → parses the config, starts the gateway on port 0, answers { type: 'listening', url }
//   { type: 'exit' }           → closes the gateway and leaves
// Anything that goes wrong is answered with { type: 'error', message }. Secrets come over IPC, never argv.

const gatewayUrl = process.argv[2];
if (!gatewayUrl || !process.send) {
  console.error(
    'usage: fork replica-worker.mjs <file: URL of the compiled gateway/index.js> (with an IPC channel)',
  );
  process.exit(2);
}
const { parseGatewayConfig, startGateway } = await import(gatewayUrl);

let gateway;

const send = (message) => process.send(message);
const describe = (error) => `${error?.code ?? error?.name ?? 'Error'}: ${error?.message ?? String(error)}`;

async function stop() {
  try {
    await gateway?.close({ grace: 0 });
  } finally {
    process.exit(0);
  }
}

process.on('message', async (message) => {
  try {
    if (message?.type === 'start') {
      const config = parseGatewayConfig(message.config, { env: {} });
      gateway = await startGateway({ config, port: 0 });
      send({ type: 'listening', url: gateway.url, pid: process.pid });
    } else if (message?.type === 'exit') {
      await stop();
    } else {
      send({ type: 'error', message: `unknown order ${JSON.stringify(message)}` });
    }
  } catch (error) {
    send({ type: 'error', message: describe(error) });
  }
});
// The test process went away (crash, kill): do not linger as an orphan.
process.on('disconnect', () => void stop());
send({ type: 'loaded' });
