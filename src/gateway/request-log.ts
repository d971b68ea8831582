/**
 * The gateway's per-request log lines, both off by default and decided once at start, so a request costs one
 * boolean test when they are off: the access log (`logging.access`, one `info` line per proxied request) and, at
 * `debug`, the headers sent upstream and received back plus request bodies already buffered in memory (the first
 * {@link DEBUG_BODY_BYTES} bytes; streamed bodies are never read for a log line). Everything goes through the
 * upstream's `Redactor`, the one redaction module.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redactor } from '../core/redact.js';
import { redactBody } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { Logger } from '../observability/logging.js';
import type { GatewayConfig } from './config.js';
import type { UpstreamRuntime } from './upstreams.js';

/** Most bytes of a buffered request body a debug line shows. @default 4 KiB: enough for a JSON or form body */
export const DEBUG_BODY_BYTES = 4096;

/** What the access line needs from the request path (set only when the access log is on). */
export interface AccessFacts {
  readonly route: string;
  readonly requestId: string;
  /** Attempts the upstream call made (retries + 1); undefined when nothing was sent upstream. */
  readonly attempts?: number | undefined;
  /** The caller's connection's `bytesWritten` when the request arrived. */
  readonly bytesBefore?: number | undefined;
}

const FORM = /^application\/x-www-form-urlencoded/i;
const TEXTUAL = /json|^text\/|xml|javascript/i;

/** The first {@link DEBUG_BODY_BYTES} of a buffered body, its secret fields redacted, for a debug line. */
export function bodyExcerpt(
  body: Uint8Array,
  contentType: string | undefined,
  redactor: Redactor,
): Record<string, unknown> {
  const out: Record<string, unknown> = { bodyBytes: body.byteLength };
  const type = contentType ?? '';
  if (!FORM.test(type) && !TEXTUAL.test(type)) return out;
  const cut = body.byteLength > DEBUG_BODY_BYTES;
  const text = Buffer.from(
    body.buffer,
    body.byteOffset,
    Math.min(body.byteLength, DEBUG_BODY_BYTES),
  ).toString('utf8');
  out.body = redactBody(text, type, redactor);
  if (cut) out.bodyTruncated = true;
  return out;
}

/** The trace id of an inbound `traceparent` (`00-<trace id>-<span id>-<flags>`), when it has one. */
function traceIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers.traceparent;
  return typeof header === 'string' && header.length >= 55 && header[2] === '-'
    ? header.slice(3, 35)
    : undefined;
}

/** The gateway's access and debug lines for one logger; see the file's comment. */
export class RequestLog {
  /** Whether the access line is written (`logging.access` and `info` enabled). */
  readonly access: boolean;
  /** Whether the debug lines are written. */
  readonly debug: boolean;
  readonly #logger: Logger;
  readonly #upstreams: ReadonlyMap<string, UpstreamRuntime>;

  constructor(logger: Logger, config: GatewayConfig, upstreams: ReadonlyMap<string, UpstreamRuntime>) {
    this.#logger = logger;
    this.#upstreams = upstreams;
    const enabled = (level: string) =>
      logger.isLevelEnabled
        ? logger.isLevelEnabled(level)
        : LEVELS.indexOf(level) >= LEVELS.indexOf(config.logging.level);
    this.access = config.logging.access && enabled('info');
    this.debug = enabled('debug');
  }

  /** The access line of a finished request: one per proxied request, at `info`. */
  accessLine(
    req: IncomingMessage,
    res: ServerResponse,
    facts: AccessFacts,
    start: number,
    traceId: string | undefined,
  ): void {
    const upstream = this.#upstreams.get(facts.route);
    if (!upstream) return;
    const before = facts.bytesBefore;
    const attempts = facts.attempts;
    const trace = traceId ?? traceIdOf(req);
    this.#logger.info(
      {
        requestId: facts.requestId,
        ...(trace !== undefined && { traceId: trace }),
        method: req.method,
        upstream: upstream.name,
        path: upstream.redactor.url(req.url ?? '').slice(0, 1024),
        status: res.statusCode,
        durationMs: Math.round((performance.now() - start) * 10) / 10,
        bytes: before === undefined ? undefined : req.socket.bytesWritten - before,
        retries: attempts === undefined ? 0 : attempts - 1,
      },
      'request',
    );
  }

  /** The debug line of a request about to go upstream: its headers (before auth is added) and buffered body. */
  upstreamRequest(
    requestId: string,
    upstream: UpstreamRuntime,
    method: string,
    target: string,
    headers: Readonly<Record<string, string>>,
    body: unknown,
  ): void {
    const redactor = upstream.redactor;
    this.#logger.debug(
      {
        requestId,
        upstream: upstream.name,
        method,
        path: redactor.url(target).slice(0, 1024),
        requestHeaders: redactor.headers(headers),
        ...(body instanceof Uint8Array
          ? bodyExcerpt(body, headers['content-type'], redactor)
          : body !== undefined && { bodyStreamed: true }),
      },
      'upstream request',
    );
  }

  /** The debug line of an upstream's answer: status, attempts and headers (its body is relayed, never read here). */
  upstreamResponse(requestId: string, upstream: UpstreamRuntime, response: HttpResponse): void {
    this.#logger.debug(
      {
        requestId,
        upstream: upstream.name,
        status: response.status,
        attempts: response.attempts,
        responseHeaders: upstream.redactor.headers(response.headers),
      },
      'upstream response',
    );
  }
}

const LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error', 'silent'];
