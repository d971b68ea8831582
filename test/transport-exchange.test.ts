import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import type { ServerResponse } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/client/client.js';
import { CallAbort, createCallContext } from '../src/core/context.js';
import { isAbortError, isReqforgeError, ParseError, ReqforgeError } from '../src/core/errors.js';
import { EventHub } from '../src/core/events.js';
import { HttpRequest } from '../src/core/request.js';
import { systemClock } from '../src/index.js';
import { FakeClock } from '../src/testing.js';
import { parseRawHeaders } from '../src/transport/exchange.js';
import { HttpTransport } from '../src/transport/undici.js';
import { type RouteHandler, startServer, type TestServer } from './helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Rejects when `promise` has not settled within `ms`, so a missing event fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves on the response's next 'drain', or when it closes. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes `data` in `size`-byte pieces, honouring backpressure; stops early when the response closes. */
async function writeInPieces(res: ServerResponse, data: Buffer, size: number) {
  for (let offset = 0; offset < data.length && !res.destroyed; offset += size) {
    if (!res.write(data.subarray(offset, offset + size))) await drained(res);
  }
}

const sha256 = (data: Buffer | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A route of the test server; what it returns is awaited (so `res.end(...)` may be returned as is). */
type Route = (...args: Parameters<RouteHandler>) => unknown;

// One server for the file; each test registers its own paths.
const routes = new Map<string, Route>();
let server: TestServer;
beforeAll(async () => {
  server = await startServer((req, res, body) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const handler = routes.get(path);
    if (!handler) {
      res.writeHead(404).end();
      return;
    }
    return Promise.resolve(handler(req, res, body)).then(() => undefined);
  });
});
afterAll(() => server.close());
afterEach(() => routes.clear());

function route(path: string, handler: Route): string {
  routes.set(path, handler);
  return path;
}

function client(options: { maxBodySize?: number; connections?: number } = {}) {
  return createClient({
    baseUrl: server.url,
    policies: [],
    ...(options.maxBodySize !== undefined && { maxBodySize: options.maxBodySize }),
    http: { connections: options.connections ?? 1, proxy: false },
  });
}

/** Headers, then a chunk every 10 ms for up to ~1 s: an abort must cut it short. */
function drip(onClose?: () => void): Route {
  return async (_req, res) => {
    if (onClose) res.on('close', onClose);
    res.writeHead(200);
    res.write('first;');
    for (let i = 0; i < 100 && !res.destroyed; i++) {
      await delay(10);
      res.write('more;');
    }
    res.end();
  };
}

/** A body sent with chunked transfer encoding, one write per piece, each after the previous was flushed. */
function chunked(pieces: readonly (string | Buffer)[], contentType = 'text/plain'): Route {
  return async (_req, res) => {
    res.writeHead(200, { 'content-type': contentType });
    res.flushHeaders();
    for (const piece of pieces) {
      res.write(piece);
      await delay(2);
    }
    res.end();
  };
}

describe('Exchange: reading whole bodies', () => {
  const doc = { name: 'Zoë', list: [1, 2, 3], nested: { ok: true } };
  const docText = JSON.stringify(doc);
  // 'ë' is two bytes in UTF-8; split it across two writes so decoding must happen after joining.
  const docBytes = Buffer.from(docText, 'utf8');
  const split = docBytes.indexOf(Buffer.from('ë', 'utf8')) + 1;
  const multi = [docBytes.subarray(0, 5), docBytes.subarray(5, split), docBytes.subarray(split)];

  function small(path: string) {
    return route(path, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': docBytes.length });
      res.end(docBytes);
    });
  }

  it('json() of a small body with content-length', async () => {
    const api = client();
    await expect(api.get(small('/small-json')).json()).resolves.toEqual(doc);
    await api.close();
  });

  it('json() of a multi-chunk body (chunked encoding, a UTF-8 character split across chunks)', async () => {
    const api = client();
    route('/multi-json', chunked(multi, 'application/json'));
    const res = await api.get('/multi-json');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    await expect(res.json()).resolves.toEqual(doc);
    await api.close();
  });

  it('text() of small and multi-chunk bodies', async () => {
    const api = client();
    route('/multi-text', chunked(multi));
    await expect(api.get(small('/small-text')).text()).resolves.toBe(docText);
    await expect(api.get('/multi-text').text()).resolves.toBe(docText);
    await api.close();
  });

  it('bytes() of small and multi-chunk bodies', async () => {
    const api = client();
    const binary = randomBytes(3000);
    route('/small-bytes', (_req, res) => res.end(binary));
    route(
      '/multi-bytes',
      chunked([binary.subarray(0, 1000), binary.subarray(1000, 1001), binary.subarray(1001)]),
    );
    const one = await api.get('/small-bytes').bytes();
    expect(one).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(one).equals(binary)).toBe(true);
    const many = await api.get('/multi-bytes').bytes();
    expect(Buffer.from(many).equals(binary)).toBe(true);
    await api.close();
  });

  it('arrayBuffer() of small and multi-chunk bodies', async () => {
    const api = client();
    const binary = randomBytes(5000);
    route('/small-ab', (_req, res) => res.end(binary));
    route('/multi-ab', chunked([binary.subarray(0, 10), binary.subarray(10, 4000), binary.subarray(4000)]));
    const one = await api.get('/small-ab').arrayBuffer();
    expect(one).toBeInstanceOf(ArrayBuffer);
    expect(one.byteLength).toBe(binary.length);
    expect(Buffer.from(one).equals(binary)).toBe(true);
    const many = await api.get('/multi-ab').arrayBuffer();
    expect(many.byteLength).toBe(binary.length);
    expect(Buffer.from(many).equals(binary)).toBe(true);
    await api.close();
  });

  it('reads a body that arrived completely before it was asked for', async () => {
    const api = client();
    const finished = deferred();
    route('/early', (_req, res) => {
      res.on('finish', () => finished.resolve());
      res.end(docText);
    });
    const res = await api.get('/early');
    await finished.promise;
    await delay(20); // let the client take in the end of the body before asking for it
    await expect(res.json()).resolves.toEqual(doc);
    await api.close();
  });

  it('an empty body: text() is "", json() is undefined, bytes() is empty', async () => {
    const api = client();
    route('/empty', (_req, res) => res.writeHead(200, { 'content-length': 0 }).end());
    route('/empty-chunked', chunked([]));
    await expect(api.get('/empty').text()).resolves.toBe('');
    await expect(api.get('/empty').json()).resolves.toBeUndefined();
    expect((await api.get('/empty').bytes()).byteLength).toBe(0);
    expect((await api.get('/empty-chunked').arrayBuffer()).byteLength).toBe(0);
    await api.close();
  });

  it('HEAD: headers come through and the body is empty', async () => {
    const api = client();
    route('/head', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1234, 'x-kind': 'head' });
      res.end();
    });
    const res = await api.head('/head');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('1234');
    expect(res.headers['x-kind']).toBe('head');
    await expect(res.text()).resolves.toBe('');
    // The connection is still usable afterwards.
    await expect(api.get(small('/after-head')).json()).resolves.toEqual(doc);
    await api.close();
  });

  it('204 No Content: json() is undefined and the connection is reused', async () => {
    const api = client();
    route('/no-content', (_req, res) => res.writeHead(204).end());
    const before = server.connections;
    const res = await api.get('/no-content');
    expect(res.status).toBe(204);
    await expect(res.json()).resolves.toBeUndefined();
    await expect(api.get('/no-content').text()).resolves.toBe('');
    expect(server.connections - before).toBe(1);
    await api.close();
  });

  it('a body can be read only once', async () => {
    const api = client();
    const res = await api.get(small('/once'));
    await res.text();
    await expect(res.text()).rejects.toMatchObject({ code: 'ERR_BODY_USED' });
    await api.close();
  });
});

describe('Exchange: response headers', () => {
  it('lower-cases names and turns repeated headers into arrays', async () => {
    const api = client();
    route('/headers', (_req, res) => {
      res.writeHead(200, [
        'Set-Cookie',
        'a=1',
        'X-Mixed-Case',
        'Value',
        'set-cookie',
        'b=2',
        'X-Triple',
        '1',
        'x-triple',
        '2',
        'X-TRIPLE',
        '3',
        'Content-Length',
        '0',
      ]);
      res.end();
    });
    const res = await api.get('/headers');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-mixed-case']).toBe('Value');
    expect(res.headers['x-triple']).toEqual(['1', '2', '3']);
    expect(res.headers['X-Mixed-Case']).toBeUndefined();
    expect(res.header('X-Triple')).toBe('1, 2, 3');
    await res.dump();
    await api.close();
  });

  it('a header named __proto__ becomes an own property and does not change the prototype', async () => {
    const api = client();
    route('/proto', (_req, res) => {
      res.writeHead(200, ['__proto__', 'polluted', 'constructor', 'c', 'Content-Length', '0']);
      res.end();
    });
    const res = await api.get('/proto');
    const headers = res.headers as Record<string, unknown>;
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.hasOwn(headers, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('polluted');
    // biome-ignore lint/suspicious/noProto: reading the own `__proto__` property is the point of this test.
    expect(headers.__proto__).toBe('polluted');
    expect(Object.hasOwn(headers, 'constructor')).toBe(true);
    expect(headers.constructor).toBe('c');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await res.dump();
    await api.close();
  });
});

describe('Exchange: maxBodySize', () => {
  const big = Buffer.alloc(4 * KiB, 'x');

  it('json() fails with ERR_BODY_TOO_LARGE for a body with a content-length over the limit', async () => {
    const api = client({ maxBodySize: 1024 });
    route('/big-cl', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': big.length });
      res.end(big);
    });
    route('/ok', (_req, res) => res.end('"fine"'));
    await expect(api.get('/big-cl').json()).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
    await expect(api.get('/ok').json()).resolves.toBe('fine');
    await api.close();
  });

  it('text() fails with ERR_BODY_TOO_LARGE for a chunked body over the limit', async () => {
    const api = client({ maxBodySize: 1024 });
    route('/big-chunked', chunked([big.subarray(0, 700), big.subarray(700, 1400), big.subarray(1400)]));
    route('/ok', (_req, res) => res.end('fine'));
    const res = await api.get('/big-chunked');
    const err = await res.text().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReqforgeError);
    expect(err).toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
    await expect(api.get('/ok').text()).resolves.toBe('fine');
    await api.close();
  });

  it('ERR_BODY_TOO_LARGE also when the whole body was buffered before json() was called', async () => {
    const api = client({ maxBodySize: 1024 });
    const finished = deferred();
    route('/big-early', (_req, res) => {
      res.on('finish', () => finished.resolve());
      res.end(big);
    });
    route('/ok', (_req, res) => res.end('"fine"'));
    const res = await api.get('/big-early');
    await finished.promise;
    await delay(20);
    await expect(res.json()).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
    await expect(api.get('/ok').json()).resolves.toBe('fine');
    await api.close();
  });

  it('ERR_BODY_TOO_LARGE for a body already past the limit while paused unread; the connection is released', async () => {
    const api = client({ maxBodySize: 16 * KiB });
    const mib = Buffer.alloc(1 * MiB, 'q');
    const closed = deferred();
    route('/big-paused', async (_req, res) => {
      res.on('close', () => closed.resolve());
      res.writeHead(200, { 'content-length': mib.length });
      await writeInPieces(res, mib, 16 * KiB);
      res.end();
    });
    route('/ok', (_req, res) => res.end('"fine"'));
    const res = await api.get('/big-paused');
    await delay(30); // the client takes in what it buffers for an unread body (over 16 KiB), then pauses
    await expect(res.json()).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
    await within(closed.promise, 2_000, 'the server to see the connection close');
    // With one connection per origin, a paused, half-read connection would block this call.
    await expect(within(api.get('/ok').json(), 2_000, 'the next call')).resolves.toBe('fine');
    await api.close();
  });

  it('a body of exactly maxBodySize bytes is accepted', async () => {
    const api = client({ maxBodySize: 1024 });
    const exact = Buffer.alloc(1024, 'y');
    route('/exact', chunked([exact.subarray(0, 512), exact.subarray(512)]));
    await expect(api.get('/exact').text()).resolves.toBe(exact.toString());
    await api.close();
  });

  it('a connection whose body was too large is not reused in a broken state (several rounds)', async () => {
    const api = client({ maxBodySize: 1024 });
    route('/big-cl', (_req, res) => res.writeHead(200, { 'content-length': big.length }).end(big));
    route('/ok', (_req, res) => res.end('"fine"'));
    for (let i = 0; i < 5; i++) {
      await expect(api.get('/big-cl').text()).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
      await expect(api.get('/ok').json()).resolves.toBe('fine');
    }
    await api.close();
  });
});

describe('Exchange: streaming and backpressure', () => {
  const huge = randomBytes(20 * MiB);
  const hugeHash = sha256(huge);

  it('a 20 MiB body read slowly through response.body arrives complete and byte-exact', async () => {
    const api = client();
    route('/huge', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      await writeInPieces(res, huge, 64 * KiB);
      res.end();
    });
    const res = await api.get('/huge');
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      // A slow reader: yield to the event loop between chunks.
      await tick();
    }
    expect(size).toBe(huge.length);
    expect(hash.digest('hex')).toBe(hugeHash);
    await api.close();
  });

  it('a body nobody reads blocks the server (backpressure) instead of being buffered by the client', async () => {
    const api = client();
    const written = { bytes: 0 };
    const blocked = deferred();
    route('/unread', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      for (let offset = 0; offset < huge.length && !res.destroyed; offset += 64 * KiB) {
        const piece = huge.subarray(offset, offset + 64 * KiB);
        written.bytes += piece.length;
        if (!res.write(piece)) {
          blocked.resolve();
          await drained(res);
        }
      }
      res.end();
    });
    const res = await api.get('/unread');
    await within(blocked.promise, 2_000, 'the server to see backpressure');
    // Give a client that would buffer everything time to do so.
    await delay(150);
    const after = written.bytes;
    await delay(50);
    expect(written.bytes).toBeLessThan(8 * MiB);
    expect(written.bytes).toBe(after); // stalled, not crawling along
    // Reading it now still gives all of it, byte-exact.
    const all = Buffer.from(await res.bytes());
    expect(all.length).toBe(huge.length);
    expect(sha256(all)).toBe(hugeHash);
    await api.close();
  });

  it('for await over response.body yields the full body', async () => {
    const api = client();
    const pieces = Array.from({ length: 10 }, (_, i) => `piece-${i};`);
    route('/pieces', chunked(pieces));
    const res = await api.get('/pieces');
    let text = '';
    for await (const chunk of res.body) text += (chunk as Buffer).toString('utf8');
    expect(text).toBe(pieces.join(''));
    expect(res.bodyUsed).toBe(true);
    await api.close();
  });

  it('response.stream() (web ReadableStream) yields the full body', async () => {
    const api = client();
    const binary = randomBytes(300 * KiB);
    route('/web', async (_req, res) => {
      res.writeHead(200);
      await writeInPieces(res, binary, 16 * KiB);
      res.end();
    });
    const res = await api.get('/web');
    const web = res.stream();
    expect(web).toBeInstanceOf(ReadableStream);
    const parts: Uint8Array[] = [];
    const reader = web.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    expect(Buffer.concat(parts).equals(binary)).toBe(true);
    await api.close();
  });

  it('response.body taken after the whole body arrived still yields all of it', async () => {
    const api = client();
    const finished = deferred();
    route('/late-stream', (_req, res) => {
      res.on('finish', () => finished.resolve());
      res.end('all of it');
    });
    const res = await api.get('/late-stream');
    await finished.promise;
    await delay(20);
    let text = '';
    for await (const chunk of res.body) text += chunk;
    expect(text).toBe('all of it');
    await api.close();
  });

  it('destroying response.body mid-way aborts the exchange; the server sees the close; the next call works', async () => {
    const api = client();
    const closed = deferred();
    route('/endless', async (_req, res) => {
      res.on('close', () => closed.resolve());
      res.writeHead(200);
      await writeInPieces(res, huge, 64 * KiB);
      res.end();
    });
    route('/ok', (_req, res) => res.end('ok'));
    const res = await api.get('/endless');
    const body = res.body;
    const errors: unknown[] = [];
    body.on('error', (e) => errors.push(e));
    const first = await new Promise<Buffer>((resolve) => body.once('data', resolve));
    expect(first.length).toBeGreaterThan(0);
    body.destroy();
    await within(closed.promise, 2_000, 'the server to see the connection close');
    expect(body.destroyed).toBe(true);
    await expect(api.get('/ok').text()).resolves.toBe('ok');
    expect(errors).toEqual([]);
    await api.close();
  });

  it('breaking out of for await early aborts the exchange and the next call works', async () => {
    const api = client();
    const closed = deferred();
    route('/endless2', async (_req, res) => {
      res.on('close', () => closed.resolve());
      res.writeHead(200);
      await writeInPieces(res, huge, 64 * KiB);
      res.end();
    });
    route('/ok', (_req, res) => res.end('ok'));
    const res = await api.get('/endless2');
    for await (const _chunk of res.body) break;
    await within(closed.promise, 2_000, 'the server to see the connection close');
    await expect(api.get('/ok').text()).resolves.toBe('ok');
    await api.close();
  });
});

describe('Exchange: dump()', () => {
  it('a small unread body is discarded and the connection is reused', async () => {
    const api = client();
    const ports: number[] = [];
    route('/small-dump', (req, res) => {
      ports.push(req.socket.remotePort ?? -1);
      res.end('x'.repeat(2 * KiB));
    });
    const before = server.connections;
    const first = await api.get('/small-dump');
    await first.dump();
    expect(first.bodyUsed).toBe(true);
    await expect(api.get('/small-dump').text()).resolves.toHaveLength(2 * KiB);
    expect(server.connections - before).toBe(1);
    expect(ports).toHaveLength(2);
    expect(ports[0]).toBe(ports[1]);
    await api.close();
  });

  it('a chunked body still on its way is dumped and the connection reused', async () => {
    const api = client();
    route('/slow-small', chunked(['a'.repeat(1000), 'b'.repeat(1000), 'c'.repeat(1000)]));
    const before = server.connections;
    const res = await api.get('/slow-small');
    await within(res.dump(), 2_000, 'dump()');
    await expect(api.get('/slow-small').text()).resolves.toHaveLength(3000);
    expect(server.connections - before).toBe(1);
    await api.close();
  });

  it('a huge unread body is dumped by closing the connection; the next call works', async () => {
    const api = client();
    const five = Buffer.alloc(5 * MiB, 'z');
    const closed = deferred();
    const ports: number[] = [];
    route('/huge-dump', async (req, res) => {
      ports.push(req.socket.remotePort ?? -1);
      res.on('close', () => closed.resolve());
      res.writeHead(200, { 'content-length': five.length });
      await writeInPieces(res, five, 64 * KiB);
      res.end();
    });
    route('/ok', (req, res) => {
      ports.push(req.socket.remotePort ?? -1);
      res.end('ok');
    });
    const res = await api.get('/huge-dump');
    await within(res.dump(), 2_000, 'dump() of a huge body');
    // The server did not get to send it all: the connection was closed under it.
    await within(closed.promise, 2_000, 'the server to see the connection close');
    await expect(api.get('/ok').text()).resolves.toBe('ok');
    expect(ports).toHaveLength(2);
    expect(ports[1]).not.toBe(ports[0]);
    await api.close();
  });

  it('dump() twice, or after reading, is a no-op', async () => {
    const api = client();
    const ports: number[] = [];
    route('/twice', (req, res) => {
      ports.push(req.socket.remotePort ?? -1);
      res.end('body');
    });
    const before = server.connections;
    const res = await api.get('/twice');
    await expect(res.dump()).resolves.toBeUndefined();
    await expect(res.dump()).resolves.toBeUndefined();
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toMatchObject({ code: 'ERR_BODY_USED' });
    const read = await api.get('/twice');
    await expect(read.text()).resolves.toBe('body');
    await expect(read.dump()).resolves.toBeUndefined();
    await expect(read.text()).rejects.toMatchObject({ code: 'ERR_BODY_USED' });
    // Neither the second dump() nor the dump() after reading cost the connection: one socket served all three.
    await expect(api.get('/twice').text()).resolves.toBe('body');
    expect(ports).toHaveLength(3);
    expect(new Set(ports).size).toBe(1);
    expect(server.connections - before).toBe(1);
    await api.close();
  });
});

describe('Exchange: aborts and failures', () => {
  it('aborting the signal after the headers makes reading the body reject with ERR_ABORTED', async () => {
    const api = client();
    const closed = deferred();
    route(
      '/drip',
      drip(() => closed.resolve()),
    );
    const controller = new AbortController();
    const res = await api.get('/drip', { signal: controller.signal });
    const reading = res.text().catch((e: unknown) => e);
    await delay(30);
    controller.abort();
    const err = await within(reading, 2_000, 'the body read to settle');
    expect(isReqforgeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    await within(closed.promise, 2_000, 'the server to see the connection close');
    await api.close();
  });

  it('aborting the signal after the headers, before the body is read, makes the read reject with ERR_ABORTED', async () => {
    const api = client();
    route('/drip2', drip());
    const controller = new AbortController();
    const res = await api.get('/drip2', { signal: controller.signal });
    controller.abort();
    const err = await within(
      res.text().catch((e: unknown) => e),
      2_000,
      'the body read to settle',
    );
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    await api.close();
  });

  it('with the default pipeline (timeouts restored after the headers) the caller can still abort the body', async () => {
    const api = createClient({ baseUrl: server.url });
    route('/drip-default', drip());
    const controller = new AbortController();
    const res = await api.get('/drip-default', { signal: controller.signal });
    const reading = res.text().catch((e: unknown) => e);
    controller.abort();
    const err = await within(reading, 2_000, 'the body read to settle');
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    await api.close();
  });

  it('a long-lived signal shared by many calls keeps no listener once their bodies are read or dumped', async () => {
    const api = createClient({ baseUrl: server.url });
    route('/small', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    route('/slow-end', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part;');
      await delay(50);
      res.end('end');
    });
    const controller = new AbortController();
    const listeners = () => getEventListeners(controller.signal, 'abort').length;
    const pending = await Promise.all(
      Array.from({ length: 6 }, () => api.get('/slow-end', { signal: controller.signal })),
    );
    // Bodies still arriving: each call still follows the signal, so the caller can abort the read.
    expect(listeners()).toBe(6);
    await Promise.all(pending.map((r, i) => (i % 2 ? r.text() : r.dump())));
    expect(listeners()).toBe(0);
    for (let i = 0; i < 20; i++) await api.get('/small', { signal: controller.signal }).json();
    expect(listeners()).toBe(0);
    await api.close();
  });

  it('a CallAbort passed as the signal, aborted after the headers, fails the body read with ERR_ABORTED', async () => {
    const api = client();
    const closed = deferred();
    route(
      '/drip-callabort',
      drip(() => closed.resolve()),
    );
    const abort = new CallAbort();
    const res = await api.get('/drip-callabort', { signal: abort });
    const reading = res.text().catch((e: unknown) => e);
    await delay(30);
    abort.abort(new Error('user gave up'));
    const err = await within(reading, 2_000, 'the body read to settle');
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    expect((err as ReqforgeError).cause).toMatchObject({ message: 'user gave up' });
    await within(closed.promise, 2_000, 'the server to see the connection close');
    await api.close();
  });

  it('the transport itself: an aborted CallAbort fails the body read with ERR_ABORTED', async () => {
    const transport = new HttpTransport({ connections: 1, proxy: false });
    route('/drip3', drip());
    const abort = new CallAbort();
    const ctx = createCallContext({
      signal: abort,
      tags: { route: '/drip3' },
      clock: systemClock,
      events: new EventHub(),
      options: {},
      maxBodySize: 1 * MiB,
    });
    const url = new URL(server.url);
    const request = new HttpRequest({ method: 'GET', origin: url.origin, path: '/drip3', headers: {} });
    const res = await transport.handle(request, ctx);
    const reading = res.text().catch((e: unknown) => e);
    await delay(30);
    abort.abort(new ReqforgeError('stop', 'ERR_ABORTED'));
    const err = await within(reading, 2_000, 'the body read to settle');
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    await transport.close();
  });

  it('aborting before the response rejects with ERR_ABORTED and the server-side request is closed', async () => {
    const api = client();
    const arrived = deferred();
    const closed = deferred();
    route('/hang', (_req, res) => {
      res.on('close', () => closed.resolve());
      arrived.resolve();
    });
    route('/ok', (_req, res) => res.end('ok'));
    const controller = new AbortController();
    const call = api.get('/hang', { signal: controller.signal }).catch((e: unknown) => e);
    await within(arrived.promise, 2_000, 'the request to arrive');
    controller.abort();
    const err = await within(call, 2_000, 'the call to settle');
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    await within(closed.promise, 2_000, 'the server to see the request close');
    await expect(api.get('/ok').text()).resolves.toBe('ok');
    await api.close();
  });

  it('an already aborted signal rejects with ERR_ABORTED without reaching the server', async () => {
    const api = client();
    let hits = 0;
    route('/never', (_req, res) => {
      hits++;
      res.end();
    });
    const err = await api.get('/never', { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    await delay(20);
    expect(hits).toBe(0);
    await api.close();
  });

  describe('the server resets the connection mid-body', () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    beforeAll(() => {
      process.on('unhandledRejection', onUnhandled);
    });
    afterAll(() => {
      process.off('unhandledRejection', onUnhandled);
    });

    function resetting(path: string, sent: { promise: Promise<void>; resolve: () => void }) {
      return route(path, async (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1 * MiB });
        res.write(`{"items":[${'1,'.repeat(20 * KiB)}`);
        await delay(20);
        req.socket.destroy();
        sent.resolve();
      });
    }

    it('json() waiting for the body rejects with a network ReqforgeError', async () => {
      const api = client();
      const sent = deferred();
      resetting('/reset', sent);
      route('/ok', (_req, res) => res.end('"ok"'));
      const res = await api.get('/reset');
      const err = await within(
        res.json().catch((e: unknown) => e),
        2_000,
        'json() to settle',
      );
      expect(err).toBeInstanceOf(ReqforgeError);
      const code = (err as ReqforgeError).code;
      expect(typeof code).toBe('string');
      expect(code.startsWith('ERR_')).toBe(true);
      expect(code).not.toBe('ERR_PARSE');
      await tick();
      expect(unhandled).toEqual([]);
      await expect(api.get('/ok').json()).resolves.toBe('ok');
      await api.close();
    });

    it('json() called after the reset rejects with a network ReqforgeError', async () => {
      const api = client();
      const sent = deferred();
      resetting('/reset-early', sent);
      const res = await api.get('/reset-early');
      await sent.promise;
      await delay(20);
      const err = await res.json().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReqforgeError);
      expect((err as ReqforgeError).code).toMatch(/^ERR_/);
      expect((err as ReqforgeError).code).not.toBe('ERR_PARSE');
      await tick();
      expect(unhandled).toEqual([]);
      await api.close();
    });

    it('a body never read after a reset causes no unhandled rejection', async () => {
      const api = client();
      const sent = deferred();
      resetting('/reset-unread', sent);
      await api.get('/reset-unread');
      await sent.promise;
      await delay(20);
      await tick();
      expect(unhandled).toEqual([]);
      await api.close();
    });

    it('a streamed body errors with a network ReqforgeError', async () => {
      const api = client();
      const sent = deferred();
      resetting('/reset-stream', sent);
      const res = await api.get('/reset-stream');
      const err = await (async () => {
        for await (const _chunk of res.body) {
          // drain
        }
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReqforgeError);
      expect((err as ReqforgeError).code).toMatch(/^ERR_/);
      await tick();
      expect(unhandled).toEqual([]);
      await api.close();
    });
  });

  it('a reset before the headers rejects the call with a network error', async () => {
    const api = client();
    route('/reset-head', (req) => {
      req.socket.destroy();
    });
    const err = await api.get('/reset-head').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReqforgeError);
    expect((err as ReqforgeError).code).toMatch(/^ERR_/);
    await api.close();
  });
});

describe('Exchange: 1xx informational responses', () => {
  // RFC 9110 §15.2 asks clients to parse an unexpected 1xx, but undici 7 refuses an unsolicited 100 Continue
  // (lib/dispatcher/client-h1.js, onHeadersComplete: `statusCode === 100` → SocketError('bad response')); this
  // pins down that the failure is clean: a network error, no hang, and the pool keeps working.
  it('an unsolicited 100 Continue fails cleanly with a network error (undici refuses it) and the next call works', async () => {
    const api = client();
    route('/continue', (_req, res) => {
      res.writeContinue();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"final":true}');
    });
    route('/ok', (_req, res) => res.end('"ok"'));
    const err = await within(
      api.get('/continue').catch((e: unknown) => e),
      2_000,
      'the call to settle',
    );
    expect(err).toBeInstanceOf(ReqforgeError);
    expect(err).toMatchObject({ code: 'ERR_SOCKET' });
    await expect(api.get('/ok').json()).resolves.toBe('ok');
    await api.close();
  });

  it('102 Processing before the final response still gives the 200', async () => {
    const api = client();
    route('/processing', async (_req, res) => {
      res.writeProcessing();
      await delay(5);
      res.writeHead(200, { 'x-final': 'yes' });
      res.end('done');
    });
    const res = await api.get('/processing');
    expect(res.status).toBe(200);
    expect(res.headers['x-final']).toBe('yes');
    await expect(res.text()).resolves.toBe('done');
    await api.close();
  });

  it('103 Early Hints before the final response still gives the 200 and its own headers', async () => {
    const api = client();
    route('/hints', (_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'x-final': 'yes' });
      res.end('done');
    });
    const res = await api.get('/hints');
    expect(res.status).toBe(200);
    expect(res.headers.link).toBeUndefined();
    await expect(res.text()).resolves.toBe('done');
    await api.close();
  });
});

describe('Exchange: malformed JSON', () => {
  it('rejects with a ParseError (ERR_PARSE)', async () => {
    const api = client();
    route('/bad-json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"access_token": "sk_live_0123456789abcdef", oops');
    });
    const err = await api
      .get('/bad-json')
      .json()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParseError);
    expect(err).toMatchObject({ code: 'ERR_PARSE', status: 200 });
    await api.close();
  });
});

describe('parseRawHeaders', () => {
  const raw = (...pairs: string[]) => pairs.map((s) => Buffer.from(s, 'latin1'));

  it('lower-cases names and keeps single values as strings', () => {
    expect(parseRawHeaders(raw('Content-Type', 'text/plain', 'X-ID', 'AbC'))).toEqual({
      'content-type': 'text/plain',
      'x-id': 'AbC',
    });
  });

  it('turns repeated headers (in any case) into arrays in arrival order', () => {
    const headers = parseRawHeaders(
      raw('Set-Cookie', 'a=1', 'SET-COOKIE', 'b=2', 'set-cookie', 'c=3', 'Via', 'x'),
    );
    expect(headers['set-cookie']).toEqual(['a=1', 'b=2', 'c=3']);
    expect(headers.via).toBe('x');
  });

  it('an empty list gives an empty plain object', () => {
    const headers = parseRawHeaders([]);
    expect(headers).toEqual({});
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
  });

  it('keeps empty values', () => {
    expect(parseRawHeaders(raw('X-Empty', ''))).toEqual({ 'x-empty': '' });
  });

  it('decodes values as latin1 (byte per character)', () => {
    const headers = parseRawHeaders([Buffer.from('X-Name'), Buffer.from([0x63, 0x61, 0x66, 0xe9])]);
    expect(headers['x-name']).toBe('café');
  });

  it('__proto__ becomes an own property, single or repeated, never the prototype', () => {
    const once = parseRawHeaders(raw('__proto__', 'p1'));
    expect(Object.getPrototypeOf(once)).toBe(Object.prototype);
    expect(Object.hasOwn(once, '__proto__')).toBe(true);
    // biome-ignore lint/suspicious/noProto: reading the own `__proto__` property is the point of this test.
    expect((once as Record<string, unknown>).__proto__).toBe('p1');
    expect(Object.keys(once)).toEqual(['__proto__']);

    const twice = parseRawHeaders(raw('__PROTO__', 'p1', '__proto__', 'p2', '__proto__', 'p3'));
    expect(Object.getPrototypeOf(twice)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(twice, '__proto__')?.value).toEqual(['p1', 'p2', 'p3']);
    expect(Array.isArray(twice)).toBe(false);
    expect(({} as Record<string, unknown>).p1).toBeUndefined();
  });

  it('names that shadow Object.prototype members become own properties', () => {
    const headers = parseRawHeaders(
      raw('constructor', 'c', 'toString', 't', 'hasOwnProperty', 'h', 'constructor', 'c2'),
    );
    expect(Object.hasOwn(headers, 'constructor')).toBe(true);
    expect(headers.constructor).toEqual(['c', 'c2']);
    expect(headers.tostring).toBe('t');
    expect(headers.hasownproperty).toBe('h');
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
  });
});

describe('Exchange: review fixes', () => {
  /** A 5 MiB body written in pieces; resolves `closed` when the server sees the connection go. */
  function huge(path: string) {
    const closed = deferred();
    route(path, async (_req, res) => {
      res.on('close', () => closed.resolve());
      const five = Buffer.alloc(5 * MiB, 'q');
      res.writeHead(200, { 'content-length': five.length });
      await writeInPieces(res, five, 64 * KiB);
      res.end();
    });
    return closed;
  }

  it('pipeTo() into a destination that is already closed rejects at once and stops the exchange', async () => {
    const api = client();
    const closed = huge('/gone-dest');
    const res = await api.get('/gone-dest');
    const dest = new PassThrough();
    dest.destroy();
    const err = await within(
      res.pipeTo(dest).catch((e: unknown) => e),
      2_000,
      'pipeTo() to settle',
    );
    expect(err).toMatchObject({ code: 'ERR_ABORTED' });
    await within(closed.promise, 2_000, 'the server to see the connection close');
    await api.close();
  });

  it('pipeTo() rejects, with the cause, when the destination fails mid-way, and stops the exchange', async () => {
    const api = client();
    const closed = huge('/failing-dest');
    const res = await api.get('/failing-dest');
    const failure = new Error('disk full');
    let written = 0;
    const dest = new Writable({
      write(chunk: Buffer, _enc, callback) {
        written += chunk.length;
        callback(written > 256 * KiB ? failure : null);
      },
    });
    const err = await within(
      res.pipeTo(dest).catch((e: unknown) => e),
      2_000,
      'pipeTo() to settle',
    );
    expect(err).toMatchObject({ code: 'ERR_ABORTED', cause: failure });
    await within(closed.promise, 2_000, 'the server to see the connection close');
    await api.close();
  });

  it('taking response.body after text() has started fails with ERR_BODY_USED instead of stalling the read', async () => {
    const api = client();
    route('/used', chunked(['a', 'b', 'c']));
    const res = await api.get('/used');
    const text = res.text();
    expect(() => res.body).toThrow(expect.objectContaining({ code: 'ERR_BODY_USED' }));
    await expect(within(text, 2_000, 'text()')).resolves.toBe('abc');
    await api.close();
  });

  it('an abort whose reason is not an Error gives an AbortError that carries the request', async () => {
    const api = client();
    route('/drip-reason', drip());
    const controller = new AbortController();
    const res = await api.get('/drip-reason', { signal: controller.signal });
    const reading = res.text().catch((e: unknown) => e);
    controller.abort('user left');
    const err = await within(reading, 2_000, 'the body read to settle');
    expect(isAbortError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_ABORTED', cause: 'user left' });
    expect((err as ReqforgeError).request?.path).toBe('/drip-reason');
    await api.close();
  });

  it('a dispatcher that throws instead of calling the handler fails the call and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const thrower = {
      dispatch: () => {
        throw new Error('dispatcher broke');
      },
      close: async () => {},
      destroy: async () => {},
    } as unknown as Dispatcher;
    const api = createClient({ baseUrl: server.url, clock, retry: false, http: { dispatcher: thrower } });
    const err = await api.get('/whatever').catch((e: unknown) => e);
    expect(isReqforgeError(err)).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('parseRawHeaders reads repeated values handed over as one array (undici handler wrappers do this)', () => {
    const raw = [
      Buffer.from('Set-Cookie'),
      [Buffer.from('a=1'), Buffer.from('b=\xe9', 'latin1')],
      Buffer.from('X-One'),
      Buffer.from('1'),
    ];
    expect(parseRawHeaders(raw)).toEqual({ 'set-cookie': ['a=1', 'b=\u00e9'], 'x-one': '1' });
  });
});
