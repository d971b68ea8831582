/** `reqforge check`: validates a configuration file with every check the gateway's start runs, short of connecting. */
import type { Command } from 'commander';
import { isInvalidOptionError } from '../../core/errors.js';
import { ConfigError, loadGatewayConfig } from '../../gateway/config.js';
import { upstreamClientOptions } from '../../gateway/upstreams.js';
import { loadWiring } from '../../gateway/wiring.js';
import { type CliIo, configPath, EXIT } from '../io.js';

/** Adds `check` to the CLI; `setCode` receives the exit code. */
export function registerCheck(cmd: Command, io: CliIo, setCode: (code: number) => void): void {
  cmd
    .command('check')
    .description('validate a configuration file with every check start runs, short of connecting')
    .option('-c, --config <file>', 'configuration file')
    .action(async (opts: { config?: string }) => {
      const file = configPath(opts.config, io);
      // The same loading as `gateway` (schema, interpolation, store URLs and keys, headers), then the upstreams'
      // clients built as start builds them, reported as start reports them.
      const config = await loadGatewayConfig(file, { env: io.env });
      const wiring = await loadWiring();
      for (const [name, upstream] of Object.entries(config.upstreams)) {
        try {
          const built = upstreamClientOptions(name, upstream, wiring);
          await built.auth?.close?.();
        } catch (error) {
          if (isInvalidOptionError(error)) {
            throw new ConfigError(
              [{ path: `upstreams.${name}.${error.option}`, message: error.message }],
              file,
            );
          }
          throw error;
        }
      }
      const names = Object.keys(config.upstreams);
      io.stdout.write(
        `✓ ${file} is valid: ${names.length} upstream(s) (${names.join(', ')}), listening on ${config.listen.host}:${config.listen.port}\n`,
      );
      setCode(EXIT.ok);
    });
}
