import { PassThrough, Writable } from 'node:stream';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ACCEPT_ENCODING, contentCodings, HAS_ZSTD } from '../src/core/decompress.js';
import {
  createClient,
  HttpRequest,
  HttpResponse,
  isBodyTooLargeError,
  isDecompressionError,
} from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const doc = {
  users: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `user ${i}`, active: i % 2 === 0 })),
};
const text = JSON.stringify(doc);

const encoders: Record<string, (b: Buffer) => Buffer> = {
  gzip: (b) => gzipSync(b),
  deflate: (b) => deflateSync(b),
  br: (b) => brotliCompressSync(b),
};

/** A server answering `/<coding>` with the document compressed that way (and `Content-Encoding` set). */
async function compressing(extra: Record<string, (res: import('node:http').ServerResponse) => void> = {}) {
  const s = await startServer((req, res) => {
    const path = (req.url ?? '/').slice(1);
    const custom = extra[path];
    if (custom) return custom(res);
    const encode = encoders[path] as ((b: Buffer) => Buffer) | undefined;
    const body = encode ? encode(Buffer.from(text)) : Buffer.from(text);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': body.length,
      ...(encode && { 'content-encoding': path }),
    });
    res.end(body);
  });
  cleanup.push(() => s.close());
  return s;
}

function clientFor(s: TestServer, options: Parameters<typeof createClient>[0] = {}) {
  const api = createClient({ baseUrl: s.url, retry: false, ...options });
  cleanup.push(() => api.close());
  return api;
}

describe('decompression (issue 14)', () => {
  it('asks for gzip, deflate and br (zstd only where Node.js decodes it) and decodes each in json()', async () => {
    const s = await compressing();
    const api = clientFor(s);
    for (const coding of ['gzip', 'deflate', 'br', 'plain']) {
      expect(await api.get(`/${coding}`).json()).toEqual(doc);
    }
    expect(s.requests[0]?.headers['accept-encoding']).toBe(ACCEPT_ENCODING);
    expect(ACCEPT_ENCODING).toBe(HAS_ZSTD ? 'gzip, deflate, br, zstd' : 'gzip, deflate, br');
    // Node.js 20 has no zstd: it must not be asked for there.
    if (Number(process.versions.node.split('.')[0]) === 20) expect(HAS_ZSTD).toBe(false);
  });

  it('decodes in text(), bytes(), arrayBuffer(), the body stream and the web stream', async () => {
    const s = await compressing();
    const api = clientFor(s);
    expect(await api.get('/gzip').text()).toBe(text);
    expect(Buffer.from(await api.get('/br').bytes()).toString()).toBe(text);
    expect(Buffer.from(await api.get('/deflate').arrayBuffer()).toString()).toBe(text);
    const chunks: Buffer[] = [];
    for await (const c of (await api.get('/gzip')).body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(text);
    const web = (await api.get('/br')).stream();
    expect(await new Response(web).text()).toBe(text);
  });

  it('decodes raw deflate (no zlib header), which some servers send as "deflate"', async () => {
    const s = await compressing({
      rawdeflate: (res) => {
        const body = deflateRawSync(Buffer.from(text));
        res.writeHead(200, { 'content-encoding': 'deflate', 'content-length': body.length });
        res.end(body);
      },
    });
    const api = clientFor(s);
    expect(await api.get('/rawdeflate').json()).toEqual(doc);
    const chunks: Buffer[] = [];
    for await (const c of (await api.get('/rawdeflate')).body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(text);
  });

  it('undoes stacked codings last first (Content-Encoding: deflate, gzip)', async () => {
    const s = await compressing({
      stacked: (res) => {
        const body = gzipSync(deflateSync(Buffer.from(text)));
        res.writeHead(200, { 'content-encoding': 'deflate, gzip', 'content-length': body.length });
        res.end(body);
      },
    });
    expect(await clientFor(s).get('/stacked').json()).toEqual(doc);
  });

  it('decodes a body of several hundred KiB off the calling thread, same result', async () => {
    const big = JSON.stringify({ rows: Array.from({ length: 20_000 }, (_, i) => ({ i, v: `value-${i}` })) });
    const s = await compressing({
      big: (res) => {
        const body = gzipSync(Buffer.from(big));
        expect(body.length).toBeGreaterThan(64 * 1024);
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length });
        res.end(body);
      },
    });
    expect(await clientFor(s).get('/big').text()).toBe(big);
  });

  it('refuses a decompression bomb at maxBodySize (decoded size), with a clear error', async () => {
    // 64 MiB of zeros gzip to about 64 KiB: well under the limit on the wire, far over it decoded.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const s = await compressing({
      bomb: (res) => {
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length });
        res.end(bomb);
      },
    });
    const api = clientFor(s, { maxBodySize: '1mb' });
    const error = await api
      .get('/bomb')
      .json()
      .catch((e: unknown) => e);
    expect(isBodyTooLargeError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_BODY_TOO_LARGE', limit: 1024 * 1024, encoding: 'gzip' });
    expect((error as Error).message).toMatch(
      /exceeds the limit of 1048576 bytes once decoded \(content-encoding gzip\)/,
    );
    // The same bound for bytes() and text().
    await expect(api.get('/bomb').bytes()).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
    await expect(api.get('/bomb').text()).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
  });

  it('a corrupt compressed body is a DecompressionError, in json() and in the stream', async () => {
    const s = await compressing({
      corrupt: (res) => {
        const good = gzipSync(Buffer.from(text));
        const bad = Buffer.concat([good.subarray(0, 20), Buffer.from('not gzip at all'), good.subarray(40)]);
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bad.length });
        res.end(bad);
      },
    });
    const api = clientFor(s);
    const error = await api
      .get('/corrupt')
      .json()
      .catch((e: unknown) => e);
    expect(isDecompressionError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_DECOMPRESSION', encoding: 'gzip' });
    const streamError = await (async () => {
      for await (const _ of (await api.get('/corrupt')).body) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(streamError).toMatchObject({ code: 'ERR_DECOMPRESSION', encoding: 'gzip' });
  });

  it('pipeTo() relays the compressed bytes untouched', async () => {
    const s = await compressing();
    const api = clientFor(s);
    const got: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        got.push(chunk);
        cb();
      },
    });
    const response = await api.get('/gzip');
    await response.pipeTo(sink);
    expect(Buffer.concat(got).equals(gzipSync(Buffer.from(text)))).toBe(true);
  });

  it('decompress: false sends no Accept-Encoding of its own and decodes nothing (also when derived)', async () => {
    const s = await compressing();
    const parent = clientFor(s);
    const api = parent.with({ decompress: false });
    const raw = Buffer.from(await api.get('/gzip').bytes());
    expect(raw.equals(gzipSync(Buffer.from(text)))).toBe(true);
    expect(s.requests.at(-1)?.headers['accept-encoding']).toBeUndefined();
    // A caller's own Accept-Encoding is sent as given.
    await api.get('/plain', { headers: { 'accept-encoding': 'br' } }).text();
    expect(s.requests.at(-1)?.headers['accept-encoding']).toBe('br');
  });

  it('error excerpts are decoded (an HttpError shows the text, not gzip bytes)', async () => {
    const s = await compressing({
      fail: (res) => {
        const body = gzipSync(Buffer.from('{"title":"upstream says no"}'));
        res.writeHead(503, {
          'content-type': 'application/problem+json',
          'content-encoding': 'gzip',
          'content-length': body.length,
        });
        res.end(body);
      },
    });
    const error = await clientFor(s)
      .get('/fail')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, bodyExcerpt: '{"title":"upstream says no"}' });
    expect((error as { problem: unknown }).problem).toEqual({ title: 'upstream says no' });
  });

  it('an empty body with a Content-Encoding (HEAD, 204) decodes to nothing', async () => {
    const s = await compressing({
      empty: (res) => {
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': 0 });
        res.end();
      },
    });
    const api = clientFor(s);
    expect(await api.get('/empty').text()).toBe('');
    expect(await api.get('/empty').json()).toBeUndefined();
  });

  it('an unknown coding is handed over as it came', () => {
    expect(contentCodings('gzip')).toEqual(['gzip']);
    expect(contentCodings('x-gzip, identity')).toEqual(['gzip']);
    expect(contentCodings('compress')).toBeUndefined();
    expect(contentCodings('identity')).toBeUndefined();
    expect(contentCodings(['deflate', 'br'])).toEqual(['deflate', 'br']);
    expect(contentCodings('gzip,gzip,gzip,gzip,gzip,gzip')).toBeUndefined();
  });

  it('a response built by hand decodes only when asked to', async () => {
    const request = new HttpRequest({ method: 'GET', origin: 'http://x.test', path: '/' });
    const body = () => {
      const p = new PassThrough();
      p.end(gzipSync(Buffer.from('hello')));
      return p;
    };
    const headers = { 'content-encoding': 'gzip' };
    const decoded = new HttpResponse({
      status: 200,
      headers,
      body: body(),
      request,
      elapsed: 0,
      decompress: true,
    });
    expect(await decoded.text()).toBe('hello');
    const raw = new HttpResponse({ status: 200, headers, body: body(), request, elapsed: 0 });
    expect(Buffer.from(await raw.bytes()).equals(gzipSync(Buffer.from('hello')))).toBe(true);
  });
});
