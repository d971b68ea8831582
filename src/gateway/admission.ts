/**
 * Admission, the first stage of a gateway request: its request id, the caller's API key, the inbound rate
 * limit, the body limit and path safety. Each check answers with a {@link Refusal} (or nothing), which the
 * server turns into a problem response; nothing here talks to an upstream.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { BodyTooLargeError } from '../core/errors.js';
import { type LimitStoreOptions, RedisRateLimiter } from '../limits/redis-limiter.js';
import type { Logger } from '../observability/logging.js';
import type { Metrics } from '../observability/metrics.js';
import { type RateLimiter, type Reservation, TokenBucketLimiter } from '../policies/rate-limit.js';
import type { GatewayConfig } from './config.js';
import { unsafePathReason } from './path-safety.js';
import { sharedLimitOptions } from './shared-limits.js';

/** Why the gateway refuses a request itself, before or instead of forwarding it. */
export interface Refusal {
  readonly status: number;
  /** The problem type's slug (also the `reason` label of the rejected-requests metric). */
  readonly slug: string;
  readonly title: string;
  readonly detail: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** A counting pass-through that fails once more than `limit` bytes went by. */
export class LimitStream extends Transform {
  /** Bytes seen so far. */
  seen = 0;
  /** Whether the body went over the limit. */
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

/** The refusal for a body over `limit` bytes. */
export function bodyTooLarge(limit: number): Refusal {
  return {
    status: 413,
    slug: 'body-too-large',
    title: 'Request body too large',
    detail: `The body may be at most ${limit} bytes`,
  };
}

/** The admission checks of one gateway, built once from its configuration. */
export class Admission {
  /** The header carrying request ids, lower-cased. */
  readonly requestIdHeader: string;
  /** The header carrying inbound API keys, lower-cased. */
  readonly apiKeyHeader: string;
  /** Whether inbound API keys are configured (then every proxied request needs one). */
  readonly keysConfigured: boolean;
  /** The refusal for a missing or wrong API key: the same for every path and method. */
  readonly unauthorized: Refusal;
  /** Whether `/metrics` and `/status` need a key (`inbound.protectOperations`, default: when keys are set). */
  readonly protectOperations: boolean;
  readonly #failedKeys: TokenBucketLimiter;
  readonly #keys: readonly { readonly name: string; readonly hash: Buffer }[];
  readonly #limiter: RateLimiter | undefined;
  readonly #limitBy: 'global' | 'ip' | 'key';
  readonly #trustProxy: boolean;

  constructor(
    config: GatewayConfig,
    deps: {
      /** The gateway's Redis connection options, for `inbound.rateLimit.shared`. */
      readonly limitStore?: LimitStoreOptions | undefined;
      readonly logger?: Logger | undefined;
      readonly metrics?: Metrics | undefined;
    } = {},
  ) {
    this.requestIdHeader = config.requestIdHeader;
    this.apiKeyHeader = config.inbound.apiKeyHeader;
    this.#keys = (config.inbound.apiKeys ?? []).map((k) => ({
      name: k.name,
      hash: Buffer.from(k.sha256, 'hex'),
    }));
    this.keysConfigured = this.#keys.length > 0;
    this.unauthorized = {
      status: 401,
      slug: 'unauthorized',
      title: 'API key required',
      detail: `Send a valid key in the ${this.apiKeyHeader} header`,
      headers: { 'www-authenticate': `ApiKey header="${this.apiKeyHeader}"` },
    };
    this.protectOperations = this.keysConfigured && (config.inbound.protectOperations ?? true);
    const failed = config.inbound.failedKeyLimit;
    this.#failedKeys = new TokenBucketLimiter({
      limit: failed.limit,
      window: failed.window,
      maxKeys: 10_000,
    });
    const limit = config.inbound.rateLimit;
    // The library's token bucket, keyed by caller; `burst` defaults to a full window as there. With `shared: true`,
    // the same limit on Redis for every replica (the config check made sure the store is Redis).
    const windows = limit && {
      limit: limit.limit,
      window: limit.window,
      ...(limit.burst !== undefined && { burst: limit.burst }),
      maxKeys: 10_000,
    };
    const shared = limit && sharedLimitOptions('inbound', limit, deps.limitStore, deps);
    if (windows && shared?.store) {
      const limiter = new RedisRateLimiter({ ...windows, ...shared } as never);
      // Heartbeats from the start: every replica counts the others before Redis can fail.
      void limiter.connect();
      this.#limiter = limiter;
    } else {
      this.#limiter = windows && new TokenBucketLimiter(windows);
    }
    this.#limitBy = limit?.by ?? 'ip';
    this.#trustProxy = config.trustProxy;
  }

  /** The caller's request id when it is safe to echo and forward, a fresh UUID otherwise. */
  requestId(req: IncomingMessage): string {
    const given = req.headers[this.requestIdHeader];
    const inbound = Array.isArray(given) ? given[0] : given;
    return inbound && REQUEST_ID.test(inbound) ? inbound : randomUUID();
  }

  /** Refuses CONNECT and request targets that are not safe paths (see `unsafePathReason`). */
  target(method: string | undefined, path: string): Refusal | undefined {
    const unsafe = method === 'CONNECT' ? undefined : unsafePathReason(path);
    if (method !== 'CONNECT' && unsafe === undefined) return undefined;
    return {
      status: 400,
      slug: 'bad-request-target',
      title: 'Request target refused',
      detail: unsafe ?? 'CONNECT is not supported: this gateway is not an open proxy',
    };
  }

  /** The name of the caller's API key; `''` when no keys are configured, undefined when the key is missing or wrong. */
  caller(req: IncomingMessage): string | undefined {
    if (!this.keysConfigured) return '';
    const raw = req.headers[this.apiKeyHeader];
    const given = Array.isArray(raw) ? raw[0] : raw;
    if (!given) return undefined;
    return this.keyName(given);
  }

  /** The name of the configured API key `given` is, or undefined (every key compared, in constant time). */
  keyName(given: string): string | undefined {
    const hash = createHash('sha256').update(given).digest();
    let match: string | undefined;
    // Compare with every key (no early exit), in constant time each.
    for (const k of this.#keys) if (timingSafeEqual(hash, k.hash)) match ??= k.name;
    return match;
  }

  /**
   * The answer to a request without a valid key: the same 401 everywhere, or 429 once this client address sent
   * more wrong keys than `inbound.failedKeyLimit` allows. Only wrong keys count, so a valid key is never refused.
   */
  refuseKey(req: IncomingMessage): Refusal {
    if (!req.headers[this.apiKeyHeader]) return this.unauthorized;
    return this.refuseWrongKey(req);
  }

  /**
   * Counts a wrong key from this client address (a wrong key in the header, or a failed status page login) and
   * answers 401, or 429 once the address is over `inbound.failedKeyLimit`.
   */
  refuseWrongKey(req: IncomingMessage): Refusal {
    const reservation = this.#failedKeys.reserve(this.clientAddress(req), 0);
    if (reservation.ok) return this.unauthorized;
    return tooMany(
      'too-many-failed-keys',
      'Too many wrong API keys',
      'Too many wrong API keys from this address; try again later',
      reservation.retryAfter,
    );
  }

  /**
   * Takes a permit of the inbound rate limit for this caller, or refuses with `Retry-After`. A shared limit answers
   * after its Redis round trip (a promise); a limit per replica answers at once.
   */
  limit(req: IncomingMessage, caller: string): Refusal | undefined | Promise<Refusal | undefined> {
    if (!this.#limiter) return undefined;
    const by = this.#limitBy;
    const key = by === 'global' ? '*' : by === 'key' ? `k:${caller}` : `ip:${this.clientAddress(req)}`;
    const reservation = this.#limiter.reserve(key, 0);
    return reservation instanceof Promise ? reservation.then(limited, limitUnchecked) : limited(reservation);
  }

  /** Stops a shared inbound limit's heartbeats and closes its Redis connection. */
  async close(): Promise<void> {
    if (this.#limiter instanceof RedisRateLimiter) await this.#limiter.close();
  }

  /**
   * The caller's address: the socket's peer, or with `trustProxy` the address the trusted proxy in front saw
   * (the last `X-Forwarded-For` entry, which that proxy appended).
   */
  clientAddress(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    if (!this.#trustProxy) return peer;
    const forwarded = req.headers['x-forwarded-for'];
    const list = Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
    const last = list?.slice(list.lastIndexOf(',') + 1).trim();
    return last || peer;
  }

  /** Refuses a declared `Content-Length` over `limit`. */
  declaredBody(req: IncomingMessage, limit: number): Refusal | undefined {
    const declared = req.headers['content-length'];
    return declared !== undefined && Number(declared) > limit ? bodyTooLarge(limit) : undefined;
  }

  /** The request body as a stream that fails past `limit` bytes, or undefined when there is no body. */
  body(req: IncomingMessage, limit: number): LimitStream | undefined {
    if (!hasBody(req)) return undefined;
    const limiter = new LimitStream(limit);
    req.pipe(limiter);
    req.on('error', (error) => limiter.destroy(error));
    return limiter;
  }
}

/** Whether the request announces a body (a non-zero `Content-Length` or any `Transfer-Encoding`). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** The inbound limit's answer: nothing when granted, a 429 with `Retry-After` when not. */
function limited(reservation: Reservation): Refusal | undefined {
  if (reservation.ok) return undefined;
  return tooMany(
    'rate-limited',
    'Too many requests',
    'The gateway inbound rate limit was reached',
    reservation.retryAfter,
  );
}

/** A shared inbound limit whose Redis is down with `onStoreDown: closed`: the request is refused, 503. */
function limitUnchecked(): Refusal {
  return {
    status: 503,
    slug: 'rate-limit-unavailable',
    title: 'Rate limit unavailable',
    detail: 'The shared inbound rate limit cannot be checked right now; try again shortly',
    headers: { 'retry-after': '1' },
  };
}

/** A 429 refusal with `Retry-After` in whole seconds (at least 1) for a wait of `retryAfterMs`. */
function tooMany(slug: string, title: string, detail: string, retryAfterMs: number): Refusal {
  return {
    status: 429,
    slug,
    title,
    detail,
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  };
}
