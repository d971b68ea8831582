import { InvalidOptionError } from '../core/errors.js';
import type { Policy, TimeoutOptions } from '../core/types.js';
import { attemptTimeout, TIMEOUT_DEFAULTS, totalTimeout, validateTimeout } from '../policies/timeout.js';

/** Normalises the `timeout` option. */
export function resolveTimeouts(
  timeout: TimeoutOptions | number | false | undefined,
): Required<TimeoutOptions> {
  if (timeout === false) return { total: 0, attempt: 0 };
  if (typeof timeout === 'number') {
    const total = validateTimeout('timeout', timeout);
    return {
      total,
      attempt: total > 0 ? Math.min(TIMEOUT_DEFAULTS.attempt, total) : TIMEOUT_DEFAULTS.attempt,
    };
  }
  if (timeout !== undefined && (typeof timeout !== 'object' || timeout === null)) {
    throw new InvalidOptionError(
      'timeout',
      'expected { total, attempt } in milliseconds, a number, or false',
    );
  }
  return {
    total: validateTimeout('timeout.total', timeout?.total ?? TIMEOUT_DEFAULTS.total),
    attempt: validateTimeout('timeout.attempt', timeout?.attempt ?? TIMEOUT_DEFAULTS.attempt),
  };
}

/**
 * The pipeline a client gets when `policies` is not given: total timeout, then attempt timeout.
 */
export function defaultPolicies(options: {
  readonly timeout?: TimeoutOptions | number | false | undefined;
}): Policy[] {
  const t = resolveTimeouts(options.timeout);
  if (t.total > 0 && t.attempt > t.total) {
    throw new InvalidOptionError(
      'timeout.attempt',
      `the attempt timeout (${t.attempt} ms) exceeds the total timeout (${t.total} ms); make it smaller or raise timeout.total`,
    );
  }
  const out: Policy[] = [];
  if (t.total > 0) out.push(totalTimeout(t.total));
  if (t.attempt > 0) out.push(attemptTimeout(t.attempt));
  return out;
}
