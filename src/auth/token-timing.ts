import type { Token } from './token.js';
import type { TokenManagerSettings } from './token-manager-options.js';

// When a token counts as expired, when its refresh is due and how long a failed fetch waits: the timing rules
// of the TokenManager in one place (docs/auth.md, "Refresh ahead", states the same rule).

/** Largest share of a token's lifetime taken by the expiry skew: a 5 s token keeps 4.5 s of use. */
const SKEW_SHARE = 0.1;
/** Largest share of a token's lifetime taken by the refresh window, so a token is used for most of its life. */
const WINDOW_SHARE = 0.2;

/** @internal the skew of `token`: `expirySkew`, but at most 10 % of its lifetime. */
export function skewOf(token: Token, o: TokenManagerSettings): number {
  return Math.min(o.expirySkew, SKEW_SHARE * Math.max(0, token.expiresAt - token.issuedAt));
}

/** @internal the instant (epoch ms) from which `token` is no longer sent: hard expiry minus its skew. */
export function usableUntil(token: Token, o: TokenManagerSettings): number {
  return token.expiresAt - skewOf(token, o);
}

/** @internal true while `token` may still be sent at `now`. */
export function isUsable(token: Token, now: number, o: TokenManagerSettings): boolean {
  return now < usableUntil(token, o);
}

/**
 * @internal when the refresh of `token` is due (epoch ms): the issuer's `refresh_in` when given, else
 * `usableUntil − window` with `window = min(max(refreshBuffer, refreshRatio × lifetime) × jitter, 20 % × lifetime)`.
 */
export function refreshAtOf(token: Token, o: TokenManagerSettings, jitterFactor: number): number {
  const latest = usableUntil(token, o);
  if (token.refreshHint !== undefined) return Math.min(token.refreshHint, latest);
  const lifetime = Math.max(0, token.expiresAt - token.issuedAt);
  const window = Math.min(
    Math.max(o.refreshBuffer, o.refreshRatio * lifetime) * jitterFactor,
    WINDOW_SHARE * lifetime,
  );
  return latest - window;
}

/** @internal the delay before attempt `n` after failures: exponential up to `retryMaxDelay`, half of it random. */
export function backoffDelay(n: number, o: TokenManagerSettings): number {
  const ceiling = Math.min(o.retryMaxDelay, o.retryDelay * 2 ** Math.min(n - 1, 30));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}
