import { Readable, type Writable } from 'node:stream';
import { util } from 'undici';
import type { Clock } from '../core/clock.js';
import type { CallAbort } from '../core/context.js';
import type { DeadlineQueue } from '../core/deadlines.js';
import { AbortError, BodyTooLargeError, ReqforgeError, TimeoutError } from '../core/errors.js';
import { toReqforgeError } from '../core/normalize.js';
import type { HttpRequest } from '../core/request.js';
import { BodySource, HttpResponse, type ResponseHeaders, relayError } from '../core/response.js';
import type { CallContext } from '../core/types.js';

const EMPTY = Buffer.alloc(0);
const noop = (): void => undefined;

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
  /** `pipeTo()`: chunks are written straight to a Writable. */
  Sink,
}

/** Parses undici's raw header list into lower-cased names; repeated headers become arrays. */
export function parseRawHeaders(raw: readonly (Buffer | Buffer[])[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    // undici's lookup knows the common names already lower-cased, without building a string per header.
    const name = util.headerNameToString(raw[i] as Buffer);
    const given = raw[i + 1]!;
    // undici's handler wrappers (dispatchers with interceptors) hand repeated headers over as one array.
    if (Array.isArray(given)) {
      for (const one of given) add(headers, name, one.toString('latin1'));
      continue;
    }
    add(headers, name, given.toString('latin1'));
  }
  return headers;
}

function add(headers: Record<string, string | string[]>, name: string, value: string): void {
  const seen = headers[name];
  if (seen === undefined || !Object.hasOwn(headers, name)) {
    // `__proto__` must become an own property, never the prototype.
    if (name === '__proto__')
      Object.defineProperty(headers, name, { value, enumerable: true, configurable: true, writable: true });
    else headers[name] = value;
  } else if (typeof seen === 'string') headers[name] = [seen, value];
  else seen.push(value);
}

/**
 * One request/response exchange on undici's dispatcher: the dispatch handler (undici's callback interface, which
 * its core calls directly) and the response's {@link BodySource}. Going through `dispatch` instead of
 * `request()` skips the per-call `AsyncResource`, the `Readable` body and a promise layer; a stream is built
 * only when the caller asks for one.
 */
export class Exchange extends BodySource {
  readonly #request: HttpRequest;
  readonly #maxBodySize: number;
  readonly #decompress: boolean;
  readonly #start: number;
  readonly #clock: Clock;
  #resolve: ((response: HttpResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #abortRequest: ((reason: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #paused = false;
  #headersSeen = false;
  #ended = false;
  #error: ReqforgeError | undefined;
  #chunks: Buffer[] = [];
  #size = 0;
  #consumer = Consumer.None;
  #limit = 0;
  #settle: ((value: Buffer | string) => void) | undefined;
  #text = false;
  #fail: ((error: unknown) => void) | undefined;
  #stream: Readable | undefined;
  #sink: Writable | undefined;
  #listener: (() => void) | undefined;
  #watching: CallAbort | undefined;
  #root: CallAbort | undefined;

  /** Deadline queue entry (when an attempt timeout handed its deadline over). */
  at = 0;
  queued = false;
  readonly #deadline: DeadlineQueue | undefined;
  /** Why the request was given up before undici connected it, so `onConnect` drops it. */
  #cancelled: Error | undefined;

  constructor(
    request: HttpRequest,
    ctx: CallContext,
    deadline: DeadlineQueue | undefined,
    resolve: (response: HttpResponse) => void,
    reject: (error: unknown) => void,
  ) {
    super();
    this.#deadline = deadline;
    this.#request = request;
    this.#maxBodySize = ctx.maxBodySize;
    this.#decompress = ctx.decompress;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#clock = ctx.clock;
    // Until the headers, the current abort state (timeouts included); then the call's own, which the caller's
    // signal drives while the body is read.
    const root = ctx.callAbort;
    if (!root.inert) {
      this.#root = root;
      root.retain();
    }
    // The deadline's clock reading doubles as the start time (one clock read per attempt, not two).
    this.#start = deadline ? deadline.add(this) - deadline.ms : ctx.clock.now();
    if (!ctx.abort.inert) this.#watch(ctx.abort);
  }

  /** The attempt deadline passed before the response headers: abort the request and fail the attempt now. */
  fire(): void {
    const error = new TimeoutError('attempt', (this.#deadline as DeadlineQueue).ms, {
      request: this.#request,
    });
    this.#cancel(error);
  }

  /** Aborts the request; one still waiting for a connection fails now, and undici drops it when it gets one. */
  #cancel(error: Error): void {
    if (this.#abortRequest) {
      this.#abortRequest(error);
      return;
    }
    this.#cancelled ??= error;
    this.onError(error);
  }

  #watch(abort: CallAbort): void {
    this.#listener ??= () => this.#onAbort();
    this.#watching = abort;
    if (abort.aborted) this.#onAbort();
    else abort.on('abort', this.#listener);
  }

  #onAbort(): void {
    const reason = this.#watching?.reason;
    this.#cancel(
      reason instanceof Error ? reason : new AbortError({ cause: reason, request: this.#request }),
    );
  }

  #unwatch(): void {
    if (this.#listener) this.#watching?.removeListener('abort', this.#listener);
    this.#watching = undefined;
  }

  /** The exchange is over: stop listening, and let the call stop following the caller's signal. */
  #detach(): void {
    this.#unwatch();
    const root = this.#root;
    this.#root = undefined;
    root?.release();
  }

  // --- undici dispatch handler -------------------------------------------------------------------------

  onConnect(abort: (reason: Error) => void): void {
    this.#abortRequest = abort;
    if (this.#cancelled) abort(this.#cancelled);
  }

  onHeaders(
    status: number,
    rawHeaders: (Buffer | Buffer[])[],
    resume: () => void,
    _statusText?: string,
  ): boolean {
    if (status < 200) return true; // 1xx informational: the real response follows
    this.#headersSeen = true;
    this.#resume = resume;
    this.#deadline?.remove(this);
    if (this.#root && this.#watching !== this.#root) {
      this.#unwatch();
      this.#watch(this.#root);
    }
    const resolve = this.#resolve as (response: HttpResponse) => void;
    this.#resolve = undefined;
    this.#reject = undefined;
    resolve(
      new HttpResponse({
        status,
        headers: parseRawHeaders(rawHeaders) as ResponseHeaders,
        body: this,
        request: this.#request,
        elapsed: this.#clock.now() - this.#start,
        maxBodySize: this.#maxBodySize,
        decompress: this.#decompress,
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
      case Consumer.Sink:
        if ((this.#sink as Writable).write(chunk)) return true;
        this.#paused = true;
        this.#awaitDrain(this.#sink as Writable);
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
      case Consumer.Sink:
        this.#endSink();
        break;
      case Consumer.Whole: {
        const settle = this.#settle;
        this.#settle = undefined;
        this.#fail = undefined;
        settle?.(this.#text ? utf8(this.#take()) : this.#take());
        break;
      }
      case Consumer.Dump:
        this.#settleDump();
        break;
    }
  }

  onError(cause: Error): void {
    const error =
      cause instanceof BodyTooLargeError
        ? cause
        : toReqforgeError(cause, this.#request, this.#watching ?? this.#root);
    this.#detach();
    this.#deadline?.remove(this);
    if (!this.#headersSeen) {
      const reject = this.#reject;
      this.#resolve = undefined;
      this.#reject = undefined;
      reject?.(error);
      return;
    }
    if (this.#ended || this.#error !== undefined) return;
    this.#error = error;
    this.#chunks = [];
    switch (this.#consumer) {
      case Consumer.Stream:
        (this.#stream as Readable).destroy(error);
        break;
      case Consumer.Sink:
        this.#failSink(error);
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
    return this.#whole(limit, true) as Promise<string>;
  }

  buffer(limit: number): Promise<Buffer> {
    return this.#whole(limit, false) as Promise<Buffer>;
  }

  #whole(limit: number, text: boolean): Promise<Buffer | string> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#size > limit) {
      this.#abortRequest?.(new ReqforgeError('Body too large', 'ERR_ABORTED'));
      this.#chunks = [];
      return Promise.reject(new BodyTooLargeError(limit, { request: this.#request }));
    }
    if (this.#ended) return Promise.resolve(text ? utf8(this.#take()) : this.#take());
    this.#consumer = Consumer.Whole;
    this.#limit = limit;
    this.#text = text;
    return new Promise<Buffer | string>((resolve, reject) => {
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
    if (this.#consumer !== Consumer.None) {
      throw new ReqforgeError('The response body was already read or discarded', 'ERR_BODY_USED', {
        request: this.#request,
      });
    }
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
    if (this.#error !== undefined) stream.destroy(this.#error);
    else if (this.#ended) stream.push(null);
    return stream;
  }

  pipeTo(destination: Writable): Promise<void> {
    if (destination.destroyed || destination.writableEnded) {
      // Nobody to write to: stop the exchange rather than leave the connection paused half-read.
      const gone = relayError(this.#request);
      if (this.#error === undefined && !this.#ended) {
        this.#error = gone;
        this.#cancel(gone);
      }
      return Promise.reject(gone);
    }
    if (this.#error !== undefined) {
      destination.destroy();
      return Promise.reject(this.#error);
    }
    this.#consumer = Consumer.Sink;
    if (this.#ended) {
      // The whole body is here (the usual case for small answers): one write that also ends the destination.
      destination.end(this.#chunks.length === 0 ? undefined : this.#take());
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#sink = destination;
      this.#settle = () => resolve();
      this.#fail = reject;
      this.#drained = () => {
        this.#waitingDrain = false;
        this.#unpause();
      };
      this.#sinkClosed = () => this.#onSinkClosed();
      this.#sinkFailed = (error: unknown) => this.#onSinkFailed(error);
      destination.on('close', this.#sinkClosed);
      destination.on('error', this.#sinkFailed);
      for (const chunk of this.#chunks) destination.write(chunk);
      this.#chunks = [];
      if (destination.writableNeedDrain) this.#awaitDrain(destination);
      else this.#unpause();
    });
  }

  // Listeners of a streaming pipeTo, made only then.
  #drained: () => void = noop;
  #sinkClosed: () => void = noop;
  #sinkFailed: (error: unknown) => void = noop;
  #waitingDrain = false;

  #awaitDrain(destination: Writable): void {
    if (this.#waitingDrain) return;
    this.#waitingDrain = true;
    destination.once('drain', this.#drained);
  }

  // The destination went away before the end: stop the exchange rather than leave the connection half-read.
  #onSinkClosed(): void {
    if (this.#ended || this.#error !== undefined) return;
    const error = relayError(this.#request);
    this.#error = error;
    this.#cancel(error);
    this.#settleSink(error);
  }

  // The destination failed (a file system full…): stop the exchange and report the destination's error.
  #onSinkFailed(cause: unknown): void {
    if (this.#error !== undefined) return;
    const error = relayError(this.#request, cause);
    this.#error = error;
    if (!this.#ended) this.#cancel(error);
    this.#settleSink(error);
  }

  #endSink(): void {
    (this.#sink as Writable).end();
    this.#settleSink(undefined);
  }

  #failSink(error: ReqforgeError): void {
    (this.#sink as Writable).destroy();
    this.#settleSink(error);
  }

  #settleSink(error: unknown): void {
    const sink = this.#sink as Writable;
    sink.off('close', this.#sinkClosed);
    sink.off('drain', this.#drained);
    // Keep swallowing the destination's errors: it may still emit one after we are done with it.
    if (error === undefined) sink.off('error', this.#sinkFailed);
    const settle = this.#settle;
    const fail = this.#fail;
    this.#settle = undefined;
    this.#fail = undefined;
    if (error === undefined) settle?.(EMPTY);
    else fail?.(error);
  }

  #take(): Buffer {
    const chunks = this.#chunks;
    this.#chunks = [];
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  }

  #unpause(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#resume?.();
  }

  #failWhole(error: ReqforgeError): void {
    const fail = this.#fail;
    this.#settle = undefined;
    this.#fail = undefined;
    this.#chunks = [];
    if (error instanceof BodyTooLargeError) {
      this.#error = error;
      this.#abortRequest?.(new ReqforgeError('Body too large', 'ERR_ABORTED'));
    }
    fail?.(error);
  }

  #settleDump(): void {
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.(EMPTY);
  }
}

function utf8(buffer: Buffer): string {
  return buffer.toString('utf8');
}
