import { z } from 'zod';
import { getContext } from '../core/ambient.js';
import type { EventHub } from '../core/events.js';
import { fn, objectWith, parseOptions } from '../core/options/index.js';
import type { HttpRequest } from '../core/request.js';
import type { ClientEvents } from '../core/types.js';
import type { Instrumentable, ObservedEvents } from './metrics.js';

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

function requestFields(request: HttpRequest): Record<string, unknown> {
  const ambient = getContext();
  const fields: Record<string, unknown> = { request: request.toJSON() };
  const requestId = ambient?.requestId ?? request.header('x-request-id');
  if (requestId !== undefined) fields.requestId = requestId;
  if (ambient?.correlationId !== undefined) fields.correlationId = ambient.correlationId;
  const traceId = ambient?.traceId;
  if (typeof traceId === 'string') fields.traceId = traceId;
  return fields;
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
      logger.warn({ breaker: key, from, to }, 'circuit breaker changed state');
    }),
    hub.on('rateLimit', ({ key, outcome, wait }) => {
      if (outcome === 'dropped' || outcome === 'raised') {
        logger.warn({ limiter: key, outcome, waitMs: Math.round(wait) }, 'rate limit reached');
      }
    }),
    hub.on('storeError', ({ store, operation }) => {
      logger.warn({ store, operation }, 'token store operation failed; continuing without it');
    }),
  ];
  return () => {
    for (const off of offs) off();
  };
}
