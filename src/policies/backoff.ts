import { InvalidOptionError } from '../core/errors.js';

/** Backoff strategies. */
export type BackoffKind = 'none' | 'constant' | 'exponential' | 'decorrelated';

/** Backoff settings. */
export interface BackoffOptions {
  /**
   * @default 'exponential' (with full jitter, as Envoy and the AWS architecture blog recommend: it spreads retries of
   * many clients instead of synchronising them)
   */
  readonly kind?: BackoffKind;
  /** First delay (constant: every delay), in ms. @default 200 */
  readonly base?: number;
  /** Largest delay, in ms. @default 20000 */
  readonly cap?: number;
}

/** Computes the delay before retry number `retry` (1-based); `previous` is the last delay, `random` is in [0, 1). */
export type Backoff = (retry: number, previous: number, random: number) => number;

/** Backoff defaults. */
export const BACKOFF_DEFAULTS = { kind: 'exponential', base: 200, cap: 20_000 } as const;

/**
 * Builds a backoff function. Every strategy stays within [0, cap]:
 * - `none`: 0;
 * - `constant`: `base`;
 * - `exponential`: full jitter, uniform in [0, min(cap, base · 2^(retry-1))];
 * - `decorrelated`: uniform in [base, min(cap, previous · 3)] (AWS "decorrelated jitter").
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const kind = options.kind ?? BACKOFF_DEFAULTS.kind;
  const base = options.base ?? BACKOFF_DEFAULTS.base;
  const cap = options.cap ?? BACKOFF_DEFAULTS.cap;
  if (!['none', 'constant', 'exponential', 'decorrelated'].includes(kind)) {
    throw new InvalidOptionError(
      'retry.backoff',
      `expected 'none', 'constant', 'exponential' or 'decorrelated', got ${String(kind)}`,
    );
  }
  if (!(base >= 0) || !Number.isFinite(base))
    throw new InvalidOptionError('retry.baseDelay', 'expected milliseconds >= 0');
  if (!(cap >= base) || !Number.isFinite(cap)) {
    throw new InvalidOptionError('retry.maxDelay', `expected milliseconds >= retry.baseDelay (${base})`);
  }
  switch (kind) {
    case 'none':
      return () => 0;
    case 'constant':
      return () => base;
    case 'exponential':
      return (retry, _previous, random) => random * Math.min(cap, base * 2 ** Math.min(retry - 1, 52));
    default:
      return (_retry, previous, random) => {
        const upper = Math.min(cap, Math.max(base, previous * 3));
        return Math.min(cap, base + random * (upper - base));
      };
  }
}
