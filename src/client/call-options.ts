import { InvalidOptionError } from '../core/errors.js';
import { checkKeys, parseOptions, timeoutOptionSchema } from '../core/options/index.js';
import type { TimeoutOptions } from '../core/types.js';
import { type CallRetryOptions, parseCallRetry } from '../policies/retry.js';
import type { CallOptions } from './options.js';
import { CALL_OPTION_KEYS, CALL_OPTIONS_NOT_YET } from './schema.js';

const TIMEOUT_KEYS: ReadonlySet<string> = Object.freeze(new Set(['total', 'attempt']));
const REDIRECT_KEYS: ReadonlySet<string> = Object.freeze(new Set(['max']));

/** Checks a per-call `redirect`: `false` or `{ max }` with a whole number ≥ 0. */
function checkRedirect(redirect: unknown): void {
  if (redirect === false) return;
  if (typeof redirect !== 'object' || redirect === null) {
    throw new InvalidOptionError('redirect', 'expected false (return redirects as they are) or { max: n }');
  }
  checkKeys(redirect, REDIRECT_KEYS, 'redirect');
  const max = (redirect as { max?: unknown }).max;
  if (max !== undefined && !(typeof max === 'number' && Number.isInteger(max) && max >= 0)) {
    throw new InvalidOptionError('redirect.max', 'expected a whole number >= 0');
  }
}

const isMs = (v: unknown): boolean => v === undefined || (typeof v === 'number' && v >= 0);

/**
 * Checks one call's options on the hot path: unknown keys are refused with a did-you-mean, options a later version
 * adds with "not supported yet". Returns `options` itself when it is valid as given (no allocation); a copy only
 * when a `timeout` given as a duration string had to be converted to milliseconds, or when a `retry` object was
 * given (checked through the same schema as `retry()`, durations converted). `keys` narrows the accepted keys
 * (`send()` takes no options that would change the request).
 */
export function checkCallOptions(
  options: CallOptions,
  keys: ReadonlySet<string> = CALL_OPTION_KEYS,
): CallOptions {
  checkKeys(options, keys, '', CALL_OPTIONS_NOT_YET);
  const { retry, idempotent, throwHttpErrors, redirect } = options;
  let checked = options;
  if (redirect !== undefined) checkRedirect(redirect);
  if (retry !== undefined && retry !== false) {
    if (typeof retry !== 'object' || retry === null || Array.isArray(retry)) {
      throw new InvalidOptionError(
        'retry',
        'expected false (no retries for this call) or an object of retry settings',
      );
    }
    checked = { ...options, retry: parseCallRetry(retry as CallRetryOptions) };
  }
  if (idempotent !== undefined && typeof idempotent !== 'boolean') {
    throw new InvalidOptionError('idempotent', 'expected a boolean');
  }
  if (throwHttpErrors !== undefined && typeof throwHttpErrors !== 'boolean') {
    throw new InvalidOptionError('throwHttpErrors', 'expected a boolean');
  }
  const timeout = options.timeout;
  if (timeout === undefined || timeout === false || (typeof timeout === 'number' && timeout >= 0))
    return checked;
  if (typeof timeout === 'object' && timeout !== null) {
    checkKeys(timeout, TIMEOUT_KEYS, 'timeout');
    if (isMs(timeout.total) && isMs(timeout.attempt)) return checked;
  }
  // Milliseconds from here on: the timeout policies read numbers (CallPolicyOptions).
  return {
    ...checked,
    timeout: parseOptions(timeoutOptionSchema, timeout, 'timeout') as TimeoutOptions | number,
  };
}

/**
 * The refusal of a per-call `retry` object on a client whose pipeline has no retry policy to apply it, as a per-call
 * `timeout` is refused without a timeout policy: settings nothing would read must not look accepted.
 */
export const NO_RETRY_POLICY =
  'this client has no retry policy to apply it (it was created with `retry: false`, or with `policies` without ' +
  '`retry()`); give the client a retry policy (`retry: { … }`, or `retry(…)` in `policies`), or derive one with ' +
  '`api.with({ retry: { … } })`';
