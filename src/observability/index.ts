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
  type InstrumentOptions,
  loadPromClient,
  type Metrics,
  type MetricsOptions,
  methodLabel,
  metricsText,
  type ObservedEvents,
  outcomeOf,
  type SnapshotSource,
  type StoreOperationSource,
} from './metrics.js';
export { type MetricsHandlerOptions, metricsHandler } from './metrics-handler.js';
export {
  type CgroupReading,
  readCgroup,
  registerSystemMetrics,
  type SystemMetricsOptions,
} from './system-metrics.js';
