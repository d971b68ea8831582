import { z } from 'zod';
import { getContext } from '../core/ambient.js';
import type { EventHub } from '../core/events.js';
import { fn, objectWith, parseOptions } from '../core/options/index.js';
import type { HttpRequest } from '../core/request.js';
import type { ClientEvents } from '../core/types.js';
import type { Instrumentable, ObservedEvents } from './metrics.js';
import { loadOtelApi, type OtelApi, tracingLoaded } from './otel.js';

/** One logging method, pino style: `logger.info({ fields }, 'message')`. */
export type LogFn = (fields: Record<string, unknown>, message?: string) => void;

/** The subset of a pino logger reqforge uses; pino, and {@link createJsonLogger}, fit it. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /**
   * pino's level check. The gateway reads it once at start to decide whether per-request lines (debug headers,
   * the access log) are built at all; a logger without it is taken at the configured `logging.level`.
   */
  isLevelEnabled?(level: string): boolean;
}

/** Log levels, quietest last. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

/** Options of {@link createJsonLogger}. */
export interface JsonLoggerOptions {
  /** Where JSON lines go. @default process.stdout */
  readonly stream?: { write(line: string): unknown };
  /** Lowest level written. @default 'info' */
  readonly level?: LogLevel;
  /** Fields added to every line, such as `{ service: 'gateway' }`. */
  readonly base?: Record<string, unknown>;
  /** Clock for the `time` field. @default Date.now */
  readonly now?: () => number;
}

const jsonLoggerSchema = z.strictObject({
  stream: objectWith('a stream with write(line)', ['write']).optional(),
  level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).optional(),
  base: objectWith('an object of fields').optional(),
  now: fn().optional(),
});
const logClientEventsSchema = z.strictObject({
  logResponses: z.boolean().optional(),
  calls: z.boolean().optional(),
  storeErrors: z.boolean().optional(),
  fields: objectWith('an object of fields').optional(),
});

/**
 * A tiny pino-compatible logger writing one JSON object per line, with pino's numeric `level`,
 * `time` and `msg` fields: the library's dependency-free fallback, for services that do not use pino. It has no
 * `redact` setting: what reqforge logs is redacted before it reaches any logger. The gateway and the CLI log
 * through pino itself (`createGatewayLogger` in `reqforge/gateway`); this function stays, supported, for library
 * users (see the CHANGELOG).
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  parseOptions(jsonLoggerSchema, options, 'logger');
  const stream = options.stream ?? process.stdout;
  const min = LEVELS[options.level ?? 'info'];
  const now = options.now ?? Date.now;
  const make =
    (level: Exclude<LogLevel, 'silent'>): LogFn =>
    (fields, message) => {
      if (LEVELS[level] < min) return;
      const line = {
        level: LEVELS[level],
        time: now(),
        ...options.base,
        ...fields,
        ...(message && { msg: message }),
      };
      stream.write(`${safeStringify(line)}\n`);
    };
  return {
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    isLevelEnabled: (level) => (LEVELS[level as LogLevel] ?? 0) >= min,
  };
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return JSON.stringify({ msg: 'unserialisable log line' });
  }
}

/** Options of {@link logClientEvents}. */
export interface LogClientEventsOptions {
  /**
   * Log every successful response at `info` (otherwise `debug`).
   * @default false: a busy client would log a line per call
   */
  readonly logResponses?: boolean;
  /**
   * Lines per call: responses, failures and retries. Without them only the operational lines remain: breaker
   * transitions, rate-limit refusals (sampled), token refresh failures and store errors.
   * @default true
   */
  readonly calls?: boolean;
  /**
   * A line per failed token store operation.
   * @default true (the gateway turns it off: it logs one line per store outage and one per recovery instead)
   */
  readonly storeErrors?: boolean;
  /** Fields added to every line of this client, such as `{ upstream: 'billing' }`. */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * Fields every line carries: each ambient context field set with `runWithContext` (`requestId`, `correlationId`,
 * `userId` …; values that are not strings, numbers or booleans are left out), and the active OpenTelemetry span's
 * `traceId` and `spanId` when tracing is on. The gateway's pino logger adds them to every line as its `mixin`.
 */
export function logContextFields(): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const ambient = getContext();
  if (ambient) {
    for (const [key, value] of Object.entries(ambient)) {
      const kind = typeof value;
      if (kind === 'string' || kind === 'number' || kind === 'boolean') fields[key] = value;
    }
  }
  const span = loadedOtel()?.trace.getActiveSpan()?.spanContext();
  if (span && span.traceId !== '00000000000000000000000000000000') {
    fields.traceId = span.traceId;
    fields.spanId = span.spanId;
  }
  return fields;
}

/** The OpenTelemetry API, only when tracing already loaded it (logging never loads it itself). */
let otel: OtelApi | undefined;
function loadedOtel(): OtelApi | undefined {
  otel ??= tracingLoaded() ? loadOtelApi() : undefined;
  return otel;
}

function requestFields(request: HttpRequest): Record<string, unknown> {
  const fields = logContextFields();
  fields.request = request.toJSON();
  if (fields.requestId === undefined) {
    const requestId = request.header('x-request-id');
    if (requestId !== undefined) fields.requestId = requestId;
  }
  return fields;
}

/** Logs the first refusal per limiter key at once, then at most one line per `every` ms with the count left out. */
function refusalSampler(logger: Logger, every: number) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key: string, outcome: string, wait: number) => {
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < every) {
      seen.suppressed++;
      return;
    }
    if (last.size > 1000) last.clear();
    last.set(key, { at: now, suppressed: 0 });
    logger.warn(
      {
        ...logContextFields(),
        limiter: key,
        outcome,
        waitMs: Math.round(wait),
        ...(seen && { suppressed: seen.suppressed, suppressedForMs: now - seen.at }),
      },
      'rate limit reached (one line per limiter every 10 s at most; reqforge_rate_limiter_decisions_total counts each)',
    );
  };
}

/**
 * Logs a client's events as JSON lines through a pino-compatible logger: failures at `warn`/`error`,
 * retries and breaker changes at `warn`, responses at `debug`. Every line carries the request id and the
 * request as `request.toJSON()` gives it, redacted by the client's Redactor; errors use their redacted
 * `toJSON()`. Returns a function that unsubscribes. One line per breaker transition and per token refresh
 * failure; rate-limit refusals are sampled (one line per limiter every 10 s, with the count left out).
 *
 * @example
 * const stop = logClientEvents(client, createJsonLogger({ level: 'info' }));
 */
export function logClientEvents(
  client: Instrumentable,
  logger: Logger,
  options: LogClientEventsOptions = {},
): () => void {
  parseOptions(logClientEventsSchema, options, 'logClientEvents');
  const hub = client.events as unknown as EventHub<ClientEvents & ObservedEvents>;
  const extra = options.fields ?? {};
  const offs = [...operationalLines(hub, logger, extra, options.storeErrors !== false)];
  if (options.calls !== false) offs.push(...callLines(hub, logger, extra, options.logResponses === true));
  return () => {
    for (const off of offs) off();
  };
}

type Hub = EventHub<ClientEvents & ObservedEvents>;

/** The lines per call: a response (debug, or info with `logResponses`), a failure, a retry. */
function callLines(hub: Hub, logger: Logger, extra: Readonly<Record<string, unknown>>, responses: boolean) {
  return [
    hub.on('response', ({ request, response, ctx, duration }) => {
      const log = responses ? logger.info : logger.debug;
      log.call(
        logger,
        {
          ...extra,
          ...requestFields(request),
          status: response.status,
          durationMs: Math.round(duration),
          attempts: ctx.attempt,
          ...(ctx.tags.service !== undefined && { service: ctx.tags.service }),
        },
        'request completed',
      );
    }),
    hub.on('error', ({ request, error, ctx, duration }) => {
      const status = (error as { status?: unknown }).status;
      const log = typeof status === 'number' && status < 500 ? logger.warn : logger.error;
      log.call(
        logger,
        {
          ...extra,
          ...requestFields(request),
          err: error.toJSON(),
          durationMs: Math.round(duration),
          attempts: ctx.attempt,
          ...(ctx.tags.service !== undefined && { service: ctx.tags.service }),
        },
        'request failed',
      );
    }),
    hub.on('retry', ({ request, attempt, delay, reason }) => {
      logger.warn(
        { ...extra, ...requestFields(request), attempt, delayMs: Math.round(delay), reason },
        'retrying',
      );
    }),
  ];
}

/** The operational lines: breaker transitions, sampled refusals, token refresh failures, store errors. */
function operationalLines(
  hub: Hub,
  logger: Logger,
  extra: Readonly<Record<string, unknown>>,
  storeErrors: boolean,
) {
  const refused = refusalSampler(logger, 10_000);
  const offs = [
    hub.on('breaker', ({ key, from, to }) => {
      logger.warn(
        { ...logContextFields(), ...extra, breaker: key, from, to },
        'circuit breaker changed state',
      );
    }),
    hub.on('rateLimit', ({ key, outcome, wait }) => {
      if (outcome === 'dropped' || outcome === 'raised') refused(key, outcome, wait);
    }),
    hub.on('token', (event) => {
      if (event.kind !== 'failed') return;
      const { error, failures, serving } = event as {
        error?: { code?: unknown; name?: string };
        failures?: number;
        serving?: boolean;
      };
      logger.error(
        {
          ...logContextFields(),
          ...extra,
          provider: event.provider,
          failures,
          serving,
          background: event.background,
          err: typeof error?.code === 'string' ? error.code : error?.name,
        },
        'token refresh failed',
      );
    }),
  ];
  if (storeErrors) {
    offs.push(
      hub.on('storeError', ({ store, operation }) => {
        logger.warn(
          { ...logContextFields(), ...extra, store, operation },
          'token store operation failed; continuing without it',
        );
      }),
    );
  }
  return offs;
}
