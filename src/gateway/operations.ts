/**
 * Operations, the gateway's own endpoints: `/health` (the process is up), `/ready` (it can serve),
 * `/metrics` (Prometheus, whole or by name prefix) and `/status` (an HTML page, or JSON at `/status.json`).
 */
import type { ServerResponse } from 'node:http';
import { metricsText } from '../observability/metrics.js';
import type { GatewayConfig } from './config.js';
import { makeProblem, sendProblem } from './problem.js';
import { type GatewayStatus, renderStatusPage } from './status-page.js';
import type { StoreHealth, StoreHealthReport } from './store.js';
import type { GatewayUpstream } from './upstreams.js';

const ENDPOINTS = new Set(['/health', '/ready', '/metrics', '/status', '/status.json']);

/** The operations endpoint a GET path names (its route label), or undefined. */
export function operationFor(path: string): string | undefined {
  if (ENDPOINTS.has(path)) return path === '/status.json' ? 'status.json' : path.slice(1);
  return path.startsWith('/metrics/') ? 'metrics' : undefined;
}

/** What the operations endpoints read. */
export interface OperationsDeps {
  readonly config: GatewayConfig;
  readonly registry: import('prom-client').Registry | undefined;
  readonly upstreams: ReadonlyMap<string, GatewayUpstream>;
  /** The token store's health, when there is a shared store (`memory` has none). */
  readonly store: StoreHealth | undefined;
  /** Extra readiness check (see `GatewayOptions.ready`). */
  readonly ready: (() => boolean | Promise<boolean>) | undefined;
  /** Whether the gateway is shutting down. */
  readonly draining: () => boolean;
  /** The security headers of this gateway. */
  readonly security: Readonly<Record<string, string>>;
}

/** The operations endpoints of one gateway. */
export class Operations {
  readonly #deps: OperationsDeps;
  readonly #startedAt = Date.now();

  constructor(deps: OperationsDeps) {
    this.#deps = deps;
  }

  /**
   * Whether the gateway can serve: not draining, the injected check passes and, with `ready.requireStore`, the
   * token store answers (probed afresh). `store` is the store's health (reported whether or not it is required).
   */
  async readiness(): Promise<{ ready: boolean; store: StoreHealthReport | undefined }> {
    const { ready, store, config } = this.#deps;
    const health = await store?.check();
    if (this.#deps.draining()) return { ready: false, store: health };
    try {
      if (ready && !(await ready())) return { ready: false, store: health };
    } catch {
      return { ready: false, store: health };
    }
    return { ready: !(config.ready.requireStore && health?.up === false), store: health };
  }

  /** Whether the gateway can serve (see {@link readiness}). */
  async isReady(): Promise<boolean> {
    return (await this.readiness()).ready;
  }

  /** The status document (safe to show: secrets are redacted by each upstream's status row). */
  async status(): Promise<GatewayStatus> {
    const { ready, store } = await this.readiness();
    return {
      ready,
      draining: this.#deps.draining(),
      uptimeSeconds: (Date.now() - this.#startedAt) / 1000,
      ...(store && { store }),
      upstreams: [...this.#deps.upstreams.values()].map((u) => u.status()),
    };
  }

  /** Answers an operations path; returns false when the endpoint is off (the caller answers 404). */
  async serve(res: ServerResponse, path: string, headers: Record<string, string>): Promise<boolean> {
    const { config, registry } = this.#deps;
    if (path === '/health') {
      this.#send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }), headers);
      return true;
    }
    if (path === '/ready') {
      const { ready, store } = await this.readiness();
      const draining = this.#deps.draining();
      if (!ready && store?.up === false && !draining) {
        // `ready.requireStore` and the store is down: say which dependency, as a problem.
        const problem = makeProblem(
          503,
          'store-unavailable',
          'Token store unavailable',
          `The ${store.name} token store does not answer (ready.requireStore is on)`,
          path,
          headers[config.requestIdHeader] ?? '',
          { dependency: 'store', store },
        );
        sendProblem(res, problem, headers, this.#deps.security);
        return true;
      }
      const body = JSON.stringify({
        status: ready ? 'ready' : 'not ready',
        draining,
        ...(store && { store }),
      });
      this.#send(res, ready ? 200 : 503, 'application/json', body, headers);
      return true;
    }
    if (registry && (path === '/metrics' || path.startsWith('/metrics/'))) {
      const prefix = path === '/metrics' ? undefined : decodeURIComponent(path.slice('/metrics/'.length));
      this.#send(res, 200, registry.contentType, await metricsText(registry, prefix), headers);
      return true;
    }
    if (config.status.enabled && (path === '/status' || path === '/status.json')) {
      const doc = await this.status();
      if (path === '/status.json') this.#send(res, 200, 'application/json', JSON.stringify(doc), headers);
      else {
        this.#send(
          res,
          200,
          'text/html; charset=utf-8',
          renderStatusPage(doc, config.status.refresh / 1000),
          {
            ...headers,
            'content-security-policy':
              "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
          },
        );
      }
      return true;
    }
    return false;
  }

  #send(
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    headers: Record<string, string>,
  ): void {
    res.writeHead(status, {
      ...this.#deps.security,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}
