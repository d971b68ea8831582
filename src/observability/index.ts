/**
 * reqforge observability: Prometheus metrics (prom-client, loaded lazily) and pino-compatible logging.
 * @packageDocumentation
 */
export {
  createJsonLogger,
  type JsonLoggerOptions,
  type LogClientEventsOptions,
  type LogFn,
  type Logger,
  type LogLevel,
  logClientEvents,
} from './logging.js';
export {
  BREAKER_STATE_VALUES,
  createMetrics,
  DEFAULT_BUCKETS,
  type Instrumentable,
  loadPromClient,
  type Metrics,
  type MetricsOptions,
  methodLabel,
  metricsText,
  type ObservedEvents,
  outcomeOf,
  type SnapshotSource,
} from './metrics.js';
