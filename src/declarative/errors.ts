import { internalErrorBrand, ReqforgeError, type ReqforgeErrorOptions } from '../core/errors.js';
import type { ValidationIssue } from './standard-schema.js';

/** How many issues the message lists (all of them stay on `issues`). */
const LISTED = 3;

function describePath(path: readonly (string | number)[]): string {
  return path.length === 0 ? '(root)' : path.join('.');
}

/**
 * A response did not match its endpoint's `response` schema. Carries the endpoint, the status, the redacted request
 * and each issue's path and message, never the received value nor the body (so response data cannot reach logs
 * through it). Check with {@link isResponseValidationError}.
 */
export class ResponseValidationError extends ReqforgeError {
  /** The endpoint's name in its client definition. */
  readonly endpoint: string;
  /** The response's status. */
  readonly status: number;
  /** Every problem: its path in the response body and the library's message without the received value. */
  readonly issues: readonly ValidationIssue[];

  constructor(
    endpoint: string,
    status: number,
    issues: readonly ValidationIssue[],
    options: ReqforgeErrorOptions = {},
  ) {
    const listed = issues
      .slice(0, LISTED)
      .map((i) => `${describePath(i.path)}: ${i.message}`)
      .join('; ');
    const more = issues.length > LISTED ? ` (and ${issues.length - LISTED} more)` : '';
    const where = options.request ? ` of ${options.request.method} ${options.request.redactedUrl}` : '';
    super(
      `The response${where} (endpoint "${endpoint}", status ${status}) does not match its schema: ${listed}${more}`,
      'ERR_RESPONSE_VALIDATION',
      options,
    );
    this.endpoint = endpoint;
    this.status = status;
    this.issues = issues;
  }
}
internalErrorBrand.brand(ResponseValidationError, 'ResponseValidationError');

/** True for a {@link ResponseValidationError} (any copy of reqforge). */
export const isResponseValidationError = (e: unknown): e is ResponseValidationError =>
  internalErrorBrand.hasKind(e, 'ResponseValidationError');
