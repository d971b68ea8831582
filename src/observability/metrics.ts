import { createRequire } from 'node:module';
import type { Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import type { ReqforgeError } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import { objectWith, parseOptions } from '../core/options/index.js';
import type { HttpRequest } from '../core/request.js';
import type { CallContext, ClientEvents, TokenActivity } from '../core/types.js';
import { methodLabel, serverOf } from './http-attributes.js';
import { defineSeries } from './metric-series.js';
import { registerSystemMetrics, type SystemMetricsOptions } from './system-metrics.js';

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
  /** The client's options; `name` is the default `upstream` label. */
  readonly options?: { readonly name?: string | undefined };
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
  /**
   * Host-wide CPU and memory gauges (`system_cpu_utilization_ratio`, `system_memory_usage_bytes` …) and the
   * container's cgroup limits (`reqforge_cgroup_memory_limit_bytes` …), read at scrape time.
   * @default false (the gateway turns them on with `metrics.defaultMetrics`)
   */
  readonly system?: boolean | SystemMetricsOptions;
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
  system: z.union([z.boolean(), z.strictObject({ cgroupRoot: z.string().min(1).optional() })]).optional(),
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
  /**
   * Subscribes to a client's events; returns a function that unsubscribes. Its series carry the label
   * `upstream`: `options.upstream`, else the client's `name` (a call's `tags.service` wins for call series).
   */
  instrument(client: Instrumentable, options?: InstrumentOptions): () => void;
  /** Reads a limiter's current queue length (`snapshot().stats.queueLength`, or a top-level `queued`) at scrape time. */
  trackLimiter(key: string, limiter: SnapshotSource, upstream?: string): void;
  /** Reads a breaker's state (from `snapshot().state`) at scrape time. */
  trackBreaker(key: string, breaker: SnapshotSource, upstream?: string): void;
  /** Records a token outcome by hand (token events of clients with token auth are counted without it). */
  recordToken(outcome: TokenOutcome, upstream?: string): void;
  /** Records a store error. */
  recordStoreError(store: string, operation: string, upstream?: string): void;
  /** Reports a token store's health as `reqforge_token_store_up{store}` (1 up, 0 down), read at scrape time. */
  trackStore(store: string, isUp: () => boolean): void;
  /**
   * Counts a store's operations (`reqforge_store_operations_total{store,operation,outcome}`) and their durations
   * from its `store:operation` events (a `ResilientTokenStore`'s `events`, or the hub given to
   * `createTokenStore`). Returns a function that unsubscribes.
   */
  trackStoreOperations(events: StoreOperationSource): () => void;
  /** The Prometheus text of every series whose name starts with `prefix` (all when omitted). */
  text(prefix?: string): Promise<string>;
}

/** Where store operations are reported: the `store:operation` event of the store wrappers' event hub. */
export interface StoreOperationSource {
  on(
    event: 'store:operation',
    listener: (event: {
      readonly store: string;
      readonly operation: string;
      readonly ok: boolean;
      readonly duration: number;
    }) => void,
  ): () => void;
}

/** Options of {@link Metrics.instrument}. */
export interface InstrumentOptions {
  /** The `upstream` label of this client's series. @default the client's `name`, else `''` */
  readonly upstream?: string;
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
  const servers = new BoundedLabel(max);
  const upstreams = new BoundedLabel(max);
  const keys = new BoundedLabel(max);
  const reasons = new BoundedLabel(50);
  const limiters = new Map<string, { upstream: string; source: SnapshotSource }>();
  const breakers = new Map<string, { upstream: string; source: SnapshotSource }>();
  const registers = [registry];
  const m = defineSeries(prom, registers, p, options.buckets ?? DEFAULT_BUCKETS);
  if (options.system) registerSystemMetrics(prom, registry, p, options.system === true ? {} : options.system);
  const breakerLast = new Map<string, { upstream: string; key: string; value: number }>();
  new prom.Gauge({
    name: `${p}reqforge_circuit_breaker_state`,
    help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
    labelNames: ['upstream', 'key'],
    registers,
    collect(this: Gauge) {
      for (const { upstream, key, value } of breakerLast.values()) this.set({ upstream, key }, value);
      for (const [key, { upstream, source }] of breakers) {
        const state = readField(source, ['state']);
        if (typeof state === 'string' && state in BREAKER_STATE_VALUES) {
          this.set({ upstream, key }, BREAKER_STATE_VALUES[state] as number);
        }
      }
    },
  });
  new prom.Gauge({
    name: `${p}reqforge_rate_limiter_queue_length`,
    help: 'Calls waiting in a rate limiter queue right now (read at scrape time).',
    labelNames: ['upstream', 'key'],
    registers,
    collect(this: Gauge) {
      for (const [key, { upstream, source }] of limiters) {
        const queued = queueLengthOf(source);
        if (queued !== undefined) this.set({ upstream, key }, queued);
      }
    },
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

  // Bounded `server_address` and `server_port` labels of a request, cached per origin.
  const serverLabels = new Map<string, readonly [string, string]>();
  const serverOfRequest = (request: HttpRequest): readonly [string, string] => {
    let labels = serverLabels.get(request.origin);
    if (labels === undefined) {
      const bounded = servers.value(request.host);
      const server = serverOf(request.origin);
      labels = bounded === 'other' ? ['other', ''] : [server.address, String(server.port)];
      if (serverLabels.size < max * 4) serverLabels.set(request.origin, labels);
    }
    return labels;
  };

  return {
    registry,
    prom,
    instrument(client, instrumentOptions = {}) {
      const hub = client.events as unknown as EventHub<ClientEvents & ObservedEvents>;
      const upstream = upstreams.value(instrumentOptions.upstream ?? client.options?.name ?? '');
      const upstreamOf = (ctx: CallContext) =>
        ctx.tags.service === undefined ? upstream : upstreams.value(ctx.tags.service);
      const observe = (request: HttpRequest, ctx: CallContext, status: string, error: string, ms: number) => {
        const [address, port] = serverOfRequest(request);
        m.duration
          .series6(methodLabel(request.method), address, port, status, error, upstreamOf(ctx))
          .observe(ms / 1000);
      };
      const offs = [
        hub.on('response', ({ request, response, ctx, duration: ms }) => {
          const status = String(response.status);
          observe(request, ctx, status, response.status >= 400 ? status : '', ms);
        }),
        hub.on('error', ({ request, error, ctx, duration: ms }) => {
          const status = (error as { status?: unknown }).status;
          const code = typeof status === 'number' ? String(status) : '';
          observe(request, ctx, code, code || outcomeOf(error), ms);
        }),
        hub.on('attempt', ({ request, ctx }) => {
          const [address, port] = serverOfRequest(request);
          m.attempts.series4(methodLabel(request.method), address, port, upstreamOf(ctx)).value++;
        }),
        hub.on('retry', ({ request, ctx, delay, reason }) => {
          const [address, port] = serverOfRequest(request);
          const labels = { server_address: address, server_port: port, upstream: upstreamOf(ctx) };
          m.retries.inc({ ...labels, reason: reasons.value(String(reason).slice(0, 40)) });
          m.retryDelay.observe(labels, delay / 1000);
        }),
        hub.on('retryBudgetExhausted', ({ request, ctx }) => {
          const [address, port] = serverOfRequest(request);
          m.budgetExhausted.inc({ server_address: address, server_port: port, upstream: upstreamOf(ctx) });
        }),
        hub.on('breaker', ({ key, from, to }) => {
          const k = keys.value(key);
          m.breakerTransitions.inc({ upstream, key: k, from, to });
          breakerLast.set(`${upstream}\u0000${k}`, {
            upstream,
            key: k,
            value: BREAKER_STATE_VALUES[to] ?? -1,
          });
        }),
        hub.on('rateLimit', ({ key, outcome, wait }) => {
          const k = keys.value(key);
          m.limiterDecisions.series3(upstream, k, outcome).value++;
          if (outcome === 'queued' || wait > 0) m.limiterWait.observe({ upstream, key: k }, wait / 1000);
        }),
        hub.on('bulkhead', ({ outcome, wait }) => {
          m.bulkheadWait.observe({ upstream, outcome }, wait / 1000);
        }),
        hub.on('token', (event) => {
          m.tokens.series2(upstream, TOKEN_OUTCOMES[event.kind]).value++;
          if (event.duration === undefined) return;
          const trigger = event.background ? 'background' : 'call';
          m.refreshRuns.inc({ upstream, trigger });
          if (event.kind === 'failed') m.refreshFailures.inc({ upstream, trigger });
          m.refreshDuration.observe({ upstream, trigger }, event.duration / 1000);
        }),
        hub.on('storeError', ({ store, operation }) => m.storeErrors.inc({ upstream, store, operation })),
      ];
      return () => {
        for (const off of offs) off();
      };
    },
    trackLimiter(key, limiter, upstream) {
      limiters.set(keys.value(key), { upstream: upstreams.value(upstream ?? key), source: limiter });
    },
    trackBreaker(key, breaker, upstream) {
      breakers.set(keys.value(key), { upstream: upstreams.value(upstream ?? ''), source: breaker });
    },
    recordToken(outcome, upstream = '') {
      m.tokens.series2(upstreams.value(upstream), outcome).value++;
    },
    recordStoreError(store, operation, upstream = '') {
      m.storeErrors.inc({ upstream: upstreams.value(upstream), store, operation });
    },
    trackStore(store, isUp) {
      stores.set(keys.value(store), isUp);
    },
    trackStoreOperations(events) {
      return events.on('store:operation', ({ store, operation, ok, duration }) => {
        // Backend names and operations are small fixed sets; bounded all the same.
        const labels = { store: keys.value(store), operation: reasons.value(operation) };
        m.storeOperations.inc({ ...labels, outcome: ok ? 'ok' : 'error' });
        m.storeDuration.observe(labels, duration / 1000);
      });
    },
    text: (prefix) => metricsText(registry, prefix),
  };
}

/**
 * The current queue length of a limiter: `stats.queueLength` of a rate-limit policy's snapshot, else a top-level
 * `queueLength`, `queued` or `waiting` (a bulkhead's snapshot). Never `stats.queued`: that counts every call ever
 * queued, which is what this gauge showed before (1184 while the status page said 0).
 */
function queueLengthOf(source: SnapshotSource): number | undefined {
  const snap = snapshotOf(source);
  if (snap === undefined) return undefined;
  const stats = (snap as { stats?: { queueLength?: unknown } }).stats;
  if (typeof stats?.queueLength === 'number') return stats.queueLength;
  for (const name of ['queueLength', 'queued', 'waiting']) {
    const v = (snap as Record<string, unknown>)[name];
    if (typeof v === 'number') return v;
    if (Array.isArray(v)) return v.length;
  }
  return undefined;
}

/** A source's snapshot as an object, or undefined when it throws or is not one. */
function snapshotOf(source: SnapshotSource): object | undefined {
  try {
    const snap = source.snapshot();
    return typeof snap === 'object' && snap !== null ? snap : undefined;
  } catch {
    return undefined;
  }
}

function readField(source: SnapshotSource, names: readonly string[]): unknown {
  const snap = snapshotOf(source);
  if (snap === undefined) return undefined;
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
