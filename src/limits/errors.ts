import { internalErrorBrand, ReqforgeError, type ReqforgeErrorOptions } from '../core/errors.js';

/**
 * A limit shared through Redis could not be checked (Redis is down or over its latency budget) and the limiter
 * is configured with `onStoreDown: 'closed'`: the call is refused rather than sent without a permit. Nothing was sent.
 */
export class LimiterStoreDownError extends ReqforgeError {
  /** The limiter key, such as the host. */
  readonly key: string;
  /** The limiter's name (its namespace in Redis). */
  readonly limiter: string;

  constructor(limiter: string, key: string, options: ReqforgeErrorOptions = {}) {
    super(
      `Shared rate limit "${limiter}" for ${key} cannot be checked: its Redis store is down and onStoreDown is "closed" ` +
        `(the call was not sent; use onStoreDown: "local" to fall back to an in-process share of the limit)`,
      'ERR_LIMITER_STORE_DOWN',
      options,
    );
    this.key = key;
    this.limiter = limiter;
  }
}
internalErrorBrand.brand(LimiterStoreDownError, 'LimiterStoreDownError');

/** True for a {@link LimiterStoreDownError} (any copy of reqforge). */
export const isLimiterStoreDownError = (e: unknown): e is LimiterStoreDownError =>
  internalErrorBrand.hasKind(e, 'LimiterStoreDownError');
