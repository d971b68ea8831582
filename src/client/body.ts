/**
 * The request body of one call: `json`, `form` or `body` turned into what the transport sends, with the
 * content type it implies (set only when the caller's headers name none).
 */
import { InvalidRequestError } from '../core/errors.js';
import type { HeaderRecord, RequestBody } from '../core/request.js';
import type { BodyInit, CallOptions } from './options.js';

/**
 * The body of a call and its implied content type: `own()` returns the call's own (copied) header record, so the
 * client's shared default headers are copied only when a content type has to be added.
 */
export function buildBody(
  options: CallOptions,
  headers: HeaderRecord,
  own: () => Record<string, string>,
): RequestBody | undefined {
  const given =
    (options.json !== undefined ? 1 : 0) +
    (options.form !== undefined ? 1 : 0) +
    (options.body !== undefined ? 1 : 0);
  if (given === 0) return undefined;
  if (given > 1) throw new InvalidRequestError('Give only one of json, form and body');
  const setType = (type: string) => {
    if (headers['content-type'] === undefined) own()['content-type'] = type;
  };
  if (options.json !== undefined) {
    let text: string | undefined;
    try {
      text = JSON.stringify(options.json);
    } catch (error) {
      throw new InvalidRequestError(`The json body cannot be serialised: ${(error as Error).message}`);
    }
    if (text === undefined)
      throw new InvalidRequestError('The json body serialises to nothing (a function or symbol?)');
    setType('application/json');
    return text;
  }
  if (options.form !== undefined) {
    const form = options.form;
    let text: string;
    if (form instanceof URLSearchParams) text = form.toString();
    else {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(form)) {
        if (Array.isArray(v)) for (const item of v) params.append(k, String(item));
        else params.append(k, String(v));
      }
      text = params.toString();
    }
    setType('application/x-www-form-urlencoded');
    return text;
  }
  const body = options.body as BodyInit;
  if (typeof body === 'string') {
    setType('text/plain;charset=utf-8');
    return body;
  }
  if (body instanceof URLSearchParams) {
    setType('application/x-www-form-urlencoded');
    return body.toString();
  }
  if (body instanceof ArrayBuffer) {
    setType('application/octet-stream');
    return new Uint8Array(body);
  }
  if (body instanceof Uint8Array || typeof body === 'function') {
    setType('application/octet-stream');
    return body;
  }
  if (body instanceof FormData) return body;
  if (body !== null && typeof body === 'object' && (Symbol.asyncIterator in body || 'getReader' in body)) {
    setType('application/octet-stream');
    return body;
  }
  throw new InvalidRequestError(
    'Unsupported body: use a string, Uint8Array, ArrayBuffer, URLSearchParams, FormData, a stream or a function returning one',
  );
}
