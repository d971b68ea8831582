import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Rate-limit answers the sandbox gives: 429 with `Retry-After`. */
export interface RateLimitFault {
  /** Share of requests (0..1) answered with 429. */
  readonly rate: number;
  /**
   * Seconds sent in `Retry-After`.
   * @default 1
   */
  readonly retryAfter?: number;
}

/** A fixed-window limit the sandbox enforces and advertises with `RateLimit-*` headers. */
export interface RateLimitHeadersFault {
  /** Requests allowed per window. */
  readonly limit: number;
  /**
   * Window length in seconds.
   * @default 1
   */
  readonly window?: number;
}

/**
 * Faults injected into every `/api` request, each drawn independently from the seeded generator.
 * Rates are shares between 0 and 1.
 */
export interface SandboxFaults {
  /** Share of requests answered with {@link SandboxFaults.status}. */
  readonly errorRate?: number;
  /**
   * Status used for `errorRate` faults.
   * @default 503
   */
  readonly status?: number;
  /** Share of requests answered 429 with `Retry-After`. */
  readonly rateLimit429?: RateLimitFault;
  /** Delay added before every answer, in ms. */
  readonly latencyMs?: number;
  /** Share of requests whose connection is reset (no response). */
  readonly resetRate?: number;
  /** Share of requests that never get an answer (until the client gives up). */
  readonly hangRate?: number;
  /** Share of JSON answers whose body is cut off (malformed JSON with status 200). */
  readonly malformedJsonRate?: number;
  /** Enforce and advertise a fixed-window limit with `RateLimit-Limit/Remaining/Reset` headers. */
  readonly rateLimitHeaders?: RateLimitHeadersFault | false;
}

/** Options of {@link createUpstreamHandler} and {@link startSandboxUpstream}. */
export interface SandboxUpstreamOptions {
  /**
   * Seed of the fault generator: the same seed and request order give the same faults.
   * @default 1
   */
  readonly seed?: number;
  /** Faults injected from the start; change them later with `setFaults`. */
  readonly faults?: SandboxFaults;
  /**
   * Path prefix the API is served under.
   * @default '/api'
   */
  readonly basePath?: string;
  /** Clock for rate-limit windows, in ms. @default Date.now */
  readonly now?: () => number;
}

/** Counters of what the sandbox upstream did. */
export interface SandboxUpstreamStats {
  /** Requests seen under the base path. */
  requests: number;
  /** Faults injected, by kind (`status`, `429`, `reset`, `hang`, `malformed`, `limit`). */
  readonly faults: Record<string, number>;
}

/** A composable request handler: returns true when it handled the request. */
export interface UpstreamHandler {
  (req: IncomingMessage, res: ServerResponse): boolean;
  /** Replaces the global faults (not merged). */
  setFaults(faults: SandboxFaults): void;
  /** What happened so far. */
  stats(): SandboxUpstreamStats;
  /** Destroys hanging requests; call before closing the server. */
  releaseHanging(): void;
}

/** A running sandbox upstream. */
export interface SandboxUpstream {
  /** Origin such as `http://127.0.0.1:38211`; the API lives under `${url}/api`. */
  readonly url: string;
  /** The Node.js server. */
  readonly server: Server;
  /** Replaces the global faults. */
  setFaults(faults: SandboxFaults): void;
  /** What happened so far. */
  stats(): SandboxUpstreamStats;
  /** Stops the server, dropping open connections. */
  close(): Promise<void>;
}

interface Pet {
  readonly id: number;
  readonly name: string;
  readonly tag?: string;
}

/** mulberry32: tiny, fast and good enough for fault draws. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MAX_BYTES = 1024 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function problem(res: ServerResponse, status: number, title: string, detail?: string, headers = {}) {
  sendJson(
    res,
    status,
    { type: 'about:blank', title, status, ...(detail !== undefined && { detail }) },
    { 'content-type': 'application/problem+json', ...headers },
  );
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Creates the sandbox API handler for `/api/*`: pets, echo, bytes and headers endpoints with
 * fault injection, both global (`setFaults`) and per request:
 *
 * - `?fault=<status>` or `X-Sandbox-Fault: <status>` answers with that status (`429` adds `Retry-After`);
 *   `reset`, `hang` and `malformed` inject those faults instead.
 * - `?failTimes=N&faultKey=K` applies the fault only to the first N requests carrying key K (retry tests).
 * - `?latency=<ms>` or `X-Sandbox-Latency: <ms>` delays the answer.
 *
 * Returns false (and does nothing) for paths outside the base path, so it composes with other handlers.
 */
export function createUpstreamHandler(options: SandboxUpstreamOptions = {}): UpstreamHandler {
  const base = (options.basePath ?? '/api').replace(/\/$/, '');
  const random = generator(options.seed ?? 1);
  const now = options.now ?? Date.now;
  let faults: SandboxFaults = options.faults ?? {};
  const stats: SandboxUpstreamStats = { requests: 0, faults: {} };
  const hanging = new Set<ServerResponse>();
  const failCounts = new Map<string, number>();
  const pets = new Map<number, Pet>([
    [1, { id: 1, name: 'Rex', tag: 'dog' }],
    [2, { id: 2, name: 'Tom', tag: 'cat' }],
    [3, { id: 3, name: 'Nemo', tag: 'fish' }],
  ]);
  let nextId = 4;
  let window = { start: 0, count: 0 };

  const count = (kind: string) => {
    stats.faults[kind] = (stats.faults[kind] ?? 0) + 1;
  };

  const hang = (res: ServerResponse) => {
    count('hang');
    hanging.add(res);
    res.on('close', () => hanging.delete(res));
  };

  const reset = (req: IncomingMessage) => {
    count('reset');
    req.socket.destroy();
  };

  /** Applies a named fault; returns true when the request is answered (or dropped). */
  const applyFault = (fault: string, req: IncomingMessage, res: ServerResponse): boolean => {
    if (fault === 'reset') {
      reset(req);
      return true;
    }
    if (fault === 'hang') {
      hang(res);
      return true;
    }
    if (fault === 'malformed') return false;
    const status = Number(fault);
    if (!Number.isInteger(status) || status < 200 || status > 599) return false;
    count(String(status));
    if (status === 429) {
      problem(res, 429, 'Too Many Requests', 'Injected fault', { 'retry-after': '1' });
    } else {
      problem(res, status, 'Injected fault', `The sandbox answered ${status} on request`);
    }
    return true;
  };

  const route = (req: IncomingMessage, res: ServerResponse, url: URL, malformed: boolean) => {
    const path = url.pathname.slice(base.length) || '/';
    const method = req.method ?? 'GET';
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      if (malformed) {
        count('malformed');
        const text = JSON.stringify(value);
        const cut = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': cut.length,
          ...headers,
        });
        res.end(cut);
        return;
      }
      sendJson(res, status, value, headers);
    };

    if (path === '/pets' && method === 'GET') {
      const limit = Number(url.searchParams.get('limit') ?? '100');
      const tags = url.searchParams.getAll('tag'); // ?tag=cat&tag=dog: either
      const list = [...pets.values()].filter((p) => tags.length === 0 || tags.includes(p.tag ?? ''));
      return json(200, list.slice(0, Number.isFinite(limit) && limit >= 0 ? limit : 100));
    }
    if (path === '/pets' && method === 'POST') {
      return readBody(req, 1024 * 1024, (body) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          return problem(res, 400, 'Bad Request', 'The body must be JSON');
        }
        const name = (parsed as { name?: unknown } | null)?.name;
        if (typeof name !== 'string' || name.length === 0) {
          return problem(res, 422, 'Unprocessable Entity', 'A pet needs a non-empty "name"');
        }
        const tag = (parsed as { tag?: unknown }).tag;
        const pet: Pet = { id: nextId++, name, ...(typeof tag === 'string' && { tag }) };
        pets.set(pet.id, pet);
        json(201, pet, { location: `${base}/pets/${pet.id}` });
      });
    }
    const petMatch = /^\/pets\/([^/]+)$/.exec(path);
    if (petMatch && method === 'GET') {
      const pet = pets.get(Number(petMatch[1]));
      if (!pet) return problem(res, 404, 'Pet not found', `No pet with id ${petMatch[1]?.slice(0, 40)}`);
      return json(200, pet);
    }
    if (petMatch && method === 'DELETE') {
      pets.delete(Number(petMatch[1]));
      res.writeHead(204);
      return res.end();
    }
    if (path === '/echo' && (method === 'POST' || method === 'PUT')) {
      // Stream the body straight back: headers first, then bytes as they arrive, nothing buffered.
      const type = first(req.headers['content-type']) ?? 'application/octet-stream';
      const length = first(req.headers['content-length']);
      res.writeHead(200, { 'content-type': type, ...(length !== undefined && { 'content-length': length }) });
      req.pipe(res);
      return;
    }
    if (path === '/bytes' && method === 'GET') {
      const n = Number(url.searchParams.get('n') ?? '1024');
      if (!Number.isSafeInteger(n) || n < 0 || n > MAX_BYTES) {
        return problem(res, 400, 'Bad Request', `n must be an integer between 0 and ${MAX_BYTES}`);
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
      let left = n;
      const pump = () => {
        while (left > 0) {
          const size = Math.min(left, CHUNK.length);
          left -= size;
          if (!res.write(size === CHUNK.length ? CHUNK : CHUNK.subarray(0, size))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => {
        left = 0;
      });
      pump();
      return;
    }
    if (path === '/headers') {
      req.resume();
      return json(200, { method, url: req.url, headers: req.headers });
    }
    if (path === '/status' || path.startsWith('/status/')) {
      const status = Number(path.slice('/status/'.length));
      req.resume();
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        return problem(res, 400, 'Bad Request', 'Use /status/<code> with a code between 200 and 599');
      }
      return json(status, { status });
    }
    if (path === '/slow') {
      const ms = Math.min(Number(url.searchParams.get('ms') ?? '1000') || 0, 60_000);
      req.resume();
      const timer = setTimeout(() => json(200, { waited: ms }), ms);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    req.resume();
    problem(res, 404, 'Not Found', `No sandbox endpoint ${method} ${base}${path.slice(0, 100)}`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const f = faults;
    const q = url.searchParams;
    let fault = q.get('fault') ?? first(req.headers['x-sandbox-fault']);
    const failTimes = q.get('failTimes');
    if (fault !== undefined && fault !== null && failTimes !== null) {
      const key = q.get('faultKey') ?? url.pathname;
      const seen = (failCounts.get(key) ?? 0) + 1;
      failCounts.set(key, seen);
      if (seen > Number(failTimes)) fault = undefined;
    }
    if (fault != null && applyFault(fault, req, res)) return;
    let malformed = fault === 'malformed';

    if (f.rateLimitHeaders) {
      const limit = f.rateLimitHeaders.limit;
      const windowMs = (f.rateLimitHeaders.window ?? 1) * 1000;
      const t = now();
      if (t - window.start >= windowMs) window = { start: t - (t % windowMs), count: 0 };
      window.count++;
      const resetIn = Math.max(1, Math.ceil((window.start + windowMs - t) / 1000));
      res.setHeader('ratelimit-limit', String(limit));
      res.setHeader('ratelimit-remaining', String(Math.max(0, limit - window.count)));
      res.setHeader('ratelimit-reset', String(resetIn));
      if (window.count > limit) {
        count('limit');
        req.resume();
        return problem(res, 429, 'Too Many Requests', 'Sandbox rate limit exceeded', {
          'retry-after': String(resetIn),
        });
      }
    }
    // Every draw happens on every request, so a seed replays the same sequence whatever the config.
    const draws = { reset: random(), hang: random(), limit: random(), error: random(), malformed: random() };
    if (draws.reset < (f.resetRate ?? 0)) return reset(req);
    if (draws.hang < (f.hangRate ?? 0)) return hang(res);
    if (f.rateLimit429 && draws.limit < f.rateLimit429.rate) {
      count('429');
      req.resume();
      return problem(res, 429, 'Too Many Requests', 'Injected rate limit', {
        'retry-after': String(f.rateLimit429.retryAfter ?? 1),
      });
    }
    if (draws.error < (f.errorRate ?? 0)) {
      const status = f.status ?? 503;
      count(String(status));
      req.resume();
      return problem(res, status, 'Injected fault', `The sandbox answered ${status} on request`);
    }
    if (draws.malformed < (f.malformedJsonRate ?? 0)) malformed = true;
    route(req, res, url, malformed);
  };

  const handler = ((req: IncomingMessage, res: ServerResponse): boolean => {
    const raw = req.url ?? '/';
    if (!(raw === base || raw.startsWith(`${base}/`) || raw.startsWith(`${base}?`))) return false;
    let url: URL;
    try {
      url = new URL(raw, 'http://sandbox.invalid');
    } catch {
      problem(res, 400, 'Bad Request', 'Malformed request target');
      return true;
    }
    stats.requests++;
    const latency = Number(url.searchParams.get('latency') ?? first(req.headers['x-sandbox-latency']) ?? 0);
    const delay = (Number.isFinite(latency) && latency > 0 ? latency : 0) + (faults.latencyMs ?? 0);
    if (delay > 0) {
      const timer = setTimeout(() => handle(req, res, url), Math.min(delay, 120_000));
      res.on('close', () => clearTimeout(timer));
    } else {
      handle(req, res, url);
    }
    return true;
  }) as UpstreamHandler;
  handler.setFaults = (next) => {
    faults = { ...next };
  };
  handler.stats = () => ({ requests: stats.requests, faults: { ...stats.faults } });
  handler.releaseHanging = () => {
    for (const res of hanging) res.destroy();
    hanging.clear();
  };
  return handler;
}

function readBody(req: IncomingMessage, limit: number, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => done(Buffer.concat(chunks)));
}

/** Options of {@link startSandboxUpstream}. */
export interface StartSandboxUpstreamOptions extends SandboxUpstreamOptions {
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

/**
 * Starts the fault-injecting sandbox API on a loopback port.
 *
 * @example
 * const sandbox = await startSandboxUpstream({ seed: 42 });
 * sandbox.setFaults({ errorRate: 0.3, status: 503 });
 * // … call `${sandbox.url}/api/pets` …
 * await sandbox.close();
 */
export async function startSandboxUpstream(
  options: StartSandboxUpstreamOptions = {},
): Promise<SandboxUpstream> {
  const handler = createUpstreamHandler(options);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    if (!handler(req, res)) {
      req.resume();
      problem(res, 404, 'Not Found', 'The sandbox API lives under /api');
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    setFaults: handler.setFaults,
    stats: handler.stats,
    close: () =>
      new Promise<void>((resolve) => {
        handler.releaseHanging();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
