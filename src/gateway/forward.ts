/**
 * Forward, the second stage: picks the upstream from the first path segment, applies the request-header
 * policy (hop-by-hop headers, the caller's key, `X-Forwarded-*`, configured headers) and sends the prepared
 * request through the upstream's library client (`client.send`), which runs its policies and auth.
 */
import type { IncomingMessage } from 'node:http';
import type { CallAbort } from '../core/context.js';
import { HttpRequest, IDEMPOTENT_METHODS, type RequestBody } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import type { LimitStream, Refusal } from './admission.js';
import { hopByHop } from './headers.js';
import type { UpstreamRuntime } from './upstreams.js';

/** The upstream a path names, and the rest of the path to send there. */
export interface Route {
  /** The first path segment, decoded. */
  readonly name: string;
  readonly upstream: UpstreamRuntime | undefined;
  /** The path after the upstream's segment (`/` when there is none). */
  readonly rest: string;
}

/** Splits `/<upstream>/<rest>` and looks the upstream up. */
export function selectUpstream(path: string, upstreams: ReadonlyMap<string, UpstreamRuntime>): Route {
  const second = path.indexOf('/', 1);
  const segment = second === -1 ? path.slice(1) : path.slice(1, second);
  let name = segment;
  if (segment.includes('%')) {
    try {
      name = decodeURIComponent(segment);
    } catch {
      // Path safety refused invalid percent-encoding already; keep the raw segment for the 404.
    }
  }
  return { name, upstream: upstreams.get(name), rest: second === -1 ? '/' : path.slice(second) };
}

/** Refuses a method or path (`rest`) the upstream does not expose (`methods:`, `paths:`). */
export function exposed(upstream: UpstreamRuntime, method: string, rest: string): Refusal | undefined {
  const name = upstream.name;
  const methods = upstream.config.methods;
  if (methods && !methods.includes(method as never)) {
    return {
      status: 405,
      slug: 'method-not-allowed',
      title: 'Method not allowed',
      detail: `${method.slice(0, 16)} is not allowed on "${name}"`,
      headers: { allow: methods.join(', ') },
    };
  }
  const patterns = upstream.patterns;
  if (patterns && !patterns.some((re) => re.test(rest))) {
    return {
      status: 403,
      slug: 'path-not-allowed',
      title: 'Path not allowed',
      detail: `This path is not exposed on "${name}"`,
    };
  }
  return undefined;
}

/** What the request-header policy needs besides the request. */
export interface HeaderPolicy {
  readonly requestIdHeader: string;
  /** The inbound API key header, dropped when keys are configured (undefined otherwise). */
  readonly apiKeyHeader: string | undefined;
  /** Keep a trusted proxy's forwarding headers (`trustProxy`); otherwise the gateway writes them itself. */
  readonly trustProxy: boolean;
  /** The `host:port` the gateway listens on (the default `X-Forwarded-Host`). */
  ownHost: string;
}

/** Forwarding headers a caller could forge: only a trusted proxy's are kept. */
const FORWARDING = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
]);

/**
 * The headers sent upstream: the caller's, minus hop-by-hop headers, the inbound API key, the caller's
 * request id (the gateway's goes instead) and, unless `trustProxy`, the caller's `Forwarded`, `X-Real-IP` and
 * `X-Forwarded-*` (the gateway writes `X-Forwarded-For/-Proto/-Host` itself); the upstream's configured
 * headers replace the caller's of the same name.
 */
export function upstreamHeaders(
  req: IncomingMessage,
  upstream: UpstreamRuntime,
  policy: HeaderPolicy,
  requestId: string,
): Record<string, string> {
  const drop = hopByHop(req.headers.connection);
  const { requestIdHeader, apiKeyHeader, trustProxy } = policy;
  const headers: Record<string, string> = {};
  const inbound = req.headers;
  for (const key in inbound) {
    const value = inbound[key];
    if (value === undefined || drop.has(key) || key === requestIdHeader || key === apiKeyHeader) continue;
    if (!trustProxy && FORWARDING.has(key)) continue;
    headers[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  // Configured headers win over the caller's, as auth does: a tenant or version set in config is not the
  // caller's to switch.
  const configured = upstream.headers;
  for (const key in configured) headers[key] = configured[key] as string;
  const remote = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${remote}`
    : remote;
  // Without trustProxy the caller's versions were skipped above: these are the gateway's own.
  headers['x-forwarded-proto'] ??= 'encrypted' in req.socket ? 'https' : 'http';
  headers['x-forwarded-host'] ??= trustProxy && inbound.host ? inbound.host : policy.ownHost;
  // The request id goes out as a header directly: entering AsyncLocalStorage per request would make every
  // promise in the process carry context.
  headers[requestIdHeader] = requestId;
  return headers;
}

/**
 * Whether a request to this upstream may be retried, so its body is worth keeping: the upstream retries, and the
 * method is idempotent or the caller sent an `Idempotency-Key` (or the header named by `retry.idempotencyKey`).
 * A POST without a key is never repeated.
 */
function mayRetry(req: IncomingMessage, method: string, upstream: UpstreamRuntime): boolean {
  const retry = upstream.config.retry;
  if (retry === false || retry?.retries === 0) return false;
  if (IDEMPOTENT_METHODS.has(method) || req.headers['idempotency-key'] !== undefined) return true;
  const named = retry?.idempotencyKey;
  return typeof named === 'string' && req.headers[named.toLowerCase()] !== undefined;
}

/**
 * The body to send: the caller's stream as it is, or, when the request may be retried (see {@link mayRetry}) and
 * its declared `Content-Length` is at most `retryBodySize`, the whole body read into memory so that the retry
 * policy can send it again. Bodies without a declared length, larger ones and non-retryable ones keep
 * streaming (and are not retried). Errors of the stream (over the body limit, the caller gone) are thrown.
 */
export function replayableBody(
  req: IncomingMessage,
  method: string,
  upstream: UpstreamRuntime,
  stream: LimitStream | undefined,
  retryBodySize: number,
): RequestBody | undefined | Promise<Uint8Array> {
  if (!stream) return undefined;
  const declared = req.headers['content-length'];
  if (declared === undefined || Number(declared) > retryBodySize || !mayRetry(req, method, upstream)) {
    return stream;
  }
  return readAll(stream, Number(declared));
}

async function readAll(stream: LimitStream, length: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
}

/**
 * Sends the request to the upstream through its client (policies, auth, pool) and returns its response,
 * whatever its status. `target` is the path after the upstream's segment plus the query string.
 */
export function forward(
  upstream: UpstreamRuntime,
  method: string,
  target: string,
  headers: Record<string, string>,
  body: RequestBody | undefined,
  abort: CallAbort,
): Promise<HttpResponse> {
  const request = new HttpRequest({
    method,
    origin: upstream.origin,
    path: upstream.basePath + target,
    headers,
    body,
    redactor: upstream.redactor,
  });
  return upstream.client.send(request, { signal: abort, throwHttpErrors: false });
}
