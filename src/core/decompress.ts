/**
 * Response body decoding (`Content-Encoding`) with node:zlib: whole bodies are decoded with a bound on the output
 * (`maxOutputLength`, so a compression bomb stops at the limit instead of filling memory), streams through zlib's
 * transform streams.
 */
import { PassThrough, pipeline, type Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { BodyTooLargeError, DecompressionError } from './errors.js';
import type { HttpRequest } from './request.js';

/** A content coding reqforge decodes. `zstd` only where the running Node.js has it (22.15 and later). */
export type ContentCoding = 'gzip' | 'deflate' | 'br' | 'zstd';

interface ZstdZlib {
  zstdDecompress?: (buf: Buffer, options: object, cb: (error: Error | null, out: Buffer) => void) => void;
  zstdDecompressSync?: (buf: Buffer, options: object) => Buffer;
  createZstdDecompress?: () => Transform;
}
const zstd = zlib as unknown as ZstdZlib;

/** Whether this Node.js decodes zstd (`zlib.zstdDecompress`, Node.js 22.15+; Node.js 20 has none). */
export const HAS_ZSTD: boolean =
  typeof zstd.zstdDecompressSync === 'function' && typeof zstd.createZstdDecompress === 'function';

/** The `Accept-Encoding` a client sends by default: every coding it can decode, best first. */
export const ACCEPT_ENCODING: string = HAS_ZSTD ? 'gzip, deflate, br, zstd' : 'gzip, deflate, br';

/** Most codings applied on top of each other that are decoded (undici's fetch has the same bound). */
const MAX_CODINGS = 5;

/** Bodies up to this size are decoded on the calling thread: the thread pool's hop costs more than the work. */
const SYNC_BELOW = 64 * 1024;

const KNOWN: ReadonlySet<string> = new Set(
  HAS_ZSTD ? ['gzip', 'x-gzip', 'deflate', 'br', 'zstd'] : ['gzip', 'x-gzip', 'deflate', 'br'],
);

/**
 * The codings to undo, in the order they were applied, from a `Content-Encoding` header; `undefined` when there is
 * nothing to decode (no header, `identity`) or when a coding is unknown (the body is then handed over as it came,
 * like fetch does, and the header tells what it is).
 */
export function contentCodings(header: string | readonly string[] | undefined): ContentCoding[] | undefined {
  if (header === undefined) return undefined;
  const text = typeof header === 'string' ? header : header.join(',');
  let codings: ContentCoding[] | undefined;
  for (const part of text.split(',')) {
    const coding = part.trim().toLowerCase();
    if (coding === '' || coding === 'identity') continue;
    if (!KNOWN.has(coding)) return undefined;
    codings ??= [];
    codings.push(coding === 'x-gzip' ? 'gzip' : (coding as ContentCoding));
  }
  if (codings !== undefined && codings.length > MAX_CODINGS) return undefined;
  return codings;
}

/** "deflate" is zlib-wrapped (RFC 9110) but some servers send raw deflate; the first byte tells which. */
const isZlibWrapped = (buf: Buffer): boolean => buf.length > 0 && ((buf[0] as number) & 0x0f) === 0x08;

function decodeSync(buf: Buffer, coding: ContentCoding, options: zlib.ZlibOptions): Buffer {
  switch (coding) {
    case 'gzip':
      return zlib.gunzipSync(buf, { ...options, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    case 'deflate':
      return isZlibWrapped(buf) ? zlib.inflateSync(buf, options) : zlib.inflateRawSync(buf, options);
    case 'br':
      return zlib.brotliDecompressSync(buf, options as zlib.BrotliOptions);
    case 'zstd':
      return (zstd.zstdDecompressSync as NonNullable<ZstdZlib['zstdDecompressSync']>)(buf, options);
  }
}

function decodeAsync(buf: Buffer, coding: ContentCoding, options: zlib.ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, out: Buffer) => (error ? reject(error) : resolve(out));
    switch (coding) {
      case 'gzip':
        zlib.gunzip(buf, { ...options, finishFlush: zlib.constants.Z_SYNC_FLUSH }, done);
        break;
      case 'deflate':
        if (isZlibWrapped(buf)) zlib.inflate(buf, options, done);
        else zlib.inflateRaw(buf, options, done);
        break;
      case 'br':
        zlib.brotliDecompress(buf, options as zlib.BrotliOptions, done);
        break;
      case 'zstd':
        (zstd.zstdDecompress as NonNullable<ZstdZlib['zstdDecompress']>)(buf, options, done);
        break;
    }
  });
}

/** The error for a failed decode: the limit was hit (a bomb, or just too large) or the data is corrupt. */
function decodeError(error: unknown, coding: ContentCoding, limit: number, request?: HttpRequest): Error {
  if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
    return new BodyTooLargeError(limit, { request, cause: error }, coding);
  }
  return new DecompressionError(coding, { request, cause: error });
}

/**
 * Decodes a whole body, undoing `codings` last first; the decoded size never exceeds `limit` bytes (a
 * {@link BodyTooLargeError} instead: zlib stops producing output at the limit, so a bomb costs no more than `limit`).
 */
export async function decodeBuffer(
  body: Buffer,
  codings: readonly ContentCoding[],
  limit: number,
  request?: HttpRequest,
): Promise<Buffer> {
  let out = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    // An empty body (HEAD, 204, 304) carries the header but nothing to decode.
    if (out.length === 0) return out;
    const coding = codings[i] as ContentCoding;
    const options = { maxOutputLength: Math.max(1, limit) };
    try {
      out =
        out.length < SYNC_BELOW ? decodeSync(out, coding, options) : await decodeAsync(out, coding, options);
    } catch (error) {
      throw decodeError(error, coding, limit, request);
    }
  }
  return out;
}

function decoder(coding: ContentCoding): Transform {
  switch (coding) {
    case 'gzip':
      return zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
    case 'deflate':
      return new InflateEither();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      return (zstd.createZstdDecompress as NonNullable<ZstdZlib['createZstdDecompress']>)();
  }
}

/** A deflate decoder that picks zlib-wrapped or raw deflate from the first byte (as undici's fetch does). */
class InflateEither extends Transform {
  #inner: Transform | undefined;

  override _transform(
    chunk: Buffer,
    encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#inner === undefined) {
      if (chunk.length === 0) {
        callback();
        return;
      }
      const inner = isZlibWrapped(chunk) ? zlib.createInflate() : zlib.createInflateRaw();
      this.#inner = inner;
      inner.on('data', (data: Buffer) => this.push(data));
      inner.on('error', (error) => this.destroy(error));
    }
    this.#inner.write(chunk, encoding, callback);
  }

  override _flush(callback: (error?: Error | null) => void): void {
    const inner = this.#inner;
    if (inner === undefined) {
      callback();
      return;
    }
    inner.once('end', () => callback());
    inner.end();
  }
}

/**
 * The decoded form of a body stream. The stream's errors are reqforge errors (a corrupt body is a
 * {@link DecompressionError}); destroying it before the end destroys `source` too, which frees its connection.
 */
export function decodeStream(
  source: Readable,
  codings: readonly ContentCoding[],
  request?: HttpRequest,
): Readable {
  const out = new PassThrough();
  const decoders = codings.map(decoder).reverse();
  let failedIn: ContentCoding | undefined;
  decoders.forEach((d, i) => {
    d.once('error', () => {
      failedIn ??= codings[codings.length - 1 - i];
    });
  });
  const last: Readable = pipeline(source, ...(decoders as [Transform]), (error: Error | null) => {
    if (!error) return;
    const reason =
      failedIn === undefined || (error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE'
        ? error
        : new DecompressionError(failedIn, { request, cause: error });
    out.destroy(reason);
  });
  last.pipe(out);
  out.on('close', () => {
    if (!last.readableEnded) last.destroy();
  });
  return out;
}
