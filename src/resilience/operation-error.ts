import { internalErrorBrand, ReqforgeError, type ReqforgeErrorOptions } from '../core/errors.js';

const { brand, hasKind } = internalErrorBrand;

/**
 * An attempt of guarded work threw. Policies and event listeners see this (code `ERR_OPERATION`, the work's error
 * as `cause`); `execute()` itself rejects with the work's own error, unchanged.
 */
export class OperationError extends ReqforgeError {
  constructor(cause: unknown, options: Omit<ReqforgeErrorOptions, 'cause'> = {}) {
    super('The guarded operation failed', 'ERR_OPERATION', { ...options, cause });
  }
}
brand(OperationError, 'OperationError');

/** True for an {@link OperationError} (works across duplicate installs). */
export const isOperationError = (e: unknown): e is OperationError => hasKind(e, 'OperationError');
