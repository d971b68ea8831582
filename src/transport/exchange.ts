import { Readable } from 'node:stream';
import type { CallAbort } from '../core/context.js';
import { BodyTooLargeError, ReqforgeError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import type { HttpRequest } from '../core/request.js';
import { BodySource, HttpResponse, type ResponseHeaders } from '../core/response.js';

/** Bytes buffered for a body nobody reads yet before the socket is paused (backpressure). */
const HIGH_WATER_MARK = 64 * 1024;

enum Consumer {
  /** Nobody has asked for the body yet: chunks are kept (up to the high-water mark, then the socket pauses). */
  None,
  /** `text()` / `buffer()`: chunks are kept until the end. */
  Whole,
  /** `dump()`: chunks are dropped; past the limit the request is aborted. */
  Dump,
  /** `stream()`: chunks go to the Readable. */
  Stream,
}

/** Parses undici's raw header list into lower-cased names; repeated headers become arrays. */
export function parseRawHeaders(raw: readonly Buffer[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const seen = headers[name];
    if (seen === undefined || !Object.hasOwn(headers, name)) {
      // `__proto__` must become an own property, never the prototype.
      if (name === '__proto__')
        Object.defineProperty(headers, name, { value, enumerable: true, configurable: true, writable: true });
      else headers[name] = value;
    } else if (typeof seen === 'string') headers[name] = [seen, value];
    else seen.push(value);
  }
  return headers;
}

/**
 * One request/response exchange on undici's dispatcher: the dispatch handler (undici's callback interface, which
 * its core calls directly) and the response's {@link BodySource}. Going through `dispatch` instead of
 * `request()` skips the per-call `AsyncResource`, the `Readable` body and a promise layer; a stream is built
 * only when the caller asks for one.
 */
export class Exchange extends BodySource {
  readonly #request: HttpRequest;
  readonly #abortState: CallAbort | undefined;
  readonly #maxBodySize: number;
  readonly #start: number;
  #resolve: ((response: HttpResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #abortRequest: ((reason: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #paused = false;
  #headersSeen = false;
  #ended = false;
  #error: unknown;
  #chunks: Buffer[] = [];
  #size = 0;
  #consumer = Consumer.None;
  #limit = 0;
  #settle: ((value: Buffer) => void) | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #stream: Readable | undefined;
  #listener: (() => void) | undefined;

  constructor(
    request: HttpRequest,
    abort: CallAbort | undefined,
    maxBodySize: number,
    resolve: (response: HttpResponse) => void,
    reject: (error: unknown) => void,
  ) {
    super();
    this.#request = request;
    this.#abortState = abort;
    this.#maxBodySize = maxBodySize;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#start = performance.now();
    if (abort) {
      this.#listener = () => this.#onAbort();
      abort.on('abort', this.#listener);
    }
  }

  #onAbort(): void {
    const reason = this.#abortState?.reason;
    const error = reason instanceof Error ? reason : new ReqforgeError('The call was aborted', 'ERR_ABORTED');
    if (this.#abortRequest) this.#abortRequest(error);
    // Not connected yet: undici asks in onConnect, which sees the aborted state.
  }

  #detach(): void {
    if (this.#listener) this.#abortState?.removeListener('abort', this.#listener);
    this.#listener = undefined;
  }

  // --- undici dispatch handler -------------------------------------------------------------------------

  onConnect(abort: (reason: Error) => void): void {
    this.#abortRequest = abort;
    if (this.#abortState?.aborted) this.#onAbort();
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, _statusText?: string): boolean {
    if (status < 200) return true; // 1xx informational: the real response follows
    this.#headersSeen = true;
    this.#resume = resume;
    const resolve = this.#resolve as (response: HttpResponse) => void;
    this.#resolve = undefined;
    this.#reject = undefined;
    resolve(
      new HttpResponse({
        status,
        headers: parseRawHeaders(rawHeaders) as ResponseHeaders,
        body: this,
        request: this.#request,
        elapsed: performance.now() - this.#start,
        maxBodySize: this.#maxBodySize,
      }),
    );
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#size += chunk.length;
    switch (this.#consumer) {
      case Consumer.Stream:
        if ((this.#stream as Readable).push(chunk)) return true;
        this.#paused = true;
        return false;
      case Consumer.Dump:
        if (this.#size > this.#limit)
          this.#abortRequest?.(new ReqforgeError('Body discarded', 'ERR_ABORTED'));
        return true;
      case Consumer.Whole:
        if (this.#size > this.#limit) {
          this.#failWhole(new BodyTooLargeError(this.#limit, { request: this.#request }));
          return false;
        }
        this.#chunks.push(chunk);
        return true;
      default:
        this.#chunks.push(chunk);
        if (this.#size < HIGH_WATER_MARK) return true;
        this.#paused = true;
        return false;
    }
  }

  onComplete(_trailers: unknown): void {
    this.#ended = true;
    this.#detach();
    switch (this.#consumer) {
      case Consumer.Stream:
        (this.#stream as Readable).push(null);
        break;
      case Consumer.Whole: {
        const settle = this.#settle;
        this.#settle = undefined;
        this.#fail = undefined;
        settle?.(this.#take());
        break;
      }
      case Consumer.Dump:
        this.#settleDump();
        break;
    }
  }

  onError(error: Error): void {
    this.#detach();
    if (!this.#headersSeen) {
      const reject = this.#reject;
      this.#resolve = undefined;
      this.#reject = undefined;
      reject?.(toReqforgeError(error, this.#request, this.#abortState));
      return;
    }
    if (this.#ended || this.#error !== undefined) return;
    this.#error = error;
    this.#chunks = [];
    switch (this.#consumer) {
      case Consumer.Stream:
        (this.#stream as Readable).destroy(toReqforgeError(error, this.#request, this.#abortState));
        break;
      case Consumer.Dump:
        this.#settleDump();
        break;
      case Consumer.Whole:
        this.#failWhole(error);
        break;
    }
  }

  // --- BodySource ----------------------------------------------------------------------------------------

  text(limit: number): Promise<string> {
    return this.buffer(limit).then(utf8);
  }

  buffer(limit: number): Promise<Buffer> {
    if (this.#error !== undefined) return Promise.reject(this.#bodyError(this.#error));
    if (this.#size > limit) {
      this.#abortRequest?.(new ReqforgeError('Body too large', 'ERR_ABORTED'));
      this.#chunks = [];
      return Promise.reject(new BodyTooLargeError(limit, { request: this.#request }));
    }
    if (this.#ended) return Promise.resolve(this.#take());
    this.#consumer = Consumer.Whole;
    this.#limit = limit;
    return new Promise<Buffer>((resolve, reject) => {
      this.#settle = resolve;
      this.#fail = reject;
      this.#unpause();
    });
  }

  dump(limit: number): Promise<void> {
    this.#chunks = [];
    if (this.#ended || this.#error !== undefined) return Promise.resolve();
    this.#consumer = Consumer.Dump;
    this.#limit = limit;
    if (this.#size > limit) {
      this.#abortRequest?.(new ReqforgeError('Body discarded', 'ERR_ABORTED'));
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.#settle = () => resolve();
      this.#unpause();
    });
  }

  stream(): Readable {
    if (this.#stream) return this.#stream;
    const stream = new Readable({
      read: () => this.#unpause(),
      destroy: (error, callback) => {
        // The reader gave up before the end: close the exchange so the connection is not left half-read.
        if (!this.#ended && this.#error === undefined)
          this.#abortRequest?.(
            error ?? new ReqforgeError('The response body stream was destroyed', 'ERR_ABORTED'),
          );
        callback(error);
      },
    });
    this.#stream = stream;
    this.#consumer = Consumer.Stream;
    for (const chunk of this.#chunks) stream.push(chunk);
    this.#chunks = [];
    if (this.#error !== undefined) stream.destroy(this.#bodyError(this.#error) as Error);
    else if (this.#ended) stream.push(null);
    return stream;
  }

  #take(): Buffer {
    const chunks = this.#chunks;
    this.#chunks = [];
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.#size);
  }

  #unpause(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#resume?.();
  }

  #failWhole(error: unknown): void {
    const fail = this.#fail;
    this.#settle = undefined;
    this.#fail = undefined;
    this.#chunks = [];
    if (error instanceof BodyTooLargeError) {
      this.#error = error;
      this.#abortRequest?.(new ReqforgeError('Body too large', 'ERR_ABORTED'));
    }
    fail?.(this.#bodyError(error));
  }

  #settleDump(): void {
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.(Buffer.alloc(0));
  }

  #bodyError(error: unknown): unknown {
    return error instanceof BodyTooLargeError
      ? error
      : toReqforgeError(error, this.#request, this.#abortState);
  }
}

function utf8(buffer: Buffer): string {
  return buffer.toString('utf8');
}
