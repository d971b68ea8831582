/**
 * The built-in step fetchers of a `TokenPipeline`: call an endpoint with the dependencies' tokens and read the
 * step's token from a JSON body path ({@link fromJsonBody}) or a response header ({@link fromHeader}).
 */
import { InvalidOptionError } from '../core/errors.js';
import type { HeadersInit } from '../core/request.js';
import type { HttpResponse } from '../core/response.js';
import { TokenEndpointError } from './errors.js';
import type { PipelineStepContext, StepFetcher } from './pipeline-steps.js';
import type { Token } from './token.js';

/** What the built-in fetchers send. Builders get the dependencies' tokens. */
export interface EndpointFetcherOptions {
  /** The endpoint's absolute URL. */
  readonly url: string;
  /**
   * @default 'POST'
   */
  readonly method?: string;
  /** Headers; put dependency tokens here as Secrets (`deps.device.value`), they are revealed only on the wire. */
  readonly headers?: (deps: Readonly<Record<string, Token>>) => HeadersInit;
  /** A form body. */
  readonly form?: (deps: Readonly<Record<string, Token>>) => Record<string, string>;
  /** A JSON body. */
  readonly json?: (deps: Readonly<Record<string, Token>>) => unknown;
}

async function callEndpoint(
  options: EndpointFetcherOptions,
  ctx: PipelineStepContext,
): Promise<HttpResponse> {
  const form = options.form?.(ctx.deps);
  const json = options.json?.(ctx.deps);
  const response = await ctx.client.request(options.method ?? 'POST', options.url, {
    ...(options.headers ? { headers: options.headers(ctx.deps) } : {}),
    ...(form !== undefined ? { form } : {}),
    ...(json !== undefined ? { json } : {}),
    signal: ctx.signal,
    throwHttpErrors: false,
    retry: false,
  });
  if (!response.ok) {
    let error: string | undefined;
    try {
      const body = (await response.json()) as { error?: unknown };
      if (typeof body?.error === 'string') error = errorField(body.error, response, ctx.deps, form);
    } catch {
      // not JSON: the status says enough
    }
    throw new TokenEndpointError(
      `The "${ctx.step}" endpoint answered status ${response.status}${error ? ` (${error})` : ''}`,
      { status: response.status, error, request: response.request },
    );
  }
  return response;
}

/** RFC 6749 §5.2: an `error` value uses %x20-21 / %x23-5B / %x5D-7E only; anything else is shown as `?`. */
const NOT_ERROR_CHAR = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

/**
 * The endpoint's `error` field as it may appear in a message: every credential the step sent (dependency
 * tokens, secret headers, query and form values) and secret JSON fields redacted first, then cut to 64
 * characters and restricted to the RFC 6749 error charset (no CR/LF for log injection). Runs on failures only.
 */
function errorField(
  raw: string,
  response: HttpResponse,
  deps: Readonly<Record<string, Token>>,
  form: Record<string, string> | undefined,
): string {
  const { redactor, headers, path } = response.request;
  const sent = redactor.sentValues(headers, path);
  for (const token of Object.values(deps)) sent.push(token.value.reveal());
  for (const [name, value] of Object.entries(form ?? {})) if (redactor.isSecretParam(name)) sent.push(value);
  // Longest first, so a whole value goes before a shorter one inside it.
  sent.sort((a, b) => b.length - a.length);
  return redactor.echo(raw, sent).slice(0, 64).replace(NOT_ERROR_CHAR, '?');
}

function at(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * A step fetcher that calls an endpoint and reads the token from a JSON body path such as
 * `data.app_token`; `expiresInPath` (default `expires_in`) gives its lifetime in seconds.
 */
export function fromJsonBody(
  options: EndpointFetcherOptions & { readonly tokenPath: string; readonly expiresInPath?: string },
): StepFetcher {
  if (typeof options?.tokenPath !== 'string' || !options.tokenPath) {
    throw new InvalidOptionError('tokenPath', 'expected a dotted JSON path such as "data.token"');
  }
  return async (ctx) => {
    const response = await callEndpoint(options, ctx);
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new TokenEndpointError(`The "${ctx.step}" endpoint answered with a body that is not JSON`, {
        status: response.status,
        request: response.request,
      });
    }
    const token = at(body, options.tokenPath);
    if (typeof token !== 'string' || !token) {
      throw new TokenEndpointError(
        `The "${ctx.step}" endpoint answered without a token at "${options.tokenPath}"`,
        {
          status: response.status,
          request: response.request,
        },
      );
    }
    const expiresIn = Number(at(body, options.expiresInPath ?? 'expires_in'));
    return {
      accessToken: token,
      expiresIn: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined,
    };
  };
}

/**
 * A step fetcher that calls an endpoint and reads the token from a response header;
 * `expiresInHeader` optionally names a header with its lifetime in seconds.
 */
export function fromHeader(
  options: EndpointFetcherOptions & { readonly header: string; readonly expiresInHeader?: string },
): StepFetcher {
  if (typeof options?.header !== 'string' || !options.header) {
    throw new InvalidOptionError('header', 'expected the name of the response header carrying the token');
  }
  const name = options.header.toLowerCase();
  return async (ctx) => {
    const response = await callEndpoint(options, ctx);
    await response.dump();
    const raw = response.headers[name];
    const token = Array.isArray(raw) ? raw[0] : raw;
    if (typeof token !== 'string' || !token) {
      throw new TokenEndpointError(`The "${ctx.step}" endpoint answered without the "${name}" header`, {
        status: response.status,
        request: response.request,
      });
    }
    const exp = options.expiresInHeader
      ? Number(response.headers[options.expiresInHeader.toLowerCase()])
      : Number.NaN;
    return { accessToken: token, expiresIn: Number.isFinite(exp) && exp > 0 ? exp : undefined };
  };
}
