import type { AbortState } from './context.js';
import { AbortError, type ErrorCode, isReqforgeError, NetworkError, type ReqforgeError } from './errors.js';
import type { HttpRequest } from './request.js';

const BY_CODE: Record<string, [ErrorCode, string]> = {
  ECONNREFUSED: ['ERR_CONNECTION_REFUSED', 'Connection refused'],
  ECONNRESET: ['ERR_CONNECTION_RESET', 'Connection reset by peer'],
  EPIPE: ['ERR_CONNECTION_RESET', 'Connection closed while sending'],
  ENOTFOUND: ['ERR_DNS', 'Host name could not be resolved'],
  EAI_AGAIN: ['ERR_DNS', 'Temporary DNS failure'],
  EAI_FAIL: ['ERR_DNS', 'DNS lookup failed'],
  ETIMEDOUT: ['ERR_CONNECT_TIMEOUT', 'Connection timed out'],
  ENETUNREACH: ['ERR_NETWORK', 'Network unreachable'],
  EHOSTUNREACH: ['ERR_NETWORK', 'Host unreachable'],
  UND_ERR_CONNECT_TIMEOUT: ['ERR_CONNECT_TIMEOUT', 'Connection timed out'],
  UND_ERR_HEADERS_TIMEOUT: ['ERR_HEADERS_TIMEOUT', 'Timed out waiting for response headers'],
  UND_ERR_BODY_TIMEOUT: ['ERR_BODY_TIMEOUT', 'Timed out waiting for response body data'],
  UND_ERR_SOCKET: ['ERR_SOCKET', 'Socket closed unexpectedly'],
  UND_ERR_CLOSED: ['ERR_SOCKET', 'Connection closed'],
  UND_ERR_DESTROYED: ['ERR_SOCKET', 'Connection destroyed'],
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: ['ERR_SOCKET', 'Response body shorter than its Content-Length'],
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: ['ERR_SOCKET', 'Request body length differs from its Content-Length'],
  HPE_INVALID_CONSTANT: ['ERR_NETWORK', 'Malformed HTTP response'],
};

function codeOf(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code in BY_CODE || isTlsCode(code))) return code;
    e = (e as { cause?: unknown }).cause;
  }
  const top = (error as { code?: unknown } | null)?.code;
  return typeof top === 'string' ? top : undefined;
}

function isTlsCode(code: string): boolean {
  return (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.startsWith('CERT_') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' ||
    code === 'ERR_SSL_WRONG_VERSION_NUMBER'
  );
}

/**
 * Turns anything a transport throws into a {@link ReqforgeError}: reqforge errors pass through,
 * aborts become {@link AbortError} (or the {@link TimeoutError} that caused them), and socket,
 * DNS and TLS failures become {@link NetworkError}s with stable codes.
 */
export function toReqforgeError(error: unknown, request: HttpRequest, signal?: AbortState): ReqforgeError {
  if (isReqforgeError(error)) return error;
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    if (isReqforgeError(reason)) return reason;
    return new AbortError({ cause: reason, request });
  }
  const name = (error as { name?: unknown } | null)?.name;
  const code = codeOf(error);
  if (name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return new AbortError({ cause: error, request });
  }
  if (code !== undefined) {
    const known = BY_CODE[code];
    if (known)
      return new NetworkError(`${known[1]} (${request.host})`, known[0], {
        cause: error,
        request,
        sourceCode: code,
      });
    if (isTlsCode(code)) {
      return new NetworkError(`TLS failure talking to ${request.host}: ${code}`, 'ERR_TLS', {
        cause: error,
        request,
        sourceCode: code,
      });
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return new NetworkError(`Request to ${request.host} failed: ${message}`, 'ERR_NETWORK', {
    cause: error,
    request,
    sourceCode: code,
  });
}
