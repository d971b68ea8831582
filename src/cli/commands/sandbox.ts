/**
 * `reqforge sandbox`: the sandbox API (under `/api`) and OAuth2 server (under `/oauth`) on one loopback port, and
 * {@link startCombinedSandbox} that runs them.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { createOAuthSandbox } from '../../sandbox/oauth.js';
import { createUpstreamHandler, type SandboxFaults } from '../../sandbox/upstream.js';
import { type CliIo, EXIT, portNumber, ratio } from '../io.js';

interface SandboxFlags {
  readonly port: number;
  readonly host: string;
  readonly seed: number;
  readonly errorRate?: number;
  readonly status: number;
  readonly latency?: number;
}

/** Adds `sandbox` to the CLI; `setCode` receives the exit code. */
export function registerSandbox(cmd: Command, io: CliIo, setCode: (code: number) => void): void {
  cmd
    .command('sandbox')
    .description('run the local sandbox: fault-injecting API under /api and an OAuth2 server under /oauth')
    .option('-p, --port <port>', 'listen port', (v) => portNumber(v), 8790)
    .option('--host <host>', 'listen address (keep it on loopback)', '127.0.0.1')
    .option('--seed <n>', 'seed of the fault generator', (v) => Number(v), 1)
    .option('--error-rate <ratio>', 'share of API requests answered with --status', (v) => ratio(v))
    .option('--status <code>', 'status of injected errors', (v) => Number(v), 503)
    .option('--latency <ms>', 'delay added to every API answer', (v) => Number(v))
    .action(async (opts: SandboxFlags) => {
      const sandbox = await startCombinedSandbox({
        port: opts.port,
        host: opts.host,
        seed: opts.seed,
        faults: {
          ...(opts.errorRate !== undefined && { errorRate: opts.errorRate, status: opts.status }),
          ...(opts.latency !== undefined && { latencyMs: opts.latency }),
        },
      });
      io.stdout.write(
        `reqforge sandbox on ${sandbox.url}\n  API:   ${sandbox.url}/api/pets\n  OAuth: ${sandbox.url}/oauth/token (client "demo", secret "demo-secret"; sandbox only)\n`,
      );
      await io.stopSignal();
      await sandbox.close();
      setCode(EXIT.ok);
    });
}

/** A running combined sandbox (API under `/api`, OAuth2 under `/oauth`, stats under `/_sandbox`). */
export interface CombinedSandbox {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the sandbox API and the sandbox OAuth2 server on one loopback port. */
export async function startCombinedSandbox(
  options: {
    readonly port?: number;
    readonly host?: string;
    readonly seed?: number;
    readonly faults?: SandboxFaults;
  } = {},
): Promise<CombinedSandbox> {
  const api = createUpstreamHandler({
    seed: options.seed ?? 1,
    ...(options.faults && { faults: options.faults }),
  });
  const oauth = createOAuthSandbox();
  const server = createServer((req, res) => {
    if (!api(req, res)) oauth.handle(req, res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => ok());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((done) => {
        api.releaseHanging();
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
