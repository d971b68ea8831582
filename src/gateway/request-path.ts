/**
 * The gateway's request path, as a chain of stages: admission (request id, target, API key, inbound limit,
 * exposure, body limit), then either operations or forward (header policy, the upstream's client), then
 * respond (response-header policy, relay). Every refusal and failure is answered through the problem module.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallAbort } from '../core/context.js';
import { isReqforgeError, type ReqforgeError } from '../core/errors.js';
import type { HttpResponse } from '../core/response.js';
import type { Logger } from '../observability/logging.js';
import { type Admission, bodyTooLarge, hasBody, type Refusal } from './admission.js';
import type { GatewayConfig } from './config.js';
import {
  exposed,
  forward,
  type HeaderPolicy,
  replayableBody,
  selectUpstream,
  upstreamHeaders,
} from './forward.js';
import { DATA_CSP, type Operations, operationFor } from './operations.js';
import { makeProblem, problemFor, sendProblem } from './problem.js';
import type { RequestLog } from './request-log.js';
import { relay, responseHeaders } from './respond.js';
import { Outcome, type OutcomeKind, outcomeOfStatus } from './status-recorder.js';
import type { GatewayTelemetry } from './telemetry.js';
import { GatewayCall, isTimeout } from './upstream-health.js';
import type { UpstreamRuntime } from './upstreams.js';

/** What the request path tells the server callback (for metrics, the caller leaving and the last-resort error). */
export interface RequestMeta {
  /** The metrics route: an upstream name, an operations endpoint or `unknown`. */
  route: string;
  requestId: string;
  /** When the request arrived (`performance.now()`), read once by the server for its metrics and the status page. */
  start?: number;
  /** The upstream call's abort, once there is one: the caller going away aborts it. */
  abort?: CallAbort;
  /** Attempts the upstream call made (set only when the access log is on). */
  attempts?: number;
  /** The caller's connection's `bytesWritten` when the request arrived (set only when the access log is on). */
  bytesBefore?: number;
}

/** What the request path is built from. */
export interface RequestPathDeps {
  readonly config: GatewayConfig;
  readonly admission: Admission;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly operations: Operations;
  readonly telemetry: GatewayTelemetry;
  readonly security: Readonly<Record<string, string>>;
  readonly logger: Logger | undefined;
  /** The access and debug lines, when a logger is set. */
  readonly requestLog?: RequestLog | undefined;
  /** Whether the gateway is shutting down (responses then close their connection). */
  readonly draining: () => boolean;
}

function unknownUpstream(name: string): Refusal {
  return {
    status: 404,
    slug: 'unknown-upstream',
    title: 'Unknown upstream',
    detail: `No upstream is configured under "/${name.slice(0, 64)}"`,
  };
}

const CALLER_TOO_SLOW: Refusal = {
  status: 408,
  slug: 'request-timeout',
  title: 'Request Timeout',
  detail: 'The request body did not arrive in time',
};

/** Problem slugs that are the upstream policies' refusals, not failures (logged at debug, see `#failed`). */
const REFUSALS: ReadonlySet<string> = new Set([
  'circuit-open',
  'rate-limited',
  'too-many-in-flight',
  'overloaded',
  'aborted',
]);

/** Attempts a failed call made: its error's `attempts` (retries exhausted, HTTP errors), else 1. */
function attemptsOf(thrown: unknown): number {
  const attempts = (thrown as { attempts?: unknown } | undefined)?.attempts;
  return typeof attempts === 'number' ? attempts : 1;
}

/** One request on its way through the stages. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  /** The path, cut to 200 characters, as the problem's `instance`. */
  readonly instance: string;
}

/** The request path of one gateway. */
export class RequestPath {
  readonly #d: RequestPathDeps;
  readonly #headerPolicy: HeaderPolicy;
  /** The client address reader a call's bulkhead key uses (bound once, not per request). */
  readonly #addressOf: (req: IncomingMessage) => string;
  /** The debug lines, only when the logger writes `debug` (decided once: none is built otherwise). */
  readonly #debug: RequestLog | undefined;
  /** Whether the access log wants the attempts of each call. */
  readonly #access: boolean;

  constructor(deps: RequestPathDeps) {
    this.#d = deps;
    this.#debug = deps.requestLog?.debug === true ? deps.requestLog : undefined;
    this.#access = deps.requestLog?.access === true;
    const { admission } = deps;
    this.#addressOf = (req) => admission.clientAddress(req);
    this.#headerPolicy = {
      requestIdHeader: admission.requestIdHeader,
      apiKeyHeader: admission.keysConfigured ? admission.apiKeyHeader : undefined,
      trustProxy: deps.config.trustProxy,
      ownHost: '',
    };
  }

  /** Sets the `host:port` the gateway listens on, sent as `X-Forwarded-Host` unless a trusted proxy sent one. */
  listening(host: string): void {
    this.#headerPolicy.ownHost = host;
  }

  /** Handles one request; resolves once the response is written (or the caller left). */
  async handle(req: IncomingMessage, res: ServerResponse, meta: RequestMeta): Promise<void> {
    const { admission, upstreams } = this.#d;
    const requestId = admission.requestId(req);
    meta.requestId = requestId;
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const x: Exchange = {
      req,
      res,
      requestId,
      instance: path.length > 200 ? `${path.slice(0, 200)}…` : path,
    };

    const method = req.method ?? 'GET';
    const badTarget = admission.target(method, path);
    if (badTarget) return this.refuse(x, badTarget);
    const op = this.#d.config.operations === undefined ? operationFor(method, path) : undefined;
    if (op) return this.#operation(x, op, path, meta);
    // Inbound auth comes before any upstream lookup: without a key, every path answers the same 401.
    const caller = admission.caller(req);
    if (caller === undefined) return this.refuse(x, admission.refuseKey(req));
    const route = selectUpstream(path, upstreams);
    const upstream = route.upstream;
    if (!upstream) return this.refuse(x, unknownUpstream(route.name));
    meta.route = route.name;
    let limited = admission.limit(req, caller);
    // A shared inbound limit answers after its Redis round trip; a limit per replica at once (no await).
    if (limited instanceof Promise) limited = await limited;
    const refusal =
      limited ?? exposed(upstream, method, route.rest) ?? admission.declaredBody(req, upstream.bodyLimit);
    if (refusal) {
      upstream.live.record(Outcome.refused, 0);
      return this.refuse(x, refusal);
    }

    const headers = upstreamHeaders(req, upstream, this.#headerPolicy, requestId);
    const body = admission.body(req, upstream.bodyLimit);
    // Aborted by the server callback's one 'close' listener when the caller leaves early. (A second per-request
    // closure on `res` measurably kept whole requests alive across young-generation GCs.)
    const abort = new GatewayCall();
    abort.body = body;
    abort.caller = caller;
    abort.req = req;
    abort.addressOf = this.#addressOf;
    meta.abort = abort;
    upstream.stats.requests++;
    upstream.stats.inFlight++;
    // The server's arrival time (one clock read per request serves both), else the recorder's clock.
    const started = meta.start ?? upstream.live.now();
    let outcome: OutcomeKind = Outcome.aborted;
    try {
      let response: HttpResponse;
      try {
        // Kept in memory when the request may be retried (issue 12, item 10), else streamed. A stream goes on in
        // the same tick: its error listeners must be attached before it can fail.
        let sent = body && replayableBody(req, method, upstream, body, upstream.retryBodySize);
        if (sent instanceof Promise) sent = await sent;
        const target = route.rest + (q === -1 ? '' : raw.slice(q));
        if (this.#debug) this.#debug.upstreamRequest(requestId, upstream, method, target, headers, sent);
        response = await forward(upstream, method, target, headers, sent, abort);
      } catch (thrown) {
        if (this.#access) meta.attempts = attemptsOf(thrown);
        outcome = this.#failed(x, upstream, thrown, abort);
        return;
      }
      if (this.#access) meta.attempts = response.attempts;
      if (this.#debug) this.#debug.upstreamResponse(requestId, upstream, response);
      outcome = outcomeOfStatus(response.status);
      const out = responseHeaders(
        response,
        upstream,
        admission.requestIdHeader,
        requestId,
        this.#d.draining(),
      );
      await relay(res, method, response, out);
    } finally {
      upstream.stats.inFlight--;
      // The status page's live numbers: one call per request, no allocation (status-recorder.ts).
      upstream.live.record(outcome, started);
    }
  }

  /** Handles a request on the separate operations address (`operations.listen`): operations only, else 404. */
  async handleOperations(req: IncomingMessage, res: ServerResponse, meta: RequestMeta): Promise<void> {
    const requestId = this.#d.admission.requestId(req);
    meta.requestId = requestId;
    const path = (req.url ?? '').split('?')[0] ?? '';
    const x: Exchange = {
      req,
      res,
      requestId,
      instance: path.length > 200 ? `${path.slice(0, 200)}…` : path,
    };
    const badTarget = this.#d.admission.target(req.method, path);
    if (badTarget) return this.refuse(x, badTarget);
    const op = operationFor(req.method ?? 'GET', path);
    if (op) return this.#operation(x, op, path, meta);
    this.refuse(x, unknownUpstream(selectUpstream(path, new Map()).name));
  }

  /** Answers a refusal with a problem document. A refused request's body is not read: its connection closes. */
  refuse(x: Exchange, refusal: Refusal): void {
    this.#d.telemetry.rejected(refusal.slug);
    const problem = makeProblem(
      refusal.status,
      refusal.slug,
      refusal.title,
      refusal.detail,
      x.instance,
      x.requestId,
    );
    const close = this.#d.draining() || hasBody(x.req);
    sendProblem(
      x.res,
      problem,
      {
        ...refusal.headers,
        [this.#d.admission.requestIdHeader]: x.requestId,
        ...(close && { connection: 'close' }),
      },
      this.#d.security,
    );
  }

  /** An operations endpoint (access is decided by `Operations.serve`); 404 when it is off. */
  async #operation(x: Exchange, op: string, path: string, meta: RequestMeta): Promise<void> {
    const { admission, operations } = this.#d;
    meta.route = op;
    const headers: Record<string, string> = { [admission.requestIdHeader]: x.requestId };
    if (this.#d.draining()) headers.connection = 'close';
    const answer = await operations.serve(x.req, x.res, op, path, headers);
    if (answer === true) return;
    if (answer === false) meta.route = 'unknown';
    const refusal = answer === false ? unknownUpstream(op) : answer;
    // Operations problems carry the operations CSP like every other operations answer.
    this.refuse(x, { ...refusal, headers: { ...refusal.headers, 'content-security-policy': DATA_CSP } });
  }

  /**
   * Answers a failed upstream call: the caller's oversized body as 413, the caller's body not arriving in
   * time as 408 (the caller's timeout, not the upstream's 504), library errors by their mapping. Returns the
   * outcome class the status page counts.
   */
  #failed(x: Exchange, upstream: UpstreamRuntime, thrown: unknown, call: GatewayCall): OutcomeKind {
    const body = call.body;
    if (body?.exceeded) {
      this.refuse(x, bodyTooLarge(body.limit));
      return Outcome.aborted;
    }
    if (x.res.destroyed) return Outcome.aborted;
    const error: ReqforgeError = isReqforgeError(thrown)
      ? thrown
      : (Object.assign(new Error(String(thrown)), { code: 'ERR_UNKNOWN' }) as unknown as ReqforgeError);
    if (isTimeout(error) && call.callerAtFault()) {
      this.refuse(x, CALLER_TOO_SLOW);
      return Outcome.aborted;
    }
    const mapping = problemFor(error);
    // A refusal by the upstream's own policies (open breaker, rate limit, full bulkhead) or a caller who left is no
    // warning per request: the breaker's transition and the limiter's sampled line say why, and
    // reqforge_gateway_rejected_total counts each. Those go to debug; real failures stay at warn.
    const logger = this.#d.logger;
    const refused = REFUSALS.has(mapping.slug);
    if (logger && (!refused || this.#debug)) {
      const fields = {
        requestId: x.requestId,
        upstream: upstream.name,
        err: isReqforgeError(thrown) ? thrown.toJSON() : String(thrown),
      };
      if (refused) logger.debug(fields, 'upstream call failed');
      else logger.warn(fields, 'upstream call failed');
    }
    this.refuse(x, {
      status: mapping.status,
      slug: mapping.slug,
      title: mapping.title,
      detail: `${mapping.title} ("${upstream.name}", ${error.code})`,
      ...(mapping.retryAfter !== undefined && { headers: { 'retry-after': String(mapping.retryAfter) } }),
    });
    return outcomeOfProblem(mapping.slug);
  }
}

/** The status page's class of a failed call, by its problem slug: no answer from the upstream, or a refusal. */
function outcomeOfProblem(slug: string): OutcomeKind {
  if (slug === 'upstream-timeout' || slug === 'upstream-unreachable' || slug === 'bad-gateway') {
    return Outcome.network;
  }
  return slug === 'aborted' ? Outcome.aborted : Outcome.refused;
}
