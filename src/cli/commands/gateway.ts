/** `reqforge gateway`: runs the gateway in front of the configured upstreams until SIGTERM or SIGINT. */
import type { Command } from 'commander';
import { createGatewayLogger } from '../../gateway/logger.js';
import { startGateway } from '../../gateway/server.js';
import type { LogLevel } from '../../observability/logging.js';
import { type CliIo, EXIT, loadConfig, logLevel, portNumber } from '../io.js';

interface GatewayFlags {
  readonly config?: string;
  readonly port?: number;
  readonly host?: string;
  readonly logLevel?: LogLevel;
}

/** Adds `gateway` to the CLI; `setCode` receives the exit code. */
export function registerGateway(cmd: Command, io: CliIo, setCode: (code: number) => void): void {
  cmd
    .command('gateway')
    .description('run the gateway in front of the configured upstreams')
    .option('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('-p, --port <port>', 'listen port (overrides listen.port)', (v) => portNumber(v))
    .option('--host <host>', 'listen address (overrides listen.host)')
    .option(
      '--log-level <level>',
      'lowest log level written: debug, info, warn, error or silent (overrides logging.level)',
      (v) => logLevel(v),
    )
    .action(async (opts: GatewayFlags) => {
      const config = await loadConfig(opts.config, io);
      // pino, JSON only on stdout; the human lines (listening, draining) go to stderr. The flag wins over the file.
      const logger = createGatewayLogger({
        stream: io.stdout,
        level: opts.logLevel ?? config.logging.level,
      });
      const gateway = await startGateway({
        config,
        logger,
        ...(opts.port !== undefined && { port: opts.port }),
        ...(opts.host !== undefined && { host: opts.host }),
      });
      io.stderr.write(`reqforge gateway listening on ${gateway.url} (status: ${gateway.url}/status)\n`);
      const signal = await io.stopSignal();
      io.stderr.write(`${signal}: draining in-flight requests…\n`);
      await gateway.close();
      setCode(EXIT.ok);
    });
}
