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
const logClientEventsSchema = z.strictObject({ logResponses: z.boolean().optional() });

/**
 * A tiny pino-compatible logger writing one JSON object per line, with pino's numeric `level`,
 * `time` and `msg` fields, for when pino itself is not installed.
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
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
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
}

/**
 * Fields every line carries: each ambient context field set with `runWithContext` (`requestId`, `correlationId`,
 * `userId` …; values that are not strings, numbers or booleans are left out), and the active OpenTelemetry span's
 * `traceId` and `spanId` when tracing is on.
 */
function contextFields(): Record<string, unknown> {
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
  const fields = contextFields();
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
        ...contextFields(),
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
 * `toJSON()`. Returns a function that unsubscribes.
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
  const refused = refusalSampler(logger, 10_000);
  const offs = [
    hub.on('response', ({ request, response, ctx, duration }) => {
      const log = options.logResponses ? logger.info : logger.debug;
      log.call(
        logger,
        {
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
      logger.warn({ ...requestFields(request), attempt, delayMs: Math.round(delay), reason }, 'retrying');
    }),
    hub.on('breaker', ({ key, from, to }) => {
      logger.warn({ ...contextFields(), breaker: key, from, to }, 'circuit breaker changed state');
    }),
    hub.on('rateLimit', ({ key, outcome, wait }) => {
      if (outcome === 'dropped' || outcome === 'raised') refused(key, outcome, wait);
    }),
    hub.on('storeError', ({ store, operation }) => {
      logger.warn(
        { ...contextFields(), store, operation },
        'token store operation failed; continuing without it',
      );
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
          ...contextFields(),
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
  return () => {
    for (const off of offs) off();
  };
}
