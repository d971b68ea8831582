/**
 * The gateway's and the CLI's logger: pino, writing one JSON object per line. Only the gateway and CLI paths import
 * this file, so `import … from 'reqforge'` never loads pino (library users pass any pino-compatible logger).
 */
import { hostname } from 'node:os';
import { pino } from 'pino';
import { DEFAULT_SECRET_HEADERS, DEFAULT_SECRET_PARAMS } from '../core/redact.js';
import { REDACTED } from '../core/secret.js';
import { type Logger, type LogLevel, logContextFields } from '../observability/logging.js';

/** Options of {@link createGatewayLogger}. */
export interface GatewayLoggerOptions {
  /** Lowest level written. @default 'info' */
  readonly level?: LogLevel;
  /** Where JSON lines go. @default process.stdout (synchronous writes: no line is lost on exit) */
  readonly stream?: { write(line: string): unknown };
  /** Fields on every line besides pino's `pid` and `hostname`. @default { service: 'reqforge-gateway' } */
  readonly base?: Readonly<Record<string, unknown>>;
}

/** Where lines carry headers: the debug lines' own, and a request or error's redacted `toJSON()`. */
const HEADER_HOLDERS = [
  'headers',
  'requestHeaders',
  'responseHeaders',
  'request.headers',
  'err.request.headers',
];

/**
 * Field paths pino's `redact` never lets through, as a last net behind the one redaction module (`Redactor`, which
 * every line's request, headers, URLs and bodies already went through): the secret header names of
 * `DEFAULT_SECRET_HEADERS` under each of the objects lines carry headers in, and the secret parameter names of
 * `DEFAULT_SECRET_PARAMS` as top-level fields. `key`, `code` and `sig` are left out of the field paths: lines use them
 * for breaker keys and error codes, and as query or body names they are redacted by the Redactor before a line is
 * built. Explicit paths only: a wildcard path (`*.x`) made pino's redaction cost about 0.5 ms per line (measured).
 */
export function redactPaths(): string[] {
  const paths: string[] = [];
  for (const name of DEFAULT_SECRET_HEADERS) {
    for (const holder of HEADER_HOLDERS) paths.push(`${holder}[${JSON.stringify(name)}]`);
  }
  for (const name of DEFAULT_SECRET_PARAMS) {
    if (name === 'key' || name === 'code' || name === 'sig') continue;
    paths.push(`[${JSON.stringify(name)}]`);
  }
  return paths;
}

/** A pino logger: the {@link Logger} reqforge writes to, plus pino's level check. */
export type GatewayLogger = Logger & { isLevelEnabled(level: string): boolean; readonly level: string };

/**
 * Creates the gateway's pino logger: JSON lines with pino's numeric `level`, `time` (ms since the epoch), `pid`,
 * `hostname` and `msg`, plus `service`, every ambient context field (`runWithContext`) and, with tracing on, the
 * active span's `traceId`/`spanId` (see `logContextFields`). Secret fields are censored by pino's `redact`
 * (see {@link redactPaths}).
 *
 * @example
 * const gateway = await startGateway({ config, logger: createGatewayLogger({ level: config.logging.level }) });
 */
export function createGatewayLogger(options: GatewayLoggerOptions = {}): GatewayLogger {
  const stream = options.stream ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid, hostname: hostname(), ...(options.base ?? { service: 'reqforge-gateway' }) },
      redact: { paths: redactPaths(), censor: REDACTED },
      mixin: logContextFields,
    },
    stream as pino.DestinationStream,
  );
}
