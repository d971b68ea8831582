import { internalErrorBrand, ReqforgeError, type ReqforgeErrorOptions } from '../core/errors.js';

/** Init of a {@link TokenEndpointError}. */
export interface TokenEndpointErrorInit extends ReqforgeErrorOptions {
  /** HTTP status of the token endpoint's answer; undefined when none arrived. */
  readonly status?: number | undefined;
  /** The OAuth2 `error` field (`invalid_client`, `invalid_grant`, …), when the endpoint sent one. */
  readonly error?: string | undefined;
  /** The OAuth2 `error_description`, with any known credential removed. */
  readonly errorDescription?: string | undefined;
}

/**
 * A token endpoint refused or could not answer a token request. `code` is `ERR_INVALID_GRANT`,
 * `ERR_INVALID_CLIENT`, `ERR_INVALID_SCOPE` for those OAuth2 errors and `ERR_TOKEN_ENDPOINT` for
 * everything else (other OAuth2 errors, non-JSON bodies, a missing `access_token`).
 * The message and fields never contain a credential or a token.
 */
export class TokenEndpointError extends ReqforgeError {
  /** HTTP status of the token endpoint's answer, if one arrived. */
  readonly status: number | undefined;
  /** The OAuth2 `error` field, such as `invalid_grant`. */
  readonly error: string | undefined;
  /** The OAuth2 `error_description`, redacted. */
  readonly errorDescription: string | undefined;

  constructor(message: string, init: TokenEndpointErrorInit = {}) {
    super(message, tokenErrorCode(init.error), init);
    this.status = init.status;
    this.error = init.error;
    this.errorDescription = init.errorDescription;
  }
}
internalErrorBrand.brand(TokenEndpointError, 'TokenEndpointError');

function tokenErrorCode(error: string | undefined): string {
  switch (error) {
    case 'invalid_grant':
      return 'ERR_INVALID_GRANT';
    case 'invalid_client':
      return 'ERR_INVALID_CLIENT';
    case 'invalid_scope':
      return 'ERR_INVALID_SCOPE';
    default:
      return 'ERR_TOKEN_ENDPOINT';
  }
}

/**
 * No usable token could be obtained: the provider failed and no cached token is still valid.
 * `cause` holds the provider's error. Code `ERR_TOKEN_UNAVAILABLE`.
 */
export class TokenUnavailableError extends ReqforgeError {
  /** The cache key (client id, scopes, audience) the token was wanted for. */
  readonly key: string;
  /**
   * Milliseconds until a token may be asked for again, when the manager holds fetches back (a replacement token
   * was rejected with 401 within `forcedRefreshInterval`); undefined otherwise.
   */
  readonly retryAfter: number | undefined;

  constructor(
    key: string,
    options: ReqforgeErrorOptions & { readonly retryAfter?: number | undefined } = {},
  ) {
    const wait = options.retryAfter === undefined ? '' : `; retry in ${Math.ceil(options.retryAfter)} ms`;
    super(`No valid token is available for "${key}"${wait}`, 'ERR_TOKEN_UNAVAILABLE', options);
    this.key = key;
    this.retryAfter = options.retryAfter;
  }
}
internalErrorBrand.brand(TokenUnavailableError, 'TokenUnavailableError');

/** A step of a token pipeline failed; `step` names it and `cause` holds the error. Code `ERR_TOKEN_STEP`. */
export class TokenStepError extends ReqforgeError {
  /** The name of the step that failed. */
  readonly step: string;

  constructor(step: string, options: ReqforgeErrorOptions = {}) {
    const detail = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`Token pipeline step "${step}" failed${detail}`, 'ERR_TOKEN_STEP', options);
    this.step = step;
  }
}
internalErrorBrand.brand(TokenStepError, 'TokenStepError');

/** True for a {@link TokenEndpointError} (from any copy of reqforge). */
export const isTokenEndpointError = (e: unknown): e is TokenEndpointError =>
  internalErrorBrand.hasKind(e, 'TokenEndpointError');
/** True for a {@link TokenUnavailableError}. */
export const isTokenUnavailableError = (e: unknown): e is TokenUnavailableError =>
  internalErrorBrand.hasKind(e, 'TokenUnavailableError');
/** True for a {@link TokenStepError}. */
export const isTokenStepError = (e: unknown): e is TokenStepError =>
  internalErrorBrand.hasKind(e, 'TokenStepError');
