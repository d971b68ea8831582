import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Counter, Gauge, Registry } from 'prom-client';
import { type Client, createClient, TRUSTED_HEADERS, type TrustedCallOptions } from '../client/client.js';
import { CallAbort } from '../core/context.js';
import {
  AbortError,
  BodyTooLargeError,
  isInvalidOptionError,
  isReqforgeError,
  type ReqforgeError,
} from '../core/errors.js';
import { EventHub } from '../core/events.js';
import { defaultRedactor } from '../core/redact.js';
import type { HttpResponse } from '../core/response.js';
import { isSecret } from '../core/secret.js';
import type { Logger } from '../observability/logging.js';
import { createMetrics, DEFAULT_BUCKETS, type Metrics, metricsText } from '../observability/metrics.js';
import { LocalHistogram } from '../observability/series.js';
import { TOKEN_KEY_ENV } from '../stores/encrypted.js';
import { ConfigError, type GatewayConfig, type UpstreamConfig } from './config.js';
import { makeProblem, problemFor, SECURITY_HEADERS, sendProblem } from './problem.js';
import { type GatewayStatus, renderStatusPage, sanitizeStatus, type UpstreamStatus } from './status-page.js';
import { upstreamClientOptions } from './upstreams.js';
import { type GatewayStore, loadWiring, type StoreEvents, type UpstreamAuth, type Wiring } from './wiring.js';

/** What the request handler tells the server callback (for metrics and the last-resort error). */
interface RequestMeta {
  route: string;
  requestId: string;
  /** The upstream call's abort, once there is one: the caller going away aborts it. */
  abort?: CallAbort;
}

// Either side failing mid-relay has already torn the other down; there is nobody left to answer.
const ignoreRelayError = (): void => undefined;

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

/** One configured upstream at run time. */
export interface GatewayUpstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly client: Client;
  readonly auth: UpstreamAuth | undefined;
  /** Its status row (safe to show). */
  status(): UpstreamStatus;
}

/** A running gateway. */
export interface Gateway {
  /** Origin such as `http://127.0.0.1:8787`. */
  readonly url: string;
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

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Hop-by-hop headers plus the ones named in `Connection`. */
const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

/** Hop-by-hop header names: the standard ones plus any the `Connection` header lists (no copy when it lists none). */
function hopByHop(connection: string | string[] | undefined): ReadonlySet<string> {
  const list = Array.isArray(connection) ? connection.join(',') : connection;
  if (!list || list === 'keep-alive' || list === 'close') return HOP_BY_HOP_SET;
  let set: Set<string> | undefined;
  for (const raw of list.split(',')) {
    const name = raw.trim().toLowerCase();
    if (!HOP_BY_HOP_SET.has(name)) {
      set ??= new Set(HOP_BY_HOP);
      set.add(name);
    }
  }
  return set ?? HOP_BY_HOP_SET;
}

const PLAIN_PATH = /^\/(?!\/)[\w\-.~!$&'()*+,;=:@/]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Checks a request path: returns an error message, or undefined when it is safe to forward. */
export function unsafePathReason(path: string): string | undefined {
  // Most paths are plain: only unreserved and sub-delim characters, no dot segment, no leading //.
  if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) return undefined;
  if (!path.startsWith('/'))
    return 'the request target must be a path (absolute-form and authority-form are refused)';
  if (path.startsWith('//')) return 'the path must not start with //';
  if (/%2f|%5c|\\/i.test(path)) return 'encoded slashes and backslashes are refused in paths';
  if (/%00/i.test(path) || hasControl(path)) return 'control characters are refused in paths';
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return 'the path is not valid percent-encoding';
    }
    if (decoded === '.' || decoded === '..' || /%2e/i.test(decoded))
      return 'dot segments are refused in paths';
  }
  return undefined;
}

/** Compiles an allowed-path pattern: `*` matches within one segment, `**` across segments. */
function compilePattern(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else out += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** A counting pass-through that fails once more than `limit` bytes went by. */
class LimitStream extends Transform {
  seen = 0;
  exceeded = false;
  constructor(readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.exceeded = true;
      done(new BodyTooLargeError(this.limit));
      return;
    }
    done(null, chunk);
  }
}

interface Bucket {
  tokens: number;
  at: number;
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
  const startedAt = Date.now();
  const logger = options.logger;

  // Store: shared tokens across replicas; `memory` needs none (each TokenManager caches in-process).
  let store: GatewayStore | undefined = options.store;
  let ownsStore = false;
  const storeEvents = new EventHub<StoreEvents>();
  if (!store && wiring.stores && config.store.type !== 'memory') {
    if (!('encryptionKeys' in config.store && config.store.encryptionKeys) && !process.env[TOKEN_KEY_ENV]) {
      const message =
        `reqforge gateway: the ${config.store.type} token store keeps tokens unencrypted at rest; ` +
        `set store.encryptionKeys or ${TOKEN_KEY_ENV} (a 32-byte key, base64 or hex) to encrypt them.`;
      process.emitWarning(message, { code: 'REQFORGE_STORE_UNENCRYPTED' });
      logger?.warn({ store: config.store.type }, message);
    }
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config.store)) {
      raw[k] = Array.isArray(v) ? v.map((x) => (isSecret(x) ? x.reveal() : x)) : isSecret(v) ? v.reveal() : v;
    }
    try {
      store = await wiring.stores.createTokenStore(raw, storeEvents);
    } catch (error) {
      if (isInvalidOptionError(error)) {
        throw new ConfigError([{ path: `store.${error.option}`, message: error.message }]);
      }
      throw error;
    }
    ownsStore = true;
  }

  // Metrics.
  let metrics: Metrics | undefined;
  let serverDuration: LocalHistogram | undefined;
  let rejected: Counter | undefined;
  if (config.metrics.enabled) {
    metrics = createMetrics({ prefix: config.metrics.prefix });
    const prom = metrics.prom;
    const registers: Registry[] = [metrics.registry];
    const p = config.metrics.prefix;
    // Updated per request: a plain-object histogram exported at scrape time, and a gauge read at scrape time.
    serverDuration = new LocalHistogram({
      name: `${p}http_server_request_duration_seconds`,
      help: 'Duration of requests the gateway served, until the response ended.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: DEFAULT_BUCKETS,
      registers,
    });
    new prom.Gauge({
      name: `${p}http_server_active_requests`,
      help: 'Requests the gateway is handling right now.',
      registers,
      collect(this: Gauge) {
        this.set(inFlight);
      },
    });
    rejected = new prom.Counter({
      name: `${p}reqforge_gateway_rejected_total`,
      help: 'Requests the gateway refused itself, by reason.',
      labelNames: ['reason'],
      registers,
    });
    if (config.metrics.defaultMetrics) prom.collectDefaultMetrics({ register: metrics.registry, prefix: p });
    const m = metrics;
    storeEvents.on('store:error', (e) => m.recordStoreError(e.store, e.operation));
  }
  storeEvents.on('store:down', (e) =>
    logger?.warn({ store: e.store, operation: e.operation }, 'token store down'),
  );

  // Upstreams.
  const upstreams = new Map<
    string,
    GatewayUpstream & { stats: { requests: number; errors: number; inFlight: number } }
  >();
  const patterns = new Map<string, RegExp[]>();
  try {
    for (const [name, upstreamConfig] of Object.entries(config.upstreams)) {
      let built: ReturnType<typeof upstreamClientOptions>;
      try {
        built = upstreamClientOptions(name, upstreamConfig, wiring, { store });
      } catch (error) {
        if (isInvalidOptionError(error)) {
          throw new ConfigError([{ path: `upstreams.${name}.${error.option}`, message: error.message }]);
        }
        throw error;
      }
      const client = createClient(built.options);
      if (metrics) {
        const m = metrics;
        m.instrument(client);
        built.auth?.onTokenEvent?.((e) => {
          if (e.kind === 'storeError') m.recordStoreError(e.store ?? 'unknown', e.operation ?? 'unknown');
          else m.recordToken(e.kind as 'hit' | 'fetch' | 'refresh' | 'error');
        });
      }
      for (const [policy, snap] of built.snapshots) {
        if (policy === 'rateLimit') metrics?.trackLimiter(name, { snapshot: snap });
      }
      const stats = { requests: 0, errors: 0, inFlight: 0 };
      const snapshots = built.snapshots;
      const auth = built.auth;
      upstreams.set(name, {
        name,
        config: upstreamConfig,
        client,
        auth,
        stats,
        status: () => {
          const policies: Record<string, unknown> = {};
          for (const [policy, snap] of snapshots) {
            try {
              policies[policy] = sanitizeStatus(snap());
            } catch (error) {
              policies[policy] = `unavailable: ${String((error as Error).message).slice(0, 100)}`;
            }
          }
          let extra: unknown;
          try {
            extra = options.status ? sanitizeStatus(options.status(name)) : undefined;
          } catch {
            extra = 'unavailable';
          }
          return {
            name,
            baseUrl: defaultRedactor.url(upstreamConfig.baseUrl),
            requests: stats.requests,
            errors: stats.errors,
            inFlight: stats.inFlight,
            policies,
            ...(auth?.status && { auth: sanitizeStatus(auth.status()) }),
            ...(extra !== undefined && { extra }),
          };
        },
      });
      if (upstreamConfig.paths) patterns.set(name, upstreamConfig.paths.map(compilePattern));
    }
  } catch (error) {
    await Promise.allSettled([...upstreams.values()].map((u) => u.client.close()));
    if (ownsStore) await store?.close();
    throw error;
  }

  // Inbound auth and limits.
  const keyHashes = (config.inbound.apiKeys ?? []).map((k) => ({
    name: k.name,
    hash: Buffer.from(k.sha256, 'hex'),
  }));
  const apiKeyHeader = config.inbound.apiKeyHeader;
  const inboundLimit = config.inbound.rateLimit;
  const buckets = new LRUCache<string, Bucket>({ max: 10_000 });
  const requestIdHeader = config.requestIdHeader;
  const bodyLimit = config.limits.bodySize;

  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;

  const callerKey = (req: IncomingMessage): string | undefined => {
    if (keyHashes.length === 0) return '';
    const raw = req.headers[apiKeyHeader];
    const given = Array.isArray(raw) ? raw[0] : raw;
    if (!given) return undefined;
    const hash = createHash('sha256').update(given).digest();
    let match: string | undefined;
    for (const k of keyHashes) if (timingSafeEqual(hash, k.hash)) match ??= k.name;
    return match;
  };

  const takeInbound = (key: string): number => {
    if (!inboundLimit) return 0;
    const now = performance.now();
    const capacity = inboundLimit.burst ?? inboundLimit.limit;
    const rate = inboundLimit.limit / inboundLimit.window;
    const bucket = buckets.get(key) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / rate;
  };

  const isReady = async (): Promise<boolean> => {
    if (draining) return false;
    try {
      if (options.ready && !(await options.ready())) return false;
      if (store) await store.get('reqforge:ready-probe');
      return true;
    } catch {
      return false;
    }
  };

  const status = async (): Promise<GatewayStatus> => ({
    ready: await isReady(),
    draining,
    uptimeSeconds: (Date.now() - startedAt) / 1000,
    upstreams: [...upstreams.values()].map((u) => u.status()),
  });

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  const operations = async (res: ServerResponse, path: string): Promise<string | undefined> => {
    if (path === '/health') {
      send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
      return 'health';
    }
    if (path === '/ready') {
      const ready = await isReady();
      send(
        res,
        ready ? 200 : 503,
        'application/json',
        JSON.stringify({ status: ready ? 'ready' : 'not ready', draining }),
      );
      return 'ready';
    }
    if (metrics && (path === '/metrics' || path.startsWith('/metrics/'))) {
      const prefix = path === '/metrics' ? undefined : decodeURIComponent(path.slice('/metrics/'.length));
      const text = await metricsText(metrics.registry, prefix);
      send(res, 200, metrics.registry.contentType, text);
      return 'metrics';
    }
    if (config.status.enabled && (path === '/status' || path === '/status.json')) {
      const doc = await status();
      if (path === '/status.json') send(res, 200, 'application/json', JSON.stringify(doc));
      else {
        send(res, 200, 'text/html; charset=utf-8', renderStatusPage(doc, config.status.refresh / 1000), {
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        });
      }
      return 'status';
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, meta: RequestMeta): Promise<string> => {
    const given = req.headers[requestIdHeader];
    const inbound = Array.isArray(given) ? given[0] : given;
    const requestId = inbound && REQUEST_ID.test(inbound) ? inbound : randomUUID();
    meta.requestId = requestId;
    // Every response this handler writes carries the request id through writeHead's own headers: a header set
    // earlier with setHeader would send every later writeHead down Node's slower merging path.
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = q === -1 ? '' : raw.slice(q);
    const instance = path.length > 200 ? `${path.slice(0, 200)}…` : path;
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    const fail = (
      status: number,
      slug: string,
      title: string,
      detail: string,
      headers: Record<string, string> = {},
    ) => {
      rejected?.inc({ reason: slug });
      // A refused request's body is not read: close the connection rather than drain an unknown amount.
      sendProblem(res, makeProblem(status, slug, title, detail, instance, requestId), {
        ...headers,
        [requestIdHeader]: requestId,
        ...(draining && { connection: 'close' }),
        ...(hasBody && { connection: 'close' }),
      });
    };

    const unsafe = req.method === 'CONNECT' ? undefined : unsafePathReason(path);
    if (req.method === 'CONNECT' || unsafe !== undefined) {
      fail(
        400,
        'bad-request-target',
        'Request target refused',
        unsafe ?? 'CONNECT is not supported: this gateway is not an open proxy',
      );
      return 'refused';
    }
    const second = path.indexOf('/', 1);
    const segment = second === -1 ? path.slice(1) : path.slice(1, second);
    const name = segment.includes('%') ? decodeURIComponent(segment) : segment;
    const upstream = upstreams.get(name);
    meta.route = upstream ? name : 'unknown';
    if (!upstream) {
      if (req.method === 'GET' || req.method === 'HEAD') {
        const open = path === '/health' || path === '/ready';
        if (
          !open &&
          config.inbound.protectOperations &&
          keyHashes.length > 0 &&
          callerKey(req) === undefined
        ) {
          fail(401, 'unauthorized', 'API key required', `Send a valid key in the ${apiKeyHeader} header`);
          return 'refused';
        }
        const op =
          OPERATIONS.has(path) || path.startsWith('/metrics/')
            ? (path.split('/')[1] ?? 'unknown')
            : undefined;
        if (op) meta.route = op;
        if (op) {
          res.setHeader(requestIdHeader, requestId);
          if (draining) res.setHeader('connection', 'close');
          if (await operations(res, path)) return op;
        }
      }
      fail(
        404,
        'unknown-upstream',
        'Unknown upstream',
        `No upstream is configured under "/${name.slice(0, 64)}"`,
      );
      return 'unknown';
    }

    const caller = callerKey(req);
    if (caller === undefined) {
      fail(401, 'unauthorized', 'API key required', `Send a valid key in the ${apiKeyHeader} header`, {
        'www-authenticate': `ApiKey header="${apiKeyHeader}"`,
      });
      return name;
    }
    if (inboundLimit) {
      const key =
        inboundLimit.by === 'global'
          ? '*'
          : inboundLimit.by === 'key'
            ? `k:${caller}`
            : `ip:${req.socket.remoteAddress ?? ''}`;
      const wait = takeInbound(key);
      if (wait > 0) {
        fail(429, 'rate-limited', 'Too many requests', 'The gateway inbound rate limit was reached', {
          'retry-after': String(Math.max(1, Math.ceil(wait / 1000))),
        });
        return name;
      }
    }
    const method = req.method ?? 'GET';
    if (upstream.config.methods && !upstream.config.methods.includes(method as never)) {
      fail(
        405,
        'method-not-allowed',
        'Method not allowed',
        `${method.slice(0, 16)} is not allowed on "${name}"`,
        {
          allow: upstream.config.methods.join(', '),
        },
      );
      return name;
    }
    const rest = second === -1 ? '/' : path.slice(second);
    const allowed = patterns.get(name);
    if (allowed && !allowed.some((re) => re.test(rest))) {
      fail(403, 'path-not-allowed', 'Path not allowed', `This path is not exposed on "${name}"`);
      return name;
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    const limit = upstream.config.maxBodySize ?? bodyLimit;
    if (declared > limit) {
      fail(413, 'body-too-large', 'Request body too large', `The body may be at most ${limit} bytes`);
      return name;
    }

    // Headers: drop hop-by-hop ones, the caller's API key and request id (forwarded from the ambient context).
    const drop = hopByHop(req.headers.connection);
    const headers: Record<string, string> = {};
    const inboundHeaders = req.headers;
    for (const key in inboundHeaders) {
      const value = inboundHeaders[key];
      if (value === undefined || drop.has(key) || key === requestIdHeader) continue;
      if (keyHashes.length > 0 && key === apiKeyHeader) continue;
      headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const remote = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = headers['x-forwarded-for']
      ? `${headers['x-forwarded-for']}, ${remote}`
      : remote;
    headers['x-forwarded-proto'] = 'encrypted' in req.socket ? 'https' : 'http';
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;

    let limiter: LimitStream | undefined;
    if (hasBody) {
      limiter = new LimitStream(limit);
      req.pipe(limiter);
      req.on('error', (error) => limiter?.destroy(error));
    }
    // The request id goes out as a header directly: entering AsyncLocalStorage per request would make every
    // promise in the process carry context.
    headers[requestIdHeader] = requestId;
    // Aborted by the server callback's one 'close' listener when the caller leaves early. (A second per-request
    // closure on `res` measurably kept whole requests alive across young-generation GCs.)
    const abort = new CallAbort();
    meta.abort = abort;
    upstream.stats.requests++;
    upstream.stats.inFlight++;
    try {
      let response: HttpResponse;
      try {
        // Braces would read as path parameters: send them encoded.
        const target =
          rest.includes('{') || rest.includes('}') ? rest.replace(/[{}]/g, encodeURIComponent) : rest;
        const options: TrustedCallOptions = {
          headers,
          [TRUSTED_HEADERS]: true,
          ...(limiter && { body: limiter }),
          signal: abort,
          throwHttpErrors: false,
        };
        response = await upstream.client.request(method, target + query, options);
      } catch (thrown) {
        upstream.stats.errors++;
        if (limiter?.exceeded) {
          fail(413, 'body-too-large', 'Request body too large', `The body may be at most ${limit} bytes`);
          return name;
        }
        if (res.destroyed) return name;
        const error: ReqforgeError = isReqforgeError(thrown)
          ? thrown
          : (Object.assign(new Error(String(thrown)), { code: 'ERR_UNKNOWN' }) as unknown as ReqforgeError);
        const mapping = problemFor(error);
        logger?.warn(
          { requestId, upstream: name, err: isReqforgeError(thrown) ? thrown.toJSON() : String(thrown) },
          'upstream call failed',
        );
        fail(
          mapping.status,
          mapping.slug,
          mapping.title,
          `${mapping.title} ("${name}", ${error.code})`,
          mapping.retryAfter === undefined ? {} : { 'retry-after': String(mapping.retryAfter) },
        );
        return name;
      }
      const out: Record<string, string | string[]> = {};
      const dropOut = hopByHop(response.headers.connection);
      const upstreamHeaders = response.headers;
      for (const key in upstreamHeaders) {
        const value = upstreamHeaders[key];
        if (value === undefined || dropOut.has(key)) continue;
        out[key] = value;
      }
      out[requestIdHeader] = requestId;
      if (draining) out.connection = 'close';
      res.writeHead(response.status, out);
      if (method === 'HEAD' || response.status === 204 || response.status === 304) {
        await response.dump();
        res.end();
        return name;
      }
      // Streams with backpressure; a failing body destroys `res`, a caller who leaves stops the upstream exchange.
      await response.pipeTo(res).catch(ignoreRelayError);
      return name;
    } finally {
      upstream.stats.inFlight--;
    }
  };

  // Node checks header and request timeouts on this interval; keep it well below the headers timeout.
  const checkEvery = Math.max(50, Math.min(30_000, Math.floor(config.limits.headersTimeout / 4)));
  const server = createServer({ connectionsCheckingInterval: checkEvery }, (req, res) => {
    inFlight++;
    const start = performance.now();
    const meta: RequestMeta = { route: 'unknown', requestId: '' };
    res.on('close', () => {
      if (meta.abort && !res.writableFinished) meta.abort.abort(new AbortError());
      inFlight--;
      if (serverDuration) {
        const method = KNOWN.has(req.method ?? '') ? (req.method as string) : '_OTHER';
        // Routes are upstream names or a fixed set, so the children stay bounded.
        serverDuration
          .series3(method, meta.route, String(res.statusCode))
          .observe((performance.now() - start) / 1000);
      }
      if (draining && inFlight === 0) drained?.();
    });
    handle(req, res, meta).catch((error: unknown) => {
      logger?.error({ err: String(error) }, 'gateway handler failed');
      sendProblem(
        res,
        makeProblem(
          500,
          'internal',
          'Internal gateway error',
          'The gateway failed to handle the request',
          '',
          meta.requestId,
        ),
        meta.requestId ? { [requestIdHeader]: meta.requestId } : {},
      );
    });
  });
  server.headersTimeout = config.limits.headersTimeout;
  server.requestTimeout = config.limits.requestTimeout;
  server.keepAliveTimeout = config.limits.keepAliveTimeout;
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    const body = JSON.stringify({
      type: 'urn:reqforge:problem:bad-request-target',
      title: 'Request target refused',
      status: 400,
      detail: 'CONNECT is not supported: this gateway is not an open proxy',
    });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const [status, reason, detail] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'The request headers are too large']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'The request did not arrive in time']
          : [400, 'Bad Request', 'The request could not be parsed'];
    const body = JSON.stringify({
      type: `urn:reqforge:problem:${status === 408 ? 'request-timeout' : 'bad-request'}`,
      title: reason,
      status,
      detail,
    });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  const host = options.host ?? config.listen.host;
  const port = options.port ?? config.listen.port;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger?.info(
    { url: `http://${shown}:${address.port}`, upstreams: [...upstreams.keys()] },
    'gateway listening',
  );

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${address.port}`,
    server,
    config,
    metrics,
    upstreams,
    get inFlight() {
      return inFlight;
    },
    status,
    close(closeOptions = {}) {
      closing ??= (async () => {
        draining = true;
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
        for (const socket of sockets) socket.destroy();
        await stopped;
        await Promise.allSettled(
          [...upstreams.values()].map(async (u) => {
            await u.auth?.close?.();
            await u.client.close();
          }),
        );
        if (ownsStore) await store?.close();
        logger?.info({}, 'gateway stopped');
      })();
      return closing;
    },
  };
}

const OPERATIONS = new Set(['/health', '/ready', '/metrics', '/status', '/status.json']);
const KNOWN = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
