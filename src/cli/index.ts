/**
 * The `reqforge` command: run the gateway or the sandbox, call an upstream, inspect a token, check a config.
 * @packageDocumentation
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createClient } from '../client/client.js';
import { isHttpError, isInvalidOptionError, isReqforgeError } from '../core/errors.js';
import { ConfigError, type GatewayConfig, isConfigError, loadGatewayConfig } from '../gateway/config.js';
import { createGatewayLogger } from '../gateway/logger.js';
import { startGateway } from '../gateway/server.js';
import { upstreamClientOptions } from '../gateway/upstreams.js';
import { loadWiring } from '../gateway/wiring.js';
import type { LogLevel } from '../observability/logging.js';
import { createOAuthSandbox } from '../sandbox/oauth.js';
import { createUpstreamHandler, type SandboxFaults } from '../sandbox/upstream.js';
import { VERSION } from '../version.js';
import { registerGenerate } from './generate.js';

/** Where the CLI writes and what it knows about its terminal; tests pass their own. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Resolves when the process is asked to stop (SIGTERM or SIGINT). */
  readonly stopSignal: () => Promise<string>;
  /** Standard input, for `-d -`. */
  readonly stdin?: () => Promise<string>;
}

/** Exit codes of `reqforge`. */
export const EXIT = {
  /** Success (a 2xx answer for `call`). */
  ok: 0,
  /** `call` got a 4xx answer (or a 3xx: redirects are not followed). */
  clientError: 4,
  /** `call` got a 5xx answer, after the upstream's retries. */
  serverError: 5,
  /** No answer: network error, timeout, open circuit, rate limit refusal, or a failed token fetch (`token`). */
  failed: 3,
  /** A usage or configuration mistake. */
  usage: 2,
  /** An unexpected error. */
  internal: 1,
} as const;

class UsageError extends Error {}

const CONFIG_CANDIDATES = ['reqforge.yaml', 'reqforge.yml', 'gateway.yaml', 'gateway.yml', 'reqforge.json'];

function configPath(given: string | undefined, io: CliIo): string {
  if (given) return resolve(io.cwd, given);
  if (io.env.REQFORGE_CONFIG) return resolve(io.cwd, io.env.REQFORGE_CONFIG);
  for (const name of CONFIG_CANDIDATES) {
    const path = resolve(io.cwd, name);
    if (existsSync(path)) return path;
  }
  throw new UsageError(
    `No configuration file found (looked for ${CONFIG_CANDIDATES.join(', ')}); pass --config <file> or set REQFORGE_CONFIG`,
  );
}

function explainConfigError(error: ConfigError, io: CliIo): void {
  io.stderr.write(
    `✗ ${error.file ? `${error.file}: ` : ''}the configuration has ${error.issues.length} problem(s):\n`,
  );
  for (const issue of error.issues) io.stderr.write(`  ${issue.path || '(root)'}: ${issue.message}\n`);
}

async function loadConfig(file: string | undefined, io: CliIo): Promise<GatewayConfig> {
  return loadGatewayConfig(configPath(file, io), { env: io.env });
}

function parseHeaders(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const colon = item.indexOf(':');
    if (colon <= 0) throw new UsageError(`Header "${item.slice(0, 40)}" must look like "Name: value"`);
    out[item.slice(0, colon).trim().toLowerCase()] = item.slice(colon + 1).trim();
  }
  return out;
}

async function readBody(data: string | undefined, io: CliIo): Promise<string | undefined> {
  if (data === undefined) return undefined;
  if (data === '-') {
    if (!io.stdin) throw new UsageError('Reading the body from stdin is not available here');
    return io.stdin();
  }
  if (data.startsWith('@')) {
    const path = resolve(io.cwd, data.slice(1));
    try {
      return readFileSync(path, 'utf8');
    } catch {
      throw new UsageError(`Cannot read the body file ${path}`);
    }
  }
  return data;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

function logLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return value as LogLevel;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Builds the commander program. Actions report their exit code through `setCode`. */
function program(io: CliIo, setCode: (code: number) => void): Command {
  const cmd = new Command('reqforge')
    .description('Resilient, authenticated, observable HTTP: gateway, sandbox and tools')
    .version(VERSION, '-v, --version', 'print the version')
    .showHelpAfterError('(run reqforge --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();

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
    .action(async (opts: { config?: string; port?: number; host?: string; logLevel?: LogLevel }) => {
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

  cmd
    .command('sandbox')
    .description('run the local sandbox: fault-injecting API under /api and an OAuth2 server under /oauth')
    .option('-p, --port <port>', 'listen port', (v) => portNumber(v), 8790)
    .option('--host <host>', 'listen address (keep it on loopback)', '127.0.0.1')
    .option('--seed <n>', 'seed of the fault generator', (v) => Number(v), 1)
    .option('--error-rate <ratio>', 'share of API requests answered with --status', (v) => ratio(v))
    .option('--status <code>', 'status of injected errors', (v) => Number(v), 503)
    .option('--latency <ms>', 'delay added to every API answer', (v) => Number(v))
    .action(
      async (opts: {
        port: number;
        host: string;
        seed: number;
        errorRate?: number;
        status: number;
        latency?: number;
      }) => {
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
      },
    );

  cmd
    .command('call')
    .description('call an upstream through its configured client (auth, policies, timeouts)')
    .argument('<upstream>', 'upstream name from the configuration')
    .argument('<method>', 'HTTP method, such as GET')
    .argument('<path>', 'path below the upstream base URL, such as /pets?limit=2')
    .option('-c, --config <file>', 'configuration file')
    .option('-d, --data <body>', 'request body; @file reads a file, - reads stdin')
    .option('-H, --header <header>', 'extra header "Name: value" (repeatable)', collect, [])
    .option('-i, --include', 'print the status line and response headers')
    .addOption(new Option('--pretty', 'pretty-print JSON (default on a terminal)'))
    .action(
      async (
        upstream: string,
        method: string,
        path: string,
        opts: { config?: string; data?: string; header: string[]; include?: boolean; pretty?: boolean },
      ) => {
        const config = await loadConfig(opts.config, io);
        const upstreamConfig = config.upstreams[upstream];
        if (!upstreamConfig) {
          throw new UsageError(
            `Unknown upstream "${upstream}"; configured: ${Object.keys(config.upstreams).join(', ') || 'none'}`,
          );
        }
        if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`"${method}" is not an HTTP method`);
        const headers = parseHeaders(opts.header);
        const body = await readBody(opts.data, io);
        if (body !== undefined && headers['content-type'] === undefined) {
          headers['content-type'] = looksLikeJson(body) ? 'application/json' : 'text/plain;charset=utf-8';
        }
        const wiring = await loadWiring();
        const built = upstreamClientOptions(upstream, upstreamConfig, wiring);
        const client = createClient(built.options);
        try {
          const response = await client.request(method, path.startsWith('/') ? path : `/${path}`, {
            headers,
            ...(body !== undefined && { body }),
          });
          const text = await response.text();
          if (opts.include) {
            io.stdout.write(`HTTP ${response.status}\n`);
            for (const [k, v] of Object.entries(response.headers)) io.stdout.write(`${k}: ${String(v)}\n`);
            io.stdout.write('\n');
          }
          const pretty = opts.pretty ?? io.stdout.isTTY === true;
          const type = response.header('content-type') ?? '';
          if (pretty && /json/i.test(type) && text.length > 0) {
            try {
              io.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
            } catch {
              io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
            }
          } else if (text.length > 0) {
            io.stdout.write(text.endsWith('\n') || !pretty ? text : `${text}\n`);
          }
          if (!response.ok) io.stderr.write(`✗ HTTP ${response.status} from ${upstream}\n`);
          setCode(response.ok ? EXIT.ok : response.status >= 500 ? EXIT.serverError : EXIT.clientError);
        } finally {
          await built.auth?.close?.();
          await client.close();
        }
      },
    );

  cmd
    .command('token')
    .description("show an OAuth2 upstream's token facts (expiry, scope, fingerprint; never the token)")
    .argument('<upstream>', 'upstream name from the configuration')
    .option('-c, --config <file>', 'configuration file')
    .option('--refresh', 'drop the cached token and fetch a new one')
    .action(async (upstream: string, opts: { config?: string; refresh?: boolean }) => {
      const config = await loadConfig(opts.config, io);
      const upstreamConfig = config.upstreams[upstream];
      if (!upstreamConfig) throw new UsageError(`Unknown upstream "${upstream}"`);
      if (upstreamConfig.auth?.type !== 'oauth2') {
        throw new UsageError(
          `Upstream "${upstream}" does not use OAuth2 (auth.type is ${upstreamConfig.auth?.type ?? 'not set'})`,
        );
      }
      const wiring = await loadWiring();
      const built = upstreamClientOptions(upstream, upstreamConfig, wiring);
      try {
        const facts = (await built.auth?.refresh?.())?.tokens;
        io.stdout.write(
          `${JSON.stringify({ upstream, refreshed: opts.refresh === true, tokens: facts }, null, 2)}\n`,
        );
        setCode(EXIT.ok);
      } finally {
        await built.auth?.close?.();
      }
    });

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

  registerGenerate(cmd, io, setCode);
  return cmd;
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`"${value}" is not a port number (0-65535)`);
  return n;
}

function ratio(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new UsageError(`"${value}" is not a ratio between 0 and 1`);
  return n;
}

/** A message on one line of stderr, as every outcome of `call` and `token` reports itself. */
function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

function looksLikeJson(text: string): boolean {
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return false;
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
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

function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stopSignal: () =>
      new Promise((done) => {
        const on = (signal: string) => {
          process.off('SIGTERM', on);
          process.off('SIGINT', on);
          done(signal);
        };
        process.once('SIGTERM', on);
        process.once('SIGINT', on);
      }),
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/**
 * Runs the CLI with `argv` (as in `process.argv`) and returns the exit code. User mistakes print one
 * helpful message and no stack trace; set `REQFORGE_DEBUG=1` to see stacks of unexpected errors.
 */
export async function run(argv: readonly string[] = process.argv, io: CliIo = defaultIo()): Promise<number> {
  let code: number = EXIT.ok;
  const cmd = program(io, (c) => {
    code = c;
  });
  try {
    await cmd.parseAsync([...argv]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      if (error.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (isConfigError(error)) {
      explainConfigError(error, io);
      return EXIT.usage;
    }
    if (error instanceof UsageError || isInvalidOptionError(error)) {
      io.stderr.write(`✗ ${oneLine((error as Error).message)}\n`);
      return EXIT.usage;
    }
    if (isReqforgeError(error)) {
      io.stderr.write(`✗ ${error.code}: ${oneLine(error.message)}\n`);
      return isHttpError(error) ? (error.status >= 500 ? EXIT.serverError : EXIT.clientError) : EXIT.failed;
    }
    const message = oneLine((error as Error)?.message ?? String(error));
    if (io.env.REQFORGE_DEBUG) io.stderr.write(`✗ ${message}\n${(error as Error)?.stack ?? ''}\n`);
    else io.stderr.write(`✗ ${message} (set REQFORGE_DEBUG=1 for details)\n`);
    return EXIT.internal;
  }
}
