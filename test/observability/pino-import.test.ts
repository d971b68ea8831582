// pino is the gateway's and the CLI's logger only: `import … from 'reqforge'` (and 'reqforge/observability') must not
// load it, while the gateway entry does. Checked in a fresh Node process against the compiled build, through
// require.cache (pino is CommonJS, so Node's CommonJS loader records it even when an ES module imports it).
import { describe, expect, it } from 'vitest';
import { runScript } from '../process/run.js';

describe('pino stays out of the library', () => {
  it('is not loaded by the main entry nor by reqforge/observability, and is loaded by the gateway entry', async () => {
    const result = await runScript(`
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const pinoLoaded = () => Object.keys(require.cache).some((path) => /[\\\\/]node_modules[\\\\/]pino[\\\\/]/.test(path));
const lib = await import('$REQFORGE');
const observability = await import('$BUILDobservability/index.js');
console.log(JSON.stringify({ step: 'library', exports: typeof lib.createClient, logger: typeof observability.createJsonLogger, pino: pinoLoaded() }));
const gateway = await import('$BUILDgateway/index.js');
console.log(JSON.stringify({ step: 'gateway', exports: typeof gateway.createGatewayLogger, pino: pinoLoaded() }));
`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(
      result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { step: 'library', exports: 'function', logger: 'function', pino: false },
      { step: 'gateway', exports: 'function', pino: true },
    ]);
  }, 60_000);
});
