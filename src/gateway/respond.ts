/**
 * Respond, the last stage of a forwarded request: the response-header policy (hop-by-hop headers dropped,
 * the request id added) and the relay of the upstream's status and body to the caller, with backpressure.
 */
import type { ServerResponse } from 'node:http';
import type { HttpResponse } from '../core/response.js';
import { hopByHop } from './headers.js';

// Either side failing mid-relay has already torn the other down; there is nobody left to answer.
const ignoreRelayError = (): void => undefined;

/**
 * The headers relayed to the caller: the upstream's minus hop-by-hop ones, plus the request id, and
 * `Connection: close` when `close` (the gateway is draining).
 */
export function responseHeaders(
  response: HttpResponse,
  requestIdHeader: string,
  requestId: string,
  close: boolean,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const drop = hopByHop(response.headers.connection);
  const upstreamHeaders = response.headers;
  for (const key in upstreamHeaders) {
    const value = upstreamHeaders[key];
    if (value === undefined || drop.has(key)) continue;
    out[key] = value;
  }
  out[requestIdHeader] = requestId;
  if (close) out.connection = 'close';
  return out;
}

/**
 * Relays the upstream's response: status and headers at once, then the body streamed with backpressure (none
 * for HEAD, 204 and 304). A failing body destroys `res`; a caller who leaves stops the upstream exchange.
 */
export async function relay(
  res: ServerResponse,
  method: string,
  response: HttpResponse,
  headers: Record<string, string | string[]>,
): Promise<void> {
  res.writeHead(response.status, headers);
  if (method === 'HEAD' || response.status === 204 || response.status === 304) {
    await response.dump();
    res.end();
    return;
  }
  await response.pipeTo(res).catch(ignoreRelayError);
}
