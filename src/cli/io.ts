/**
 * What every `reqforge` command shares: where it writes ({@link CliIo}), its exit codes ({@link EXIT}), the
 * error that means "the user asked for something wrong" and the parsers of its arguments and configuration file.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { type ConfigError, type GatewayConfig, loadGatewayConfig } from '../gateway/config.js';
import type { LogLevel } from '../observability/logging.js';

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

/** Exit codes of `reqforge` (docs/gateway.md, "Command line", lists them per command). */
export const EXIT = {
  /** Success (a 2xx answer for `call`; the stored token's facts for `token`). */
  ok: 0,
  /** `call` got a 4xx answer (or a 3xx: redirects are not followed). */
  clientError: 4,
  /** `call` got a 5xx answer, after the upstream's retries. */
  serverError: 5,
  /**
   * No answer: network error, timeout, open circuit, rate limit refusal; for `token`, a failed token fetch or a
   * configured token store that does not answer.
   */
  failed: 3,
  /** `token` without `--refresh`: the configured store holds no token for the upstream (`--refresh` fetches one). */
  noToken: 6,
  /**
   * `token` without `--refresh` when the configured store is `memory`: each gateway process keeps its own tokens,
   * so there is nothing a CLI could read (the gateway's `/status` page shows them).
   */
  processLocal: 7,
  /** A usage or configuration mistake. */
  usage: 2,
  /** An unexpected error. */
  internal: 1,
} as const;

/** A mistake in how the command was called: printed as one line, exit {@link EXIT.usage}. */
export class UsageError extends Error {}

/**
 * An outcome that is not a failure of the CLI but is not a success either (no stored token, a process-local
 * store): printed as one line on stderr, exit `code`.
 */
export class OutcomeError extends Error {
  constructor(
    message: string,
    /** The exit code. */
    readonly code: number,
  ) {
    super(message);
  }
}

/** A message on one line of stderr, as every outcome of `call` and `token` reports itself. */
export function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** File names tried, in order, when neither `--config` nor `REQFORGE_CONFIG` names one. */
const CONFIG_CANDIDATES = ['reqforge.yaml', 'reqforge.yml', 'gateway.yaml', 'gateway.yml', 'reqforge.json'];

/** The configuration file: `--config`, else `REQFORGE_CONFIG`, else the first candidate in the directory. */
export function configPath(given: string | undefined, io: CliIo): string {
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

/** Loads and checks the configuration as `reqforge gateway` does (schema, `${ENV}` interpolation). */
export async function loadConfig(file: string | undefined, io: CliIo): Promise<GatewayConfig> {
  return loadGatewayConfig(configPath(file, io), { env: io.env });
}

/** Prints each problem of a configuration with its path (never its value). */
export function explainConfigError(error: ConfigError, io: CliIo): void {
  io.stderr.write(
    `✗ ${error.file ? `${error.file}: ` : ''}the configuration has ${error.issues.length} problem(s):\n`,
  );
  for (const issue of error.issues) io.stderr.write(`  ${issue.path || '(root)'}: ${issue.message}\n`);
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** Parses `--log-level`. */
export function logLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return value as LogLevel;
}

/** Collects a repeatable option (`-H a -H b`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses a port number (0-65535). */
export function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`"${value}" is not a port number (0-65535)`);
  return n;
}

/** Parses a ratio between 0 and 1. */
export function ratio(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new UsageError(`"${value}" is not a ratio between 0 and 1`);
  return n;
}

/** The named upstream's configuration, or a usage error listing the configured ones. */
export function upstreamNamed(config: GatewayConfig, name: string): GatewayConfig['upstreams'][string] {
  const upstream = config.upstreams[name];
  if (!upstream) {
    throw new UsageError(
      `Unknown upstream "${name}"; configured: ${Object.keys(config.upstreams).join(', ') || 'none'}`,
    );
  }
  return upstream;
}
