/**
 * The one place the gateway answers with an error: problem documents (RFC 9457), the mapping from library
 * errors to statuses, and the security headers on everything the gateway writes itself, whether through
 * a response object or, for CONNECT and unparseable requests, straight onto the socket.
 */
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ReqforgeError } from '../core/errors.js';

/** An RFC 9457 problem document as the gateway sends it, with the request id as an extension. */
export interface GatewayProblem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  readonly requestId: string;
  readonly [extension: string]: unknown;
}

/** Base of the gateway's problem type URIs; the slug after it names the problem. */
export const PROBLEM_TYPE_BASE = 'urn:reqforge:problem:';

/** Headers every response the gateway writes itself carries. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** How one reqforge error code is shown to the gateway's callers. */
export interface ProblemMapping {
  readonly status: number;
  readonly slug: string;
  readonly title: string;
  /** Seconds for `Retry-After`, when the error says when to come back. */
  readonly retryAfter?: number;
}

const NETWORK = new Set([
  'ERR_CONNECTION_REFUSED',
  'ERR_CONNECTION_RESET',
  'ERR_DNS',
  'ERR_TLS',
  'ERR_CONNECT_TIMEOUT',
  'ERR_SOCKET',
  'ERR_NETWORK',
  'ERR_PARSE',
]);

/**
 * Maps a reqforge error to a status and problem type: timeouts 504, network failures 502, an open
 * circuit 503, a rate limit 429 (with `Retry-After`), token endpoint failures 502, too large bodies 413.
 * Exhausted retries are shown as their last cause.
 */
export function problemFor(error: ReqforgeError): ProblemMapping {
  let e: ReqforgeError = error;
  for (let i = 0; i < 5 && e.code === 'ERR_RETRIES_EXHAUSTED'; i++) {
    const cause = e.cause as ReqforgeError | undefined;
    if (!cause || typeof cause.code !== 'string') break;
    e = cause;
  }
  const code = e.code;
  const retryAfterMs = (e as { retryAfter?: unknown }).retryAfter;
  const retryAfter =
    typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs)
      ? Math.max(1, Math.ceil(retryAfterMs / 1000))
      : undefined;
  const withRetry = (m: ProblemMapping): ProblemMapping =>
    retryAfter === undefined ? m : { ...m, retryAfter };
  if (code === 'ERR_TIMEOUT' || code === 'ERR_HEADERS_TIMEOUT' || code === 'ERR_BODY_TIMEOUT') {
    return { status: 504, slug: 'upstream-timeout', title: 'Upstream timed out' };
  }
  if (code === 'ERR_CIRCUIT_OPEN') {
    return withRetry({ status: 503, slug: 'circuit-open', title: 'Upstream circuit is open' });
  }
  if (code === 'ERR_RATE_LIMITED' || code === 'ERR_DROPPED') {
    return withRetry({ status: 429, slug: 'rate-limited', title: 'Upstream rate limit reached' });
  }
  if (code === 'ERR_LIMITER_STORE_DOWN') {
    // A shared limit with onStoreDown: closed and its Redis down: nothing was sent; come back in a second.
    return {
      status: 503,
      slug: 'rate-limit-unavailable',
      title: 'Shared rate limit unavailable',
      retryAfter: 1,
    };
  }
  if (code === 'ERR_BULKHEAD_REJECTED') {
    // The gateway's bulkhead queues per inbound key: a full queue is this caller's own flood (429); a queue timeout
    // means the upstream is stuck for everyone (503). Either way, come back in a second.
    return (e as { reason?: string }).reason === 'queue-full'
      ? {
          status: 429,
          slug: 'too-many-in-flight',
          title: 'Too many of your requests are waiting for the upstream',
          retryAfter: 1,
        }
      : {
          status: 503,
          slug: 'overloaded',
          title: 'Too many requests in flight to the upstream',
          retryAfter: 1,
        };
  }
  if (code === 'ERR_BODY_TOO_LARGE') {
    return { status: 413, slug: 'body-too-large', title: 'Request body too large' };
  }
  if (
    code.startsWith('ERR_TOKEN') ||
    code.startsWith('ERR_INVALID_GRANT') ||
    code === 'ERR_INVALID_CLIENT' ||
    code === 'ERR_INVALID_SCOPE'
  ) {
    return { status: 502, slug: 'upstream-auth-failed', title: 'Could not obtain a token for the upstream' };
  }
  if (NETWORK.has(code)) {
    return { status: 502, slug: 'upstream-unreachable', title: 'Upstream unreachable' };
  }
  if (code === 'ERR_ABORTED') return { status: 499, slug: 'aborted', title: 'Request aborted' };
  if (code === 'ERR_INVALID_REQUEST') return { status: 400, slug: 'bad-request', title: 'Bad request' };
  return { status: 502, slug: 'bad-gateway', title: 'Bad gateway' };
}

/**
 * The security headers for a gateway: {@link SECURITY_HEADERS}, plus `Strict-Transport-Security` when
 * `hsts` is given (only for gateways reached over TLS, such as behind a TLS-terminating load balancer).
 */
export function securityHeaders(hsts?: string): Readonly<Record<string, string>> {
  return hsts ? Object.freeze({ ...SECURITY_HEADERS, 'strict-transport-security': hsts }) : SECURITY_HEADERS;
}

/** Writes a problem+json response (unless headers were already sent, then the socket is destroyed). */
export function sendProblem(
  res: ServerResponse,
  problem: GatewayProblem,
  headers: Readonly<Record<string, string>> = {},
  security: Readonly<Record<string, string>> = SECURITY_HEADERS,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(problem);
  res.writeHead(problem.status, {
    ...security,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Writes a problem+json response straight onto a socket and closes it: for requests Node's HTTP server
 * hands over without a response object (CONNECT, requests that could not be parsed).
 */
export function writeSocketProblem(
  socket: Duplex,
  problem: GatewayProblem,
  headers: Readonly<Record<string, string>> = {},
  security: Readonly<Record<string, string>> = SECURITY_HEADERS,
): void {
  if (!socket.writable) return;
  const body = JSON.stringify(problem);
  let head = `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\n`;
  const all = {
    ...security,
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
    connection: 'close',
  };
  for (const [name, value] of Object.entries(all)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}\r\n${body}`);
}

/** Builds a {@link GatewayProblem}. */
export function makeProblem(
  status: number,
  slug: string,
  title: string,
  detail: string,
  instance: string,
  requestId: string,
  extensions: Record<string, unknown> = {},
): GatewayProblem {
  return { type: `${PROBLEM_TYPE_BASE}${slug}`, title, status, detail, instance, requestId, ...extensions };
}
