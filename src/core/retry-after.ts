/**
 * Milliseconds to wait from a `Retry-After` value: delta-seconds or an HTTP-date.
 * Returns undefined for a missing or unparseable value; never negative.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  wallNow: number,
): number | undefined {
  const text = Array.isArray(value) ? value[0] : (value as string | undefined);
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - wallNow);
}

/**
 * Milliseconds to wait from rate-limit headers: `Retry-After`, then `RateLimit-Reset` /
 * `X-RateLimit-Reset` (delta-seconds, or an epoch timestamp in seconds when larger than a year),
 * then the `RateLimit` structured field's `t=` parameter (draft-ietf-httpapi-ratelimit-headers).
 */
export function parseRateLimitWait(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  wallNow: number,
): number | undefined {
  const retryAfter = parseRetryAfter(headers['retry-after'], wallNow);
  if (retryAfter !== undefined) return retryAfter;
  for (const name of ['ratelimit-reset', 'x-ratelimit-reset']) {
    const raw = headers[name];
    const text = Array.isArray(raw) ? raw[0] : (raw as string | undefined);
    if (text === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(text)) continue;
    const n = Number(text);
    // Values above one year are epoch seconds (GitHub, Twitter style); smaller ones are deltas.
    return n > 31_536_000 ? Math.max(0, n * 1000 - wallNow) : Math.round(n * 1000);
  }
  const structured = headers.ratelimit;
  const sf = Array.isArray(structured) ? structured[0] : (structured as string | undefined);
  const t = sf ? /(?:^|[;,\s])t=(\d+)/.exec(sf) : null;
  if (t?.[1] !== undefined) return Number(t[1]) * 1000;
  return undefined;
}
