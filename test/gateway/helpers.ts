import { connect } from 'node:net';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, type GatewayOptions, startGateway } from '../../src/gateway/server.js';
import { MINIMAL_WIRING } from '../../src/gateway/wiring.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';

export interface Rig {
  sandbox: SandboxUpstream;
  gateway: Gateway;
  close(): Promise<void>;
}

/** A sandbox upstream and a gateway in front of it (upstream `pets` → `${sandbox}/api`), on port 0. */
export async function startRig(
  extra: Record<string, unknown> = {},
  upstream: Record<string, unknown> = {},
  options: Partial<GatewayOptions> = {},
): Promise<Rig> {
  const sandbox = await startSandboxUpstream({ seed: 3 });
  const config = parseGatewayConfig({
    metrics: { defaultMetrics: false },
    ...extra,
    upstreams: {
      pets: { baseUrl: `${sandbox.url}/api`, retry: false, circuitBreaker: false, ...upstream },
    },
  });
  const gateway = await startGateway({ config, port: 0, wiring: MINIMAL_WIRING, ...options });
  return {
    sandbox,
    gateway,
    async close() {
      await gateway.close({ grace: 100 });
      await sandbox.close();
    },
  };
}

/** Sends raw bytes and returns the raw answer (for request targets no client library will send). */
export function raw(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      out += d;
    });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve(out);
    });
  });
}
