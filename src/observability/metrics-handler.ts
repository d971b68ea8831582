/**
 * Serves reqforge's metrics from your own `node:http` (or Express, Fastify raw) server: `GET /metrics` for every
 * series, `GET /metrics/<prefix>` for the series whose names start with the prefix.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from './metrics.js';

/** Options of {@link metricsHandler}. */
export interface MetricsHandlerOptions {
  /** The path it answers. @default '/metrics' */
  readonly path?: string;
}

/**
 * A request handler that answers the metrics path and returns `true`, or leaves the request alone and returns
 * `false` (so it chains with your own routes).
 *
 * @example
 * const serveMetrics = metricsHandler(metrics);
 * createServer(async (req, res) => {
 *   if (await serveMetrics(req, res)) return;
 *   // … your routes
 * });
 */
export function metricsHandler(
  metrics: Pick<Metrics, 'registry' | 'text'>,
  options: MetricsHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const base = options.path ?? '/metrics';
  return async (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (path !== base && !path.startsWith(`${base}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    const prefix =
      path.length > base.length + 1 ? decodeURIComponent(path.slice(base.length + 1)) : undefined;
    const text = await metrics.text(prefix);
    res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
    return true;
  };
}
