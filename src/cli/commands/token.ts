/**
 * `reqforge token`: what the configured token store holds for an OAuth2 upstream (expiry, scope, fingerprint, when
 * it was fetched; never the token), read without fetching; `--refresh` fetches a new one through the store.
 */
import type { Command } from 'commander';
import { upstreamClientOptions } from '../../gateway/upstreams.js';
import { loadWiring, type UpstreamAuth } from '../../gateway/wiring.js';
import { type CliIo, EXIT, loadConfig, OutcomeError, UsageError, upstreamNamed } from '../io.js';
import { describeStore, openCliStore, type StoreDescription, unreachable } from '../store.js';

/** What `token` uses of an OAuth2 upstream's auth (the built-in OAuth2 auth has both). */
type StoreReader = Required<Pick<UpstreamAuth, 'stored' | 'refresh'>>;

interface TokenFlags {
  readonly config?: string;
  readonly refresh?: boolean;
}

/** Adds `token` to the CLI; `setCode` receives the exit code. */
export function registerToken(cmd: Command, io: CliIo, setCode: (code: number) => void): void {
  cmd
    .command('token')
    .description(
      'show what the configured token store holds for an OAuth2 upstream (expiry, scope, fingerprint; never the token)',
    )
    .argument('<upstream>', 'upstream name from the configuration')
    .option('-c, --config <file>', 'configuration file')
    .option('--refresh', 'fetch a new token through the configured store (every replica sharing it gets it)')
    .action(async (upstream: string, opts: TokenFlags) => {
      const config = await loadConfig(opts.config, io);
      const upstreamConfig = upstreamNamed(config, upstream);
      if (upstreamConfig.auth?.type !== 'oauth2') {
        throw new UsageError(
          `Upstream "${upstream}" does not use OAuth2 (auth.type is ${upstreamConfig.auth?.type ?? 'not set'})`,
        );
      }
      const store = describeStore(config);
      if (!store.shared && !opts.refresh) {
        throw new OutcomeError(
          `The token store is "memory": each gateway process keeps its own tokens, so there is nothing for the CLI ` +
            `to read (the gateway's /status page shows them); a shared store (store.type sqlite, redis, …) can be ` +
            `read here, and --refresh fetches a token in this process only, to test the credentials`,
          EXIT.processLocal,
        );
      }
      const wiring = await loadWiring();
      const opened = await openCliStore(config, wiring);
      try {
        if (opened.store?.probe && !(await opened.store.probe())) {
          throw unreachable(store);
        }
        const built = upstreamClientOptions(upstream, upstreamConfig, wiring, { store: opened.store });
        try {
          const auth = built.auth as StoreReader;
          const report: Record<string, unknown> = opts.refresh
            ? await refreshed(upstream, store, auth)
            : { upstream, store, ...(await stored(auth)) };
          io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          if (report.present === false) {
            const why = opened.undecryptable
              ? ' it can use (the stored value does not decrypt with the configured keys)'
              : '';
            throw new OutcomeError(
              `The ${store.type} token store holds no token for "${upstream}"${why}; ` +
                `reqforge token ${upstream} --refresh fetches one`,
              EXIT.noToken,
            );
          }
          setCode(EXIT.ok);
        } finally {
          await built.auth?.close?.();
        }
      } finally {
        await opened.close();
      }
    });
}

/** The stored token's facts: `present`, the key, and `stored` when there is one. */
async function stored(auth: StoreReader) {
  const { key, token } = await auth.stored();
  return { key, present: token !== undefined, ...(token && { stored: token }) };
}

/**
 * `--refresh`: a new token through the store, then what the store holds now and the fingerprint it replaced.
 * With the memory store, the facts of the token fetched in this process.
 */
async function refreshed(upstream: string, store: StoreDescription, auth: StoreReader) {
  if (!store.shared) {
    const result = await auth.refresh();
    return {
      upstream,
      store,
      refreshed: result.refreshed,
      fetched: result.tokens,
      note: 'fetched by this process only: the memory store keeps tokens in each gateway process, which do not see it',
    };
  }
  const before = await auth.stored();
  const result = await auth.refresh();
  const after = await stored(auth);
  return {
    upstream,
    store,
    ...after,
    refreshed: result.refreshed,
    replaced: before.token?.fingerprint ?? null,
  };
}
