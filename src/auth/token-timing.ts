import type { Token } from './token.js';
import type { TokenManagerSettings } from './token-manager-options.js';

// When a token counts as expired, when its refresh is due and how long a failed fetch waits: the timing rules
// of the TokenManager in one place.

/** @internal true while `token` may still be sent at `now` (before its hard expiry minus the skew). */
export function isUsable(token: Token, now: number, o: TokenManagerSettings): boolean {
  return now < token.expiresAt - o.expirySkew;
}

/** @internal when the refresh of `token` is due (epoch ms): the issuer's hint, else the refresh buffer rule. */
export function refreshAtOf(token: Token, o: TokenManagerSettings, jitterFactor: number): number {
  const latest = token.expiresAt - o.expirySkew;
  if (token.refreshHint !== undefined) return Math.min(token.refreshHint, latest);
  const lifetime = Math.max(0, token.expiresAt - token.issuedAt);
  const buffer = Math.min(Math.max(o.refreshBuffer, o.refreshRatio * lifetime) * jitterFactor, lifetime / 2);
  return Math.min(token.expiresAt - buffer, latest);
}

/** @internal the delay before attempt `n` after failures: exponential up to `retryMaxDelay`, half of it random. */
export function backoffDelay(n: number, o: TokenManagerSettings): number {
  const ceiling = Math.min(o.retryMaxDelay, o.retryDelay * 2 ** Math.min(n - 1, 30));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}
