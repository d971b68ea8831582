/**
 * The series reqforge's client metrics update from events, with their names and labels in one place. Label names
 * follow the OpenTelemetry HTTP conventions as exported to Prometheus (`http.request.method` →
 * `http_request_method`, `server.address` → `server_address` …); `upstream` is the client's name (the gateway's
 * upstream). The series updated on every call are plain objects exported at scrape time (see series.ts).
 */
import type { Counter, Histogram, Registry } from 'prom-client';
import { LocalCounter, LocalHistogram } from './series.js';

type PromClient = typeof import('prom-client');

/** Labels of the per-call client series, in the order `series6()`/`series4()` take them. */
export const CLIENT_DURATION_LABELS = [
  'http_request_method',
  'server_address',
  'server_port',
  'http_response_status_code',
  'error_type',
  'upstream',
] as const;

/** Creates the event-fed series of {@link createMetrics}. */
export function defineSeries(prom: PromClient, registers: Registry[], p: string, buckets: readonly number[]) {
  const jobBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  return {
    duration: new LocalHistogram({
      name: `${p}http_client_request_duration_seconds`,
      help: 'Duration of HTTP client calls until response headers, retries included.',
      labelNames: CLIENT_DURATION_LABELS,
      buckets,
      registers,
    }),
    attempts: new LocalCounter({
      name: `${p}http_client_attempts_total`,
      help: 'Attempts sent to the transport, retries included.',
      labelNames: ['http_request_method', 'server_address', 'server_port', 'upstream'],
      registers,
    }),
    retries: new prom.Counter({
      name: `${p}http_client_retries_total`,
      help: 'Retries scheduled, by reason (status code or error code).',
      labelNames: ['server_address', 'server_port', 'upstream', 'reason'],
      registers,
    }) as Counter,
    retryDelay: new prom.Histogram({
      name: `${p}http_client_retry_delay_seconds`,
      help: 'Backoff delays before retries.',
      labelNames: ['server_address', 'server_port', 'upstream'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20],
      registers,
    }) as Histogram,
    breakerTransitions: new prom.Counter({
      name: `${p}reqforge_circuit_breaker_transitions_total`,
      help: 'Circuit breaker state changes.',
      labelNames: ['upstream', 'key', 'from', 'to'],
      registers,
    }) as Counter,
    limiterDecisions: new LocalCounter({
      name: `${p}reqforge_rate_limiter_decisions_total`,
      help: 'Rate limiter decisions: allowed, queued, dropped or raised.',
      labelNames: ['upstream', 'key', 'outcome'],
      registers,
    }),
    limiterWait: new prom.Histogram({
      name: `${p}reqforge_rate_limiter_wait_seconds`,
      help: 'Time calls waited in a rate limiter queue.',
      labelNames: ['upstream', 'key'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }) as Histogram,
    bulkheadWait: new prom.Histogram({
      name: `${p}reqforge_bulkhead_wait_seconds`,
      help: 'Time calls waited for a bulkhead slot (outcome queued), or waited before being refused (rejected).',
      labelNames: ['upstream', 'outcome'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }) as Histogram,
    tokens: new LocalCounter({
      name: `${p}reqforge_token_requests_total`,
      help: 'Token outcomes: served from cache (hit), fetched, refreshed, failed (error), invalidated or expired.',
      labelNames: ['upstream', 'outcome'],
      registers,
    }),
    refreshRuns: new prom.Counter({
      name: `${p}reqforge_token_refresh_runs_total`,
      help: 'Token fetches and refreshes run, by trigger: a call waiting for it, or background (refresh-ahead, timer).',
      labelNames: ['upstream', 'trigger'],
      registers,
    }) as Counter,
    refreshFailures: new prom.Counter({
      name: `${p}reqforge_token_refresh_failures_total`,
      help: 'Token fetches and refreshes that failed, by trigger.',
      labelNames: ['upstream', 'trigger'],
      registers,
    }) as Counter,
    refreshDuration: new prom.Histogram({
      name: `${p}reqforge_token_refresh_duration_seconds`,
      help: 'Duration of token fetches and refreshes (store read, lease and token endpoint), by trigger.',
      labelNames: ['upstream', 'trigger'],
      buckets: jobBuckets,
      registers,
    }) as Histogram,
    budgetExhausted: new prom.Counter({
      name: `${p}reqforge_retry_budget_exhausted_total`,
      help: 'Retries the retry budget refused (the call ended with its last attempt): the upstream is failing widely.',
      labelNames: ['server_address', 'server_port', 'upstream'],
      registers,
    }) as Counter,
    storeOperations: new prom.Counter({
      name: `${p}reqforge_store_operations_total`,
      help: 'Token store operations that reached the store, by operation and outcome (ok or error).',
      labelNames: ['store', 'operation', 'outcome'],
      registers,
    }) as Counter,
    storeDuration: new prom.Histogram({
      name: `${p}reqforge_store_operation_duration_seconds`,
      help: 'Duration of token store operations (timeouts included), by operation.',
      labelNames: ['store', 'operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }) as Histogram,
    storeErrors: new prom.Counter({
      name: `${p}reqforge_store_errors_total`,
      help: 'Token store operations that failed (the call went on without the store).',
      labelNames: ['upstream', 'store', 'operation'],
      registers,
    }) as Counter,
  };
}
