/**
 * `startGateway`: builds a gateway's parts (store, metrics, upstream clients, the request path) and runs
 * them behind one `node:http` server, with connection-level refusals and a graceful shutdown.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AbortError } from '../core/errors.js';
import { EventHub } from '../core/events.js';
import type { Logger } from '../observability/logging.js';
import type { Metrics } from '../observability/metrics.js';
import { serverTracing } from '../observability/tracing-server.js';
import { Admission } from './admission.js';
import type { GatewayConfig } from './config.js';
import { Operations } from './operations.js';
import { makeProblem, securityHeaders, sendProblem, writeSocketProblem } from './problem.js';
import { RequestLog } from './request-log.js';
import { type RequestMeta, RequestPath } from './request-path.js';
import { limitStore } from './shared-limits.js';
import type { GatewayStatus } from './status-model.js';
import { openStore, StoreHealth } from './store.js';
import { createTelemetry } from './telemetry.js';
import { createUpstream, type GatewayUpstream, type UpstreamRuntime } from './upstreams.js';
import { type GatewayStore, loadWiring, type StoreEvents, type Wiring } from './wiring.js';

export { unsafePathReason } from './path-safety.js';
export type { GatewayUpstream } from './upstreams.js';

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /** The validated configuration (see `loadGatewayConfig`). */
  readonly config: GatewayConfig;
  /** Which optional modules to use. @default the ones found in this build (`loadWiring()`) */
  readonly wiring?: Wiring;
  /** Overrides `config.listen.port` (tests pass 0). */
  readonly port?: number;
  /** Overrides `config.listen.host`. */
  readonly host?: string;
  /** Extra readiness check (store reachable, …); `/ready` answers 503 while it returns false or throws. */
  readonly ready?: () => boolean | Promise<boolean>;
  /** Extra facts per upstream for `/status` (usage windows, token expiry …). Must not return secrets. */
  readonly status?: (upstream: string) => unknown;
  /** A pino-compatible logger for gateway events. @default no logging */
  readonly logger?: Logger;
  /** A token store to use instead of building one from `config.store`. */
  readonly store?: GatewayStore;
}

/** A running gateway. */
export interface Gateway {
  /** Origin such as `http://127.0.0.1:8787`. */
  readonly url: string;
  /** Origin of the operations endpoints when `operations.listen` is set. */
  readonly operationsUrl: string | undefined;
  readonly server: Server;
  readonly config: GatewayConfig;
  readonly metrics: Metrics | undefined;
  readonly upstreams: ReadonlyMap<string, GatewayUpstream>;
  /** Requests being handled right now. */
  readonly inFlight: number;
  /** The status document. */
  status(): Promise<GatewayStatus>;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to `grace` ms, default
   * `config.shutdown.grace`), then closes the rest, the upstream clients and the store.
   */
  close(options?: { readonly grace?: number }): Promise<void>;
}

/** Builds every upstream, closing the ones already built when one fails. */
async function createUpstreams(
  config: GatewayConfig,
  deps: Omit<Parameters<typeof createUpstream>[2], 'bodySize' | 'retryBodySize'>,
): Promise<Map<string, UpstreamRuntime>> {
  const upstreams = new Map<string, UpstreamRuntime>();
  try {
    for (const [name, upstreamConfig] of Object.entries(config.upstreams)) {
      upstreams.set(
        name,
        createUpstream(name, upstreamConfig, {
          ...deps,
          bodySize: config.limits.bodySize,
          retryBodySize: config.limits.retryBodySize,
        }),
      );
    }
  } catch (error) {
    await Promise.allSettled([...upstreams.values()].map((u) => u.client.close()));
    throw error;
  }
  return upstreams;
}

/** The path of a request Node could not parse, from its first line (query cut, at most 200 characters). */
function instanceOf(packet: Buffer | undefined): string {
  const line = packet?.subarray(0, 512).toString('latin1') ?? '';
  const target = /^[A-Z]{1,16} (\/[!-~]*)/.exec(line)?.[1] ?? '';
  const path = target.split('?')[0] ?? '';
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

/** The server span's `http.route`: `/<upstream>/*` for an upstream, `/<endpoint>` for operations. */
function spanRoute(route: string, upstreams: ReadonlyMap<string, unknown>): string | undefined {
  if (route === 'unknown') return undefined;
  return upstreams.has(route) ? `/${route}/*` : `/${route}`;
}

/** Starts a server listening and returns its origin. */
async function listenOn(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** What Node's parser refused, as a status, title and detail. */
function clientErrorProblem(code: string | undefined): [number, string, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW')
    return [431, 'headers-too-large', 'Request Header Fields Too Large', 'The request headers are too large'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return [408, 'request-timeout', 'Request Timeout', 'The request did not arrive in time'];
  return [400, 'bad-request', 'Bad Request', 'The request could not be parsed'];
}

/**
 * Starts the gateway: `/<upstream>/<path>` is forwarded to that upstream's `baseUrl` with streaming
 * bodies both ways; `/metrics`, `/health`, `/ready` and `/status` serve operations. Nothing but the
 * configured upstreams can be reached.
 *
 * @example
 * const config = await loadGatewayConfig('gateway.yaml');
 * const gateway = await startGateway({ config });
 * process.on('SIGTERM', () => gateway.close());
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const config = options.config;
  const wiring = options.wiring ?? (await loadWiring());
  const logger = options.logger;
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;
  const isDraining = () => draining;

  const storeEvents = new EventHub<StoreEvents>();
  const ownsStore = !options.store;
  const store = options.store ?? (await openStore(config, wiring, storeEvents, logger));
  const telemetry = createTelemetry(config, () => inFlight);
  const metrics = telemetry.metrics;
  if (metrics) {
    storeEvents.on('store:error', (e) => metrics.recordStoreError(e.store, e.operation));
    metrics.trackStoreOperations(storeEvents);
  }
  // Probes the store past the outage-as-miss fallback; logs each change and feeds the store gauge.
  const storeHealth = store && new StoreHealth(store, logger, metrics);

  let upstreams: Map<string, UpstreamRuntime>;
  try {
    upstreams = await createUpstreams(config, {
      wiring,
      store,
      metrics,
      tracing: config.tracing.enabled,
      extraStatus: options.status,
      limitStore: limitStore(config),
      logger,
    });
  } catch (error) {
    if (ownsStore) await store?.close();
    throw error;
  }
  const hsts = config.hsts;
  const security = securityHeaders(
    hsts && `max-age=${Math.floor(hsts.maxAge / 1000)}${hsts.includeSubDomains ? '; includeSubDomains' : ''}`,
  );
  const admission = new Admission(config, { limitStore: limitStore(config), logger, metrics });
  const operations = new Operations({
    config,
    registry: metrics?.registry,
    upstreams,
    admission,
    logger,
    store: storeHealth,
    ready: options.ready,
    draining: isDraining,
    security,
  });
  // Per-request lines (the access log, debug headers and bodies), decided once: off costs one boolean per request.
  const requestLog = logger && new RequestLog(logger, config, upstreams);
  const access = requestLog?.access === true ? requestLog : undefined;
  const path = new RequestPath({
    config,
    admission,
    upstreams,
    operations,
    telemetry,
    security,
    logger,
    requestLog,
    draining: isDraining,
  });

  const tracing = config.tracing.enabled ? serverTracing() : undefined;
  // Node checks header and request timeouts on this interval; keep it well below the headers timeout.
  const checkEvery = Math.max(50, Math.min(30_000, Math.floor(config.limits.headersTimeout / 4)));
  const server = createServer({ connectionsCheckingInterval: checkEvery }, (req, res) => {
    inFlight++;
    const start = performance.now();
    const meta: RequestMeta = { route: 'unknown', requestId: '', start };
    const span = tracing?.start(req);
    if (access) meta.bytesBefore = req.socket.bytesWritten;
    res.on('close', () => {
      if (meta.abort && !res.writableFinished) meta.abort.abort(new AbortError());
      inFlight--;
      telemetry.served(req, res, meta.route, start);
      if (access) access.accessLine(req, res, meta, start, span?.traceId);
      span?.end(res.statusCode, spanRoute(meta.route, upstreams), { 'reqforge.request_id': meta.requestId });
      if (draining && inFlight === 0) drained?.();
    });
    (span ? span.run(() => path.handle(req, res, meta)) : path.handle(req, res, meta)).catch(
      (error: unknown) => {
        logger?.error({ err: String(error) }, 'gateway handler failed');
        const problem = makeProblem(
          500,
          'internal',
          'Internal gateway error',
          'The gateway failed to handle the request',
          '',
          meta.requestId,
        );
        sendProblem(
          res,
          problem,
          meta.requestId ? { [config.requestIdHeader]: meta.requestId } : {},
          security,
        );
      },
    );
  });
  server.headersTimeout = config.limits.headersTimeout;
  server.requestTimeout = config.limits.requestTimeout;
  server.keepAliveTimeout = config.limits.keepAliveTimeout;
  server.maxConnections = config.limits.maxConnections;
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const refusal = admission.target('CONNECT', '');
    if (!refusal) return;
    telemetry.rejected(refusal.slug);
    const id = admission.requestId(req);
    const problem = makeProblem(refusal.status, refusal.slug, refusal.title, refusal.detail, '', id);
    writeSocketProblem(socket, problem, { [config.requestIdHeader]: id }, security);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    const [status, slug, title, detail] = clientErrorProblem(error.code);
    telemetry.rejected(slug);
    const id = randomUUID();
    const problem = makeProblem(status, slug, title, detail, instanceOf(error.rawPacket), id);
    writeSocketProblem(socket, problem, { [config.requestIdHeader]: id }, security);
  });

  // Operations on their own address (operations.listen): a second server that answers nothing else.
  const opsListen = config.operations?.listen;
  const opsServer =
    opsListen &&
    createServer((req, res) => {
      const meta: RequestMeta = { route: 'unknown', requestId: '' };
      path.handleOperations(req, res, meta).catch((error: unknown) => {
        logger?.error({ err: String(error) }, 'gateway operations handler failed');
        res.destroy();
      });
    });
  const opsUrl =
    opsServer && opsListen ? await listenOn(opsServer, opsListen.port, opsListen.host) : undefined;
  const host = options.host ?? config.listen.host;
  const port = options.port ?? config.listen.port;
  const url = await listenOn(server, port, host);
  path.listening(url.slice('http://'.length));
  storeHealth?.start();
  logger?.info({ url, upstreams: [...upstreams.keys()] }, 'gateway listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    operationsUrl: opsUrl,
    server,
    config,
    metrics,
    upstreams,
    get inFlight() {
      return inFlight;
    },
    status: () => operations.status(),
    close(closeOptions = {}) {
      closing ??= (async () => {
        draining = true;
        storeHealth?.stop();
        const grace = closeOptions.grace ?? config.shutdown.grace;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, grace);
            timer.unref();
            drained = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        server.closeAllConnections();
        if (opsServer) {
          opsServer.closeAllConnections();
          await new Promise<void>((resolve) => opsServer.close(() => resolve()));
        }
        for (const socket of sockets) socket.destroy();
        await stopped;
        await Promise.allSettled(
          [...upstreams.values()].map(async (u) => {
            await u.auth?.close?.();
            await u.client.close();
          }),
        );
        await admission.close();
        if (ownsStore) await store?.close();
        logger?.info({}, 'gateway stopped');
      })();
      return closing;
    },
  };
}
