/**
 * The gateway's own metrics: request durations by method, route and status, requests in flight, and the
 * requests the gateway refused itself. The upstream clients' metrics come from the library (`instrument`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter, Gauge, Registry } from 'prom-client';
import { methodLabel } from '../observability/http-attributes.js';
import { createMetrics, DEFAULT_BUCKETS, type Metrics } from '../observability/metrics.js';
import { LocalHistogram } from '../observability/series.js';
import type { GatewayConfig } from './config.js';

/** The gateway's metrics, or no-ops when metrics are off. */
export interface GatewayTelemetry {
  /** The library metrics (registry, client instrumentation), undefined when metrics are off. */
  readonly metrics: Metrics | undefined;
  /** Counts a request the gateway refused itself, by problem slug. */
  rejected(reason: string): void;
  /** Records a finished request; `route` is an upstream name or an operations endpoint (bounded). */
  served(req: IncomingMessage, res: ServerResponse, route: string, start: number): void;
}

const OFF: GatewayTelemetry = { metrics: undefined, rejected: () => undefined, served: () => undefined };

/** Creates the gateway's metrics; `inFlight` is read at scrape time. */
export function createTelemetry(config: GatewayConfig, inFlight: () => number): GatewayTelemetry {
  if (!config.metrics.enabled) return OFF;
  const metrics = createMetrics({ prefix: config.metrics.prefix, system: config.metrics.defaultMetrics });
  const prom = metrics.prom;
  const registers: Registry[] = [metrics.registry];
  const p = config.metrics.prefix;
  // Updated per request: a plain-object histogram exported at scrape time, and a gauge read at scrape time.
  const duration = new LocalHistogram({
    name: `${p}http_server_request_duration_seconds`,
    help: 'Duration of requests the gateway served, until the response ended.',
    labelNames: ['http_request_method', 'http_route', 'http_response_status_code'],
    buckets: DEFAULT_BUCKETS,
    registers,
  });
  new prom.Gauge({
    name: `${p}http_server_active_requests`,
    help: 'Requests the gateway is handling right now.',
    registers,
    collect(this: Gauge) {
      this.set(inFlight());
    },
  });
  const rejected: Counter = new prom.Counter({
    name: `${p}reqforge_gateway_rejected_total`,
    help: 'Requests the gateway refused itself, by reason.',
    labelNames: ['reason'],
    registers,
  });
  if (config.metrics.defaultMetrics) prom.collectDefaultMetrics({ register: metrics.registry, prefix: p });
  return {
    metrics,
    rejected: (reason) => rejected.inc({ reason }),
    served(req, res, route, start) {
      const method = methodLabel(req.method ?? '');
      // Routes are upstream names or a fixed set, so the children stay bounded.
      duration.series3(method, route, String(res.statusCode)).observe((performance.now() - start) / 1000);
    },
  };
}
