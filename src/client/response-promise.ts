/** The promise every call returns, with body shortcuts (`await client.get('/x').json()`). */
import type { HttpResponse } from '../core/response.js';

/** A response promise with body shortcuts: `await client.get('/x').json()`. */
export interface ResponsePromise<T = unknown> extends Promise<HttpResponse> {
  /** Awaits the response and parses its body as JSON. */
  json<R = T>(): Promise<R>;
  /** Awaits the response and reads its body as text. */
  text(): Promise<string>;
  /** Awaits the response and reads its body as an ArrayBuffer. */
  arrayBuffer(): Promise<ArrayBuffer>;
  /** Awaits the response and reads its body as bytes. */
  bytes(): Promise<Uint8Array>;
}

const toJson = (r: HttpResponse) => r.json();
const toText = (r: HttpResponse) => r.text();
const toArrayBuffer = (r: HttpResponse) => r.arrayBuffer();
const toBytes = (r: HttpResponse) => r.bytes();
// Shared functions, not per-call closures: `this` is the promise they were called on.
function json(this: Promise<HttpResponse>) {
  return this.then(toJson);
}
function text(this: Promise<HttpResponse>) {
  return this.then(toText);
}
function arrayBuffer(this: Promise<HttpResponse>) {
  return this.then(toArrayBuffer);
}
function bytes(this: Promise<HttpResponse>) {
  return this.then(toBytes);
}

/** Adds the body shortcuts to a response promise (shared functions: nothing is allocated per call). */
export function withBodyHelpers<T>(promise: Promise<HttpResponse>): ResponsePromise<T> {
  const p = promise as ResponsePromise<T>;
  p.json = json as ResponsePromise<T>['json'];
  p.text = text;
  p.arrayBuffer = arrayBuffer;
  p.bytes = bytes;
  return p;
}
