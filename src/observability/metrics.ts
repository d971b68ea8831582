import { createRequire } from 'node:module';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import type { ReqforgeError } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import { objectWith, parseOptions } from '../core/options/index.js';
import type { HttpRequest } from '../core/request.js';
import type { CallContext, ClientEvents, TokenActivity } from '../core/types.js';
import { methodLabel } from './http-methods.js';
import { LocalCounter, LocalHistogram } from './series.js';

export { methodLabel };

type PromClient = typeof import('prom-client');

/**
 * Events emitted by policies and auth that metrics and logs subscribe to, besides the core
 * {@link ClientEvents}. Subscribing to an event nobody emits costs nothing.
 */
export interface ObservedEvents {
  /** A retry was scheduled after `delay` ms. `reason` is a status code or an error code. */
  retry: {
    readonly request: HttpRequest;
    readonly ctx: CallContext;
    readonly attempt: number;
    readonly delay: number;
    readonly reason: string | number;
  };
  /** A circuit breaker changed state. */
  breaker: { readonly key: string; readonly from: string; readonly to: string };
  /** A rate limiter decided on a call; `wait` is the queueing time in ms. */
  rateLimit: {
    readonly key: string;
    readonly outcome: 'allowed' | 'queued' | 'dropped' | 'raised';
    readonly wait: number;
  };
}

/** The `outcome` label of `reqforge_token_requests_total` for each kind of client `token` event. */
export const TOKEN_OUTCOMES: Readonly<Record<TokenActivity['kind'], TokenOutcome>> = Object.freeze({
  cacheHit: 'hit',
  acquired: 'fetch',
  refreshed: 'refresh',
  failed: 'error',
  invalidated: 'invalidated',
  expired: 'expired',
});

/** Values of the `outcome` label of `reqforge_token_requests_total`. */
export type TokenOutcome = 'hit' | 'fetch' | 'refresh' | 'error' | 'invalidated' | 'expired';

/** Anything with reqforge client events: a `Client`, or an `EventHub` holder. */
export interface Instrumentable {
  readonly events: EventHub<ClientEvents>;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Where metrics are registered; a fresh `prom-client` Registry when omitted (never the global one). */
  readonly registry?: Registry;
  /**
   * Prefix added to every metric name, such as `myapp_`.
   * @default ''
   */
  readonly prefix?: string;
  /** The prom-client module, when you want to inject it instead of having it loaded lazily. */
  readonly promClient?: PromClient;
  /**
   * Histogram buckets in seconds.
   * @default the OpenTelemetry HTTP duration buckets, 5 ms to 10 s
   */
  readonly buckets?: readonly number[];
  /**
   * Most distinct values per label (server addresses, breaker keys); later values share the label `other`.
   * @default 100: keeps a client that talks to many hosts from growing the registry without bound
   */
  readonly maxLabelValues?: number;
}

const metricsOptionsSchema = z.strictObject({
  registry: objectWith('a prom-client Registry', ['metrics']).optional(),
  prefix: z
    .string()
    .regex(/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/, 'expected a Prometheus name prefix such as myapp_')
    .optional(),
  promClient: objectWith('the prom-client module').optional(),
  buckets: z.array(z.number().positive()).nonempty().optional(),
  maxLabelValues: z.number().int().min(1).optional(),
});

/** A source of limiter or breaker state, read at scrape time. */
export interface SnapshotSource {
  snapshot(): unknown;
}

/** reqforge's Prometheus metrics. Instrument any number of clients; read with `registry.metrics()`. */
export interface Metrics {
  /** The registry holding every series. */
  readonly registry: Registry;
  /** The prom-client module in use. */
  readonly prom: PromClient;
  /** Subscribes to a client's events; returns a function that unsubscribes. */
  instrument(client: Instrumentable): () => void;
  /** Reads a limiter's queue length (from `snapshot().queued` or `.queueLength`) at scrape time. */
  trackLimiter(key: string, limiter: SnapshotSource): void;
  /** Reads a breaker's state (from `snapshot().state`) at scrape time. */
  trackBreaker(key: string, breaker: SnapshotSource): void;
  /** Records a token outcome by hand (token events of clients with token auth are counted without it). */
  recordToken(outcome: TokenOutcome): void;
  /** Records a store error. */
  recordStoreError(store: string, operation: string): void;
  /** Reports a token store's health as `reqforge_token_store_up{store}` (1 up, 0 down), read at scrape time. */
  trackStore(store: string, isUp: () => boolean): void;
  /** The Prometheus text of every series whose name starts with `prefix` (all when omitted). */
  text(prefix?: string): Promise<string>;
}

/** OpenTelemetry's recommended HTTP duration buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** Numeric values of the breaker state gauge. */
export const BREAKER_STATE_VALUES: Readonly<Record<string, number>> = {
  closed: 0,
  'half-open': 1,
  half_open: 1,
  halfOpen: 1,
  open: 2,
};

let cached: PromClient | undefined;

/** Loads prom-client on first use, with a helpful error when it is not installed. */
export function loadPromClient(): PromClient {
  if (cached) return cached;
  try {
    cached = createRequire(import.meta.url)('prom-client') as PromClient;
    return cached;
  } catch (error) {
    throw new Error(
      'reqforge metrics need the optional peer dependency prom-client: npm install prom-client',
      {
        cause: error,
      },
    );
  }
}

/** Keeps a label's distinct values bounded. */
class BoundedLabel {
  readonly #seen = new Set<string>();
  constructor(readonly max: number) {}
  value(v: string): string {
    if (this.#seen.has(v)) return v;
    if (this.#seen.size >= this.max) return 'other';
    this.#seen.add(v);
    return v;
  }
}

/** The outcome label of a failed call, from its error code: a small fixed set. */
export function outcomeOf(error: ReqforgeError | undefined): string {
  if (!error) return 'success';
  const code = error.code;
  if (code === 'ERR_TIMEOUT' || code === 'ERR_HEADERS_TIMEOUT' || code === 'ERR_BODY_TIMEOUT')
    return 'timeout';
  if (code === 'ERR_CIRCUIT_OPEN') return 'circuit_open';
  if (code === 'ERR_RATE_LIMITED' || code === 'ERR_DROPPED') return 'rate_limited';
  if (code === 'ERR_ABORTED') return 'aborted';
  if ('status' in error && typeof (error as { status?: unknown }).status === 'number') return 'http_error';
  if (
    code.startsWith('ERR_CONNECT') ||
    code === 'ERR_DNS' ||
    code === 'ERR_TLS' ||
    code === 'ERR_SOCKET' ||
    code === 'ERR_NETWORK'
  ) {
    return 'network_error';
  }
  return 'error';
}

/**
 * Creates reqforge's Prometheus metrics: the OpenTelemetry-style `http_client_request_duration_seconds`
 * histogram, attempts, retries, breaker state, limiter queue and waits, token fetches and store errors.
 * prom-client is loaded lazily (or injected). Label values are bounded: methods, host:port, status codes
 * and a fixed set of outcomes, never paths, ids or credentials.
 *
 * @example
 * const metrics = createMetrics();
 * metrics.instrument(createClient({ baseUrl: 'https://api.example.com', name: 'billing' }));
 * const text = await metrics.registry.metrics();
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  parseOptions(metricsOptionsSchema, options, 'metrics');
  const prom = options.promClient ?? loadPromClient();
  const registry = options.registry ?? new prom.Registry();
  const p = options.prefix ?? '';
  const max = options.maxLabelValues ?? 100;
  const hosts = new BoundedLabel(max);
  const services = new BoundedLabel(max);
  const keys = new BoundedLabel(max);
  const reasons = new BoundedLabel(50);
  const limiters = new Map<string, SnapshotSource>();
  const breakers = new Map<string, SnapshotSource>();
  const registers = [registry];

  // The series updated on every call are plain objects exported at scrape time (see series.ts).
  const duration = new LocalHistogram({
    name: `${p}http_client_request_duration_seconds`,
    help: 'Duration of HTTP client calls until response headers, retries included.',
    labelNames: ['method', 'server_address', 'status_code', 'outcome', 'service'],
    buckets: options.buckets ?? DEFAULT_BUCKETS,
    registers,
  });
  const attempts = new LocalCounter({
    name: `${p}http_client_attempts_total`,
    help: 'Attempts sent to the transport, retries included.',
    labelNames: ['method', 'server_address', 'service'],
    registers,
  });
  const retries: Counter = new prom.Counter({
    name: `${p}http_client_retries_total`,
    help: 'Retries scheduled, by reason (status code or error code).',
    labelNames: ['server_address', 'reason', 'service'],
    registers,
  });
  const retryDelay: Histogram = new prom.Histogram({
    name: `${p}http_client_retry_delay_seconds`,
    help: 'Backoff delays before retries.',
    labelNames: ['server_address', 'service'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20],
    registers,
  });
  const breakerTransitions: Counter = new prom.Counter({
    name: `${p}reqforge_circuit_breaker_transitions_total`,
    help: 'Circuit breaker state changes.',
    labelNames: ['key', 'from', 'to'],
    registers,
  });
  const breakerLast = new Map<string, number>();
  new prom.Gauge({
    name: `${p}reqforge_circuit_breaker_state`,
    help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
    labelNames: ['key'],
    registers,
    collect(this: Gauge) {
      for (const [key, value] of breakerLast) this.set({ key }, value);
      for (const [key, source] of breakers) {
        const state = readField(source, ['state']);
        if (typeof state === 'string' && state in BREAKER_STATE_VALUES) {
          this.set({ key }, BREAKER_STATE_VALUES[state] as number);
        }
      }
    },
  });
  const limiterDecisions = new LocalCounter({
    name: `${p}reqforge_rate_limiter_decisions_total`,
    help: 'Rate limiter decisions: allowed, queued, dropped or raised.',
    labelNames: ['key', 'outcome'],
    registers,
  });
  const limiterWait: Histogram = new prom.Histogram({
    name: `${p}reqforge_rate_limiter_wait_seconds`,
    help: 'Time calls waited in a rate limiter queue.',
    labelNames: ['key'],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  new prom.Gauge({
    name: `${p}reqforge_rate_limiter_queue_length`,
    help: 'Calls waiting in a rate limiter queue (read at scrape time).',
    labelNames: ['key'],
    registers,
    collect(this: Gauge) {
      for (const [key, source] of limiters) {
        const queued = readField(source, ['queued', 'queueLength', 'queue', 'waiting']);
        if (typeof queued === 'number') this.set({ key }, queued);
      }
    },
  });
  const tokens = new LocalCounter({
    name: `${p}reqforge_token_requests_total`,
    help: 'Token outcomes: served from cache (hit), fetched, refreshed, failed (error), invalidated or expired.',
    labelNames: ['outcome'],
    registers,
  });
  const storeErrors: Counter = new prom.Counter({
    name: `${p}reqforge_store_errors_total`,
    help: 'Token store operations that failed (the call went on without the store).',
    labelNames: ['store', 'operation'],
    registers,
  });
  const stores = new Map<string, () => boolean>();
  new prom.Gauge({
    name: `${p}reqforge_token_store_up`,
    help: 'Whether the token store answers: 1 up, 0 down (calls then use the in-process fallback).',
    labelNames: ['store'],
    registers,
    collect(this: Gauge) {
      for (const [store, isUp] of stores) this.set({ store }, isUp() ? 1 : 0);
    },
  });

  const observeDuration = (
    method: string,
    server: string,
    status: string,
    outcome: string,
    service: string,
    seconds: number,
  ) => duration.series5(method, server, status, outcome, service).observe(seconds);

  const hostOf = (request: HttpRequest) => hosts.value(request.host);
  const serviceOf = (ctx: CallContext) => services.value(ctx.tags.service ?? '');

  return {
    registry,
    prom,
    instrument(client) {
      const hub = client.events as unknown as EventHub<ClientEvents & ObservedEvents>;
      const offs = [
        hub.on('response', ({ request, response, ctx, duration: ms }) => {
          observeDuration(
            methodLabel(request.method),
            hostOf(request),
            String(response.status),
            response.ok ? 'success' : 'http_error',
            serviceOf(ctx),
            ms / 1000,
          );
        }),
        hub.on('error', ({ request, error, ctx, duration: ms }) => {
          const status = (error as { status?: unknown }).status;
          observeDuration(
            methodLabel(request.method),
            hostOf(request),
            typeof status === 'number' ? String(status) : 'none',
            outcomeOf(error),
            serviceOf(ctx),
            ms / 1000,
          );
        }),
        hub.on('attempt', ({ request, ctx }) => {
          attempts.series3(methodLabel(request.method), hostOf(request), serviceOf(ctx)).value++;
        }),
        hub.on('retry', ({ request, ctx, delay, reason }) => {
          const labels = { server_address: hostOf(request), service: serviceOf(ctx) };
          retries.inc({ ...labels, reason: reasons.value(String(reason).slice(0, 40)) });
          retryDelay.observe(labels, delay / 1000);
        }),
        hub.on('breaker', ({ key, from, to }) => {
          const k = keys.value(key);
          breakerTransitions.inc({ key: k, from, to });
          breakerLast.set(k, BREAKER_STATE_VALUES[to] ?? -1);
        }),
        hub.on('rateLimit', ({ key, outcome, wait }) => {
          const k = keys.value(key);
          limiterDecisions.series2(k, outcome).value++;
          if (outcome === 'queued' || wait > 0) limiterWait.observe({ key: k }, wait / 1000);
        }),
        hub.on('token', ({ kind }) => {
          tokens.series1(TOKEN_OUTCOMES[kind]).value++;
        }),
        hub.on('storeError', ({ store, operation }) => storeErrors.inc({ store, operation })),
      ];
      return () => {
        for (const off of offs) off();
      };
    },
    trackLimiter(key, limiter) {
      limiters.set(keys.value(key), limiter);
    },
    trackBreaker(key, breaker) {
      breakers.set(keys.value(key), breaker);
    },
    recordToken(outcome) {
      tokens.series1(outcome).value++;
    },
    recordStoreError(store, operation) {
      storeErrors.inc({ store, operation });
    },
    trackStore(store, isUp) {
      stores.set(keys.value(store), isUp);
    },
    text: (prefix) => metricsText(registry, prefix),
  };
}

function readField(source: SnapshotSource, names: readonly string[]): unknown {
  let snap: unknown;
  try {
    snap = source.snapshot();
  } catch {
    return undefined;
  }
  if (typeof snap !== 'object' || snap === null) return undefined;
  for (const scope of [snap, (snap as { stats?: unknown }).stats]) {
    if (typeof scope !== 'object' || scope === null) continue;
    for (const name of names) {
      const v = (scope as Record<string, unknown>)[name];
      if (v !== undefined) return Array.isArray(v) ? v.length : v;
    }
  }
  return undefined;
}

/**
 * The Prometheus exposition text of a registry, keeping only metrics whose name starts with `prefix`.
 */
export async function metricsText(registry: Registry, prefix?: string): Promise<string> {
  if (!prefix) return registry.metrics();
  const parts: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    if (!metric.name.startsWith(prefix)) continue;
    const single = await registry.getSingleMetricAsString(metric.name);
    parts.push(single);
  }
  return parts.length === 0 ? '' : `${parts.join('\n')}\n`;
}
