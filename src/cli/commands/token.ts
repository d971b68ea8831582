/** `reqforge token`: an OAuth2 upstream's token facts (expiry, scope, fingerprint; never the token). */
import type { Command } from 'commander';
import { upstreamClientOptions } from '../../gateway/upstreams.js';
import { loadWiring } from '../../gateway/wiring.js';
import { type CliIo, EXIT, loadConfig, UsageError, upstreamNamed } from '../io.js';

/** Adds `token` to the CLI; `setCode` receives the exit code. */
export function registerToken(cmd: Command, io: CliIo, setCode: (code: number) => void): void {
  cmd
    .command('token')
    .description("show an OAuth2 upstream's token facts (expiry, scope, fingerprint; never the token)")
    .argument('<upstream>', 'upstream name from the configuration')
    .option('-c, --config <file>', 'configuration file')
    .option('--refresh', 'drop the cached token and fetch a new one')
    .action(async (upstream: string, opts: { config?: string; refresh?: boolean }) => {
      const config = await loadConfig(opts.config, io);
      const upstreamConfig = upstreamNamed(config, upstream);
      if (upstreamConfig.auth?.type !== 'oauth2') {
        throw new UsageError(
          `Upstream "${upstream}" does not use OAuth2 (auth.type is ${upstreamConfig.auth?.type ?? 'not set'})`,
        );
      }
      const wiring = await loadWiring();
      const built = upstreamClientOptions(upstream, upstreamConfig, wiring);
      try {
        const facts = await built.auth?.refresh?.();
        io.stdout.write(
          `${JSON.stringify({ upstream, refreshed: opts.refresh === true, tokens: facts }, null, 2)}\n`,
        );
        setCode(EXIT.ok);
      } finally {
        await built.auth?.close?.();
      }
    });
}
