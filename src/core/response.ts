import { Readable, type Writable } from 'node:stream';
import { inspect } from 'node:util';
import { type ContentCoding, contentCodings, decodeBuffer, decodeStream } from './decompress.js';
import type { RedirectHop } from './errors.js';
import {
  BadRequestError,
  BodyTooLargeError,
  ConflictError,
  ForbiddenError,
  HttpError,
  type HttpErrorInit,
  NotFoundError,
  ParseError,
  type ProblemDetails,
  ReqforgeError,
  ServerError,
  TooManyRequestsError,
  UnauthorizedError,
  UnprocessableEntityError,
} from './errors.js';
import { toReqforgeError } from './normalize.js';
import { type RateLimitInfo, rateLimitOf } from './rate-limit-headers.js';
import type { HttpRequest } from './request.js';
import { parseRetryAfter } from './retry-after.js';

/** Response headers: lower-case names; repeated headers are arrays. */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** What an {@link HttpResponse} is made of; transports build these. */
export interface HttpResponseInit {
  readonly status: number;
  readonly headers: ResponseHeaders;
  /** The body: a {@link BodySource} (what the undici transport gives) or a Node stream. */
  readonly body: Readable | BodySource;
  readonly request: HttpRequest;
  /** Milliseconds from sending to receiving the headers. */
  readonly elapsed: number;
  /** Largest body `text()`, `json()` and `arrayBuffer()` will buffer, in bytes (decoded size). */
  readonly maxBodySize?: number;
  /**
   * Decode a `Content-Encoding` (gzip, deflate, br, zstd where Node.js has it) in `json()`, `text()`, `bytes()`,
   * `body` and `stream()`; `pipeTo()` and `dump()` always pass the bytes as they came.
   * @default false (a transport passes the call's `decompress`, which clients turn on by default)
   */
  readonly decompress?: boolean;
}

/**
 * `Symbol.asyncDispose`, which Node.js 20.18 defines; the fallback keeps the module loadable on a runtime without it
 * and never touches the global `Symbol` users see.
 */
const ASYNC_DISPOSE: typeof Symbol.asyncDispose =
  (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ??
  (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/** The default for {@link HttpResponseInit.maxBodySize}: 50 MiB. Stream `body` for anything larger. */
export const DEFAULT_MAX_BODY_SIZE = 50 * 1024 * 1024;

interface FastBody {
  text(): Promise<string>;
  dump(opts?: { limit: number }): Promise<void>;
}

/**
 * A response body a transport hands over without building a Node stream first: read whole (the common case,
 * and the cheapest), discarded, or turned into a stream only when someone asks for one. The undici transport's
 * bodies are these; a transport may also give a plain `Readable`.
 */
export abstract class BodySource {
  /** The whole body as UTF-8 text; fails with {@link BodyTooLargeError} past `limit` bytes. */
  abstract text(limit: number): Promise<string>;
  /** The whole body as one Buffer; fails with {@link BodyTooLargeError} past `limit` bytes. */
  abstract buffer(limit: number): Promise<Buffer>;
  /** Discards the body: reads at most `limit` more bytes, then closes the connection instead. Never fails. */
  abstract dump(limit: number): Promise<void>;
  /** The body (what has not been read yet) as a Node stream, with backpressure. */
  abstract stream(): Readable;
  /** Writes the body into `destination` with backpressure and ends it; see {@link HttpResponse.pipeTo}. */
  abstract pipeTo(destination: Writable): Promise<void>;
}

/**
 * An HTTP response. Read the body once: `json()`, `text()`, `arrayBuffer()`, `bytes()`, `stream()`
 * or the Node stream `body`. A response you do not read should be `dump()`ed so its connection
 * returns to the pool; reqforge does this itself for every response it discards.
 */
export class HttpResponse {
  /** HTTP status code. */
  readonly status: number;
  /** Lower-cased header names. */
  readonly headers: ResponseHeaders;
  /** The request that produced this response (the final attempt's). */
  readonly request: HttpRequest;
  /** Milliseconds from sending the request to receiving the response headers. */
  readonly elapsed: number;
  /** How many requests the call sent: retries included, and every redirect hop's attempts when it followed some. */
  attempts = 1;
  /** The redirects followed to reach this response, oldest first (empty when none); see `redirect` in the client. */
  redirects: readonly RedirectHop[] = NO_REDIRECTS;
  readonly #body: Readable | BodySource;
  readonly #limit: number;
  readonly #decompress: boolean;
  #used = false;

  constructor(init: HttpResponseInit) {
    this.status = init.status;
    this.headers = init.headers;
    this.request = init.request;
    this.elapsed = init.elapsed;
    this.#body = init.body;
    this.#limit = init.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
    this.#decompress = init.decompress === true;
  }

  /**
   * What the response's `RateLimit` / `RateLimit-Policy` / `X-RateLimit-*` headers say (limit, remaining, reset in
   * ms, window, policies), parsed on first read; undefined when it sent none. See `parseRateLimitHeaders`.
   */
  get rateLimit(): RateLimitInfo | undefined {
    return rateLimitOf(this);
  }

  /** True for a 2xx status. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /**
   * True for a 4xx status. (About the status only: to test a caught error, use the guards such as `isHttpError`.)
   */
  get isClientErrorStatus(): boolean {
    return this.status >= 400 && this.status < 500;
  }

  /**
   * True for a 5xx status. (About the status only; `isServerError(error)` is the guard for a thrown `ServerError`.)
   */
  get isServerErrorStatus(): boolean {
    return this.status >= 500 && this.status < 600;
  }

  /** True when redirects were followed to reach this response (fetch's `redirected`). */
  get redirected(): boolean {
    return this.redirects.length > 0;
  }

  /** The URL of the request that produced this response: the last hop's, after redirects. */
  get url(): string {
    return this.request.url;
  }

  /** True once the body has been read, streamed or discarded. */
  get bodyUsed(): boolean {
    return this.#used;
  }

  /** The body as a Node.js stream. Taking it marks the body used. */
  get body(): Readable {
    this.#used = true;
    const body = this.#body;
    return this.#decoded(body instanceof BodySource ? body.stream() : body);
  }

  /** A header's value by case-insensitive name; repeated headers are joined with `, `. */
  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /**
   * Writes the body into a Node.js writable (an HTTP server response, a file…) with backpressure, and ends it.
   * Resolves once the whole body was handed to `destination`. If the body fails, `destination` is destroyed and
   * the promise rejects with the error; if `destination` closes or fails first (or already has), the exchange is
   * stopped (the connection is not left half-read) and the promise rejects with `ERR_ABORTED`. Errors the
   * destination emits after the body was handed over are the destination's own: listen for them as for any
   * stream you write to.
   */
  pipeTo(destination: Writable): Promise<void> {
    let source: BodySource | undefined;
    let body: Readable;
    try {
      source = this.#source();
      if (source) return source.pipeTo(destination);
      body = this.#take();
    } catch (error) {
      return Promise.reject(error);
    }
    return pipeReadable(body, destination, this.request);
  }

  /** The body as a web `ReadableStream`. */
  stream(): ReadableStream<Uint8Array> {
    return Readable.toWeb(this.#decoded(this.#take())) as ReadableStream<Uint8Array>;
  }

  /** The whole body as text (UTF-8), up to the body size limit. */
  async text(): Promise<string> {
    try {
      return await this.#readText();
    } catch (error) {
      throw toReqforgeError(error, this.request);
    }
  }

  /** The whole body as bytes, up to the body size limit. */
  async bytes(): Promise<Uint8Array> {
    try {
      return new Uint8Array(await this.#readBuffer());
    } catch (error) {
      throw toReqforgeError(error, this.request);
    }
  }

  /** The whole body as an `ArrayBuffer`, up to the body size limit. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  /**
   * The body parsed as JSON. An empty body gives `undefined`; malformed JSON throws a
   * {@link ParseError} with the start of the body (redacted).
   */
  async json<T = unknown>(): Promise<T> {
    let text: string;
    try {
      text = await this.#readText();
    } catch (error) {
      throw toReqforgeError(error, this.request);
    }
    if (text.length === 0) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      // JSON.parse quotes the start of the text in its message: scrub it like the excerpt.
      const request = this.request;
      const sent = request.redactor.sentValues(request.headers, request.path);
      throw new ParseError(`Response body of ${request.method} ${request.redactedUrl} is not valid JSON`, {
        cause: new SyntaxError(request.redactor.echo((error as Error).message, sent)),
        request,
        status: this.status,
        bodyExcerpt: request.redactor.echo(text.slice(0, 512), sent),
      });
    }
  }

  /**
   * The body parsed as JSON, or `undefined` when it is empty or not valid JSON (a `json_or_none`). Failures to read
   * the body (too large, aborted, a corrupt compressed body) still throw.
   */
  async jsonOrUndefined<T = unknown>(): Promise<T | undefined> {
    let text: string;
    try {
      text = await this.#readText();
    } catch (error) {
      throw toReqforgeError(error, this.request);
    }
    if (text.length === 0) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      return undefined;
    }
  }

  /**
   * Discards the body so the connection can be reused: reads up to 64 KiB, then closes the
   * connection instead of reading a large body. Safe to call more than once.
   */
  async dump(): Promise<void> {
    if (this.#used) return;
    this.#used = true;
    const body = this.#body;
    if (body instanceof BodySource) return body.dump(65_536);
    try {
      if (typeof (body as unknown as FastBody).dump === 'function') {
        await (body as unknown as FastBody).dump({ limit: 65_536 });
      } else {
        await readLimited(body, 65_536, this.request).catch(() => undefined);
      }
    } catch {
      discard(body);
    }
  }

  /** A redacted, JSON-safe description: status, headers with secret ones redacted, and the redacted request. */
  toJSON(): { status: number; headers: Record<string, string>; request: ReturnType<HttpRequest['toJSON']> } {
    return {
      status: this.status,
      headers: this.request.redactor.headers(this.headers),
      request: this.request.toJSON(),
    };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `HttpResponse ${inspect(this.toJSON(), options)}`;
  }

  /**
   * `await using response = await api.get(…)` discards an unread body when the block ends, so its connection goes
   * back to the pool (see {@link HttpResponse.dump}).
   */
  [ASYNC_DISPOSE](): Promise<void> {
    return this.dump();
  }

  /** The codings to undo when this response decodes and has a `Content-Encoding` it knows; else undefined. */
  #codings(): ContentCoding[] | undefined {
    if (!this.#decompress) return undefined;
    const header = this.headers['content-encoding'];
    return header === undefined ? undefined : contentCodings(header);
  }

  #decoded(stream: Readable): Readable {
    const codings = this.#codings();
    return codings ? decodeStream(stream, codings, this.request) : stream;
  }

  /** The whole body (decoded), up to the limit. */
  async #readBuffer(): Promise<Buffer> {
    const source = this.#source();
    const raw = source
      ? await source.buffer(this.#limit)
      : await readLimited(this.#take(), this.#limit, this.request);
    const codings = this.#codings();
    return codings ? decodeBuffer(raw, codings, this.#limit, this.request) : raw;
  }

  #readText(): Promise<string> {
    if (this.#codings()) return this.#readBuffer().then(utf8);
    const source = this.#source();
    if (source) return source.text(this.#limit);
    const body = this.#take();
    const length = Number(this.headers['content-length']);
    // undici bodies of a known, acceptable size are read by undici's own fast consumer.
    if (length <= this.#limit && typeof (body as unknown as FastBody).text === 'function') {
      return (body as unknown as FastBody).text();
    }
    return readLimited(body, this.#limit, this.request).then((b) => b.toString('utf8'));
  }

  /** The body source, marking the body used, when the transport gave one; else undefined. */
  #source(): BodySource | undefined {
    const body = this.#body;
    if (!(body instanceof BodySource)) return undefined;
    this.#checkUnused();
    this.#used = true;
    return body;
  }

  #checkUnused(): void {
    if (this.#used) {
      throw new ReqforgeError('The response body was already read or discarded', 'ERR_BODY_USED', {
        request: this.request,
      });
    }
  }

  #take(): Readable {
    this.#checkUnused();
    this.#used = true;
    const body = this.#body;
    return body instanceof BodySource ? body.stream() : body;
  }
}

const ignore = () => undefined;
const utf8 = (buffer: Buffer): string => buffer.toString('utf8');
const NO_REDIRECTS: readonly RedirectHop[] = Object.freeze([]);

/** Destroys a stream we no longer want; the abort error it may emit is expected and swallowed. */
export function discard(stream: Readable): void {
  stream.on('error', ignore);
  stream.destroy();
}

/**
 * @internal The error of a relay whose destination closed (no `cause`) or failed (`cause`) before the whole body
 * was handed over; shared by {@link HttpResponse.pipeTo} and the undici transport's relay.
 */
export function relayError(request: HttpRequest, cause?: unknown): ReqforgeError {
  return cause === undefined
    ? new ReqforgeError('The destination closed before the body was relayed', 'ERR_ABORTED', { request })
    : new ReqforgeError('The destination failed while the body was relayed', 'ERR_ABORTED', {
        cause,
        request,
      });
}

/** {@link HttpResponse.pipeTo} for a body that is a plain Node stream. */
function pipeReadable(body: Readable, destination: Writable, request: HttpRequest): Promise<void> {
  if (destination.destroyed || destination.writableEnded) {
    discard(body);
    return Promise.reject(relayError(request));
  }
  return new Promise<void>((resolve, reject) => {
    const done = (error?: unknown) => {
      body.off('error', onError);
      body.off('end', onEnd);
      destination.off('close', onClose);
      if (error === undefined) destination.off('error', onDestinationError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDestinationError = (cause: unknown) => {
      body.unpipe(destination);
      discard(body);
      done(relayError(request, cause));
    };
    const onEnd = () => done();
    const onError = (error: unknown) => {
      destination.destroy();
      done(toReqforgeError(error, request));
    };
    const onClose = () => {
      if (body.readableEnded) return;
      discard(body);
      done(relayError(request));
    };
    body.on('error', onError);
    body.on('end', onEnd);
    destination.on('close', onClose);
    destination.on('error', onDestinationError);
    body.pipe(destination);
  });
}

/** Reads a stream into one Buffer, failing with {@link BodyTooLargeError} past `limit` bytes. */
export function readLimited(stream: Readable, limit: number, request?: HttpRequest): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size > limit) {
        cleanup();
        discard(stream);
        reject(new BodyTooLargeError(limit, { request }));
        return;
      }
      chunks.push(buf);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/** Reads at most `limit` bytes of a stream, then closes it; tells whether more was left. */
async function readExcerpt(stream: Readable, limit: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      chunks.push(buf);
      size += buf.length;
      if (size >= limit) {
        truncated = size > limit;
        break;
      }
    }
  } catch {
    // A body that fails mid-way still gives what arrived; the status is what matters.
  } finally {
    if (!stream.readableEnded) discard(stream);
  }
  const all = Buffer.concat(chunks, size);
  return { text: all.subarray(0, limit).toString('utf8'), truncated };
}

/** Default size of the body excerpt kept on an {@link HttpError}: 8 KiB. */
export const DEFAULT_ERROR_BODY_LIMIT = 8 * 1024;

/**
 * Builds the {@link HttpError} subclass for a non-2xx response: reads a bounded excerpt of the body
 * (redacted), parses `application/problem+json`, and releases the connection.
 */
export async function createHttpError(
  response: HttpResponse,
  limit = DEFAULT_ERROR_BODY_LIMIT,
): Promise<HttpError> {
  const request = response.request;
  const redactor = request.redactor;
  let excerpt = { text: '', truncated: false };
  if (!response.bodyUsed) excerpt = await readExcerpt(response.body, limit);
  const contentType = response.header('content-type') ?? '';
  let problem: ProblemDetails | undefined;
  if (contentType.includes('application/problem+json') && !excerpt.truncated) {
    try {
      const parsed: unknown = JSON.parse(excerpt.text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) problem = parsed as ProblemDetails;
    } catch {
      // Not valid JSON despite its content type: keep the excerpt only.
    }
  }
  // What this client sent as credentials, read from the request on this error path only and dropped with it.
  const sent = redactor.sentValues(request.headers, request.path);
  const init: HttpErrorInit = {
    status: response.status,
    headers: redactor.value(redactor.headers(response.headers), sent) as Record<string, string>,
    bodyExcerpt: redactor.echo(excerpt.text, sent),
    bodyTruncated: excerpt.truncated,
    problem: problem && (redactor.value(problem, sent) as ProblemDetails),
    request,
    attempts: response.attempts,
  };
  switch (response.status) {
    case 400:
      return new BadRequestError(init);
    case 401:
      return new UnauthorizedError(init);
    case 403:
      return new ForbiddenError(init);
    case 404:
      return new NotFoundError(init);
    case 409:
      return new ConflictError(init);
    case 422:
      return new UnprocessableEntityError(init);
    case 429:
      return new TooManyRequestsError({
        ...init,
        retryAfter: parseRetryAfter(response.headers['retry-after'], Date.now()),
      });
    default:
      return response.status >= 500 ? new ServerError(init) : new HttpError(init);
  }
}
