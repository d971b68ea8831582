/**
 * Respond, the last stage of a forwarded request: the response-header policy (hop-by-hop headers dropped,
 * the request id added) and the relay of the upstream's status and body to the caller, with backpressure.
 */
import type { ServerResponse } from 'node:http';
import type { HttpResponse } from '../core/response.js';
import { hopByHop } from './headers.js';
import type { UpstreamRuntime } from './upstreams.js';

// Either side failing mid-relay has already torn the other down; there is nobody left to answer.
const ignoreRelayError = (): void => undefined;

const ABSOLUTE = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

/**
 * The caller's view of a `Location` from the upstream: relative ones as they are; an absolute one on the
 * upstream's own origin and under its base path becomes the gateway path (`/<name>/…`); any other absolute one
 * (a foreign origin, or outside the base path) is dropped (undefined), so callers never learn internal addresses.
 */
export function gatewayLocation(location: string, upstream: UpstreamRuntime): string | undefined {
  if (!ABSOLUTE.test(location)) return location;
  let url: URL;
  try {
    url = new URL(location, upstream.origin);
  } catch {
    return undefined;
  }
  if (url.origin !== upstream.origin) return undefined;
  const base = upstream.basePath;
  const path = url.pathname;
  if (base && path !== base && !path.startsWith(`${base}/`)) return undefined;
  return `/${upstream.name}${path.slice(base.length) || '/'}${url.search}${url.hash}`;
}

/**
 * The response-header policy: the upstream's headers minus hop-by-hop ones and the upstream's
 * `responseHeaders.remove` (default `Server`, `X-Powered-By`), `Location` rewritten (see
 * {@link gatewayLocation}), plus the request id and `Connection: close` when `close` (the gateway is draining).
 */
export function responseHeaders(
  response: HttpResponse,
  upstream: UpstreamRuntime,
  requestIdHeader: string,
  requestId: string,
  close: boolean,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const drop = hopByHop(response.headers.connection);
  const remove = upstream.responseRemove;
  const upstreamHeaders = response.headers;
  for (const key in upstreamHeaders) {
    const value = upstreamHeaders[key];
    if (value === undefined || drop.has(key) || remove.has(key)) continue;
    if (key === 'location' && upstream.rewriteLocation) {
      const location = gatewayLocation(Array.isArray(value) ? (value[0] ?? '') : value, upstream);
      if (location !== undefined) out[key] = location;
      continue;
    }
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
export function relay(
  res: ServerResponse,
  method: string,
  response: HttpResponse,
  headers: Record<string, string | string[]>,
): Promise<void> {
  res.writeHead(response.status, headers);
  if (method === 'HEAD' || response.status === 204 || response.status === 304) {
    return response.dump().then(() => {
      res.end();
    });
  }
  // The relay's own promise, not an async frame around it: one fewer promise and turn per request.
  return response.pipeTo(res).catch(ignoreRelayError);
}
