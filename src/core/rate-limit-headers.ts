/**
 * Parses the rate-limit headers servers send with their responses into one shape, whichever family they use:
 * - `RateLimit` / `RateLimit-Policy` structured fields (draft-ietf-httpapi-ratelimit-headers, draft 08 on):
 *   `RateLimit-Policy: "burst";q=100;w=60` and `RateLimit: "burst";r=42;t=30`;
 * - the earlier drafts' `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` (and the dictionary form
 *   `RateLimit: limit=100, remaining=42, reset=30`, with `RateLimit-Policy: 100;w=60`);
 * - the de-facto `X-RateLimit-Limit` / `X-RateLimit-Remaining` / `X-RateLimit-Reset` (GitHub, Twitter, many more).
 * Structured fields are parsed with `structured-headers` (RFC 9651). Nothing here throws: a header that cannot be
 * parsed is left out.
 */
import { type BareItem, type Item, type Parameters, parseDictionary, parseList } from 'structured-headers';

/** One quota policy the server announced (`RateLimit-Policy`). */
export interface RateLimitPolicyInfo {
  /** The policy's name (draft 08 on), such as `"burst"`; undefined in the earlier drafts' form. */
  readonly name: string | undefined;
  /** Units allowed per window (`q`). */
  readonly quota: number;
  /** The window, in ms (`w`), when given. */
  readonly window: number | undefined;
  /** What the quota counts (`qu`: `requests`, `content-bytes`, `concurrent-requests`), when given. */
  readonly unit: string | undefined;
}

/** What a response's rate-limit headers say. Fields the server did not send are undefined. */
export interface RateLimitInfo {
  /** The header family the values come from. */
  readonly source: 'ratelimit' | 'ratelimit-draft' | 'x-ratelimit';
  /** Units allowed in the current window. */
  readonly limit: number | undefined;
  /** Units left in the current window. */
  readonly remaining: number | undefined;
  /** Milliseconds until the quota resets (epoch timestamps are turned into a wait). */
  readonly reset: number | undefined;
  /** The window length in ms, when a policy gives it. */
  readonly window: number | undefined;
  /** The name of the policy the values belong to (the most constraining one when several are sent). */
  readonly policy: string | undefined;
  /** Every policy of `RateLimit-Policy`, in the server's order (empty when none was sent). */
  readonly policies: readonly RateLimitPolicyInfo[];
}

type HeaderValue = string | readonly string[] | undefined;
type HeaderBag = Readonly<Record<string, HeaderValue>>;

/** Values above one year are epoch seconds (GitHub style); smaller ones are delta-seconds. */
const EPOCH_THRESHOLD = 31_536_000;

function text(value: HeaderValue): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

/** A non-negative number at the start of a header value (`100`, `100, 100;w=60`), or undefined. */
function leadingNumber(value: HeaderValue): number | undefined {
  const t = text(value);
  const m = t === undefined ? null : /^\s*(\d+(?:\.\d+)?)(?=\s*(?:$|[,;]))/.exec(t);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Seconds (delta, or epoch seconds when larger than a year) to milliseconds from `wallNow`. */
function resetMs(seconds: number | undefined, wallNow: number): number | undefined {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return undefined;
  return seconds > EPOCH_THRESHOLD ? Math.max(0, seconds * 1000 - wallNow) : Math.round(seconds * 1000);
}

function num(item: BareItem | undefined): number | undefined {
  return typeof item === 'number' && Number.isFinite(item) && item >= 0 ? item : undefined;
}

function str(item: BareItem | undefined): string | undefined {
  if (typeof item === 'string') return item;
  // A Token (an unquoted name) prints as its value.
  return item !== undefined && typeof item === 'object' && 'value' in item && typeof item.value === 'string'
    ? item.value
    : undefined;
}

/** Parses a structured list, or undefined when the value is not one. */
function list(value: HeaderValue): (readonly [BareItem, Parameters])[] | undefined {
  const t = text(value);
  if (t === undefined) return undefined;
  try {
    // Inner lists carry no rate-limit meaning: keep only items.
    return parseList(t).filter((m): m is Item => !Array.isArray(m[0]));
  } catch {
    return undefined;
  }
}

/** The policies of a `RateLimit-Policy` header, in both the draft 08+ form and the earlier `100;w=60` form. */
export function parseRateLimitPolicies(value: HeaderValue): RateLimitPolicyInfo[] {
  const items = list(value) ?? [];
  const out: RateLimitPolicyInfo[] = [];
  for (const [bare, params] of items) {
    const quota = typeof bare === 'number' ? num(bare) : num(params.get('q'));
    if (quota === undefined) continue;
    const w = num(params.get('w'));
    out.push({
      name: typeof bare === 'number' ? undefined : str(bare),
      quota,
      window: w === undefined ? undefined : Math.round(w * 1000),
      unit: str(params.get('qu')),
    });
  }
  return out;
}

/** `RateLimit: "name";r=42;t=30` (draft 08+): the most constraining item, with its policy. */
function structured(headers: HeaderBag, wallNow: number): RateLimitInfo | undefined {
  const items = list(headers.ratelimit);
  if (!items) return undefined;
  let best: { name: string | undefined; remaining: number; reset: number | undefined } | undefined;
  for (const [bare, params] of items) {
    const remaining = num(params.get('r'));
    if (remaining === undefined || (best && best.remaining <= remaining)) continue;
    best = { name: str(bare), remaining, reset: resetMs(num(params.get('t')), wallNow) };
  }
  if (!best) return undefined;
  const policies = parseRateLimitPolicies(headers['ratelimit-policy']);
  const policy =
    policies.find((p) => p.name === best.name) ?? (policies.length === 1 ? policies[0] : undefined);
  return {
    source: 'ratelimit',
    limit: policy?.quota,
    remaining: best.remaining,
    reset: best.reset,
    window: policy?.window,
    policy: best.name,
    policies,
  };
}

/** The earlier drafts: `RateLimit: limit=…, remaining=…, reset=…` or `RateLimit-Limit` / `-Remaining` / `-Reset`. */
function draft(headers: HeaderBag, wallNow: number): RateLimitInfo | undefined {
  let limit = leadingNumber(headers['ratelimit-limit']);
  let remaining = leadingNumber(headers['ratelimit-remaining']);
  let reset = leadingNumber(headers['ratelimit-reset']);
  const combined = text(headers.ratelimit);
  if (combined !== undefined) {
    try {
      const dict = parseDictionary(combined);
      const field = (key: string) => {
        const member = dict.get(key);
        return member && !Array.isArray(member[0]) ? num(member[0] as BareItem) : undefined;
      };
      limit ??= field('limit');
      remaining ??= field('remaining');
      reset ??= field('reset');
    } catch {
      // Not a dictionary either: nothing to read from it.
    }
  }
  if (limit === undefined && remaining === undefined && reset === undefined) return undefined;
  const policies = parseRateLimitPolicies(headers['ratelimit-policy']);
  return {
    source: 'ratelimit-draft',
    limit,
    remaining,
    reset: resetMs(reset, wallNow),
    window: policies.find((p) => p.quota === limit)?.window,
    policy: undefined,
    policies,
  };
}

function legacy(headers: HeaderBag, wallNow: number): RateLimitInfo | undefined {
  const limit = leadingNumber(headers['x-ratelimit-limit']);
  const remaining = leadingNumber(headers['x-ratelimit-remaining']);
  const reset = leadingNumber(headers['x-ratelimit-reset']);
  if (limit === undefined && remaining === undefined && reset === undefined) return undefined;
  return {
    source: 'x-ratelimit',
    limit,
    remaining,
    reset: resetMs(reset, wallNow),
    window: undefined,
    policy: undefined,
    policies: [],
  };
}

/**
 * What a response's rate-limit headers say (see {@link RateLimitInfo}), or undefined when it sent none. The
 * standard `RateLimit` fields win over the earlier drafts', which win over `X-RateLimit-*`. Header names must be
 * lower-cased (as on `HttpResponse.headers` and `HttpError.headers`); `wallNow` turns epoch resets into waits.
 *
 * @example
 * const info = parseRateLimitHeaders({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '30' });
 * // { source: 'x-ratelimit', remaining: 0, reset: 30000, … }
 */
export function parseRateLimitHeaders(headers: HeaderBag, wallNow = Date.now()): RateLimitInfo | undefined {
  if (
    headers.ratelimit === undefined &&
    headers['ratelimit-remaining'] === undefined &&
    headers['ratelimit-limit'] === undefined &&
    headers['ratelimit-reset'] === undefined &&
    headers['x-ratelimit-remaining'] === undefined &&
    headers['x-ratelimit-limit'] === undefined &&
    headers['x-ratelimit-reset'] === undefined
  )
    return undefined;
  return structured(headers, wallNow) ?? draft(headers, wallNow) ?? legacy(headers, wallNow);
}

const parsed = new WeakMap<object, RateLimitInfo | null>();

/**
 * {@link parseRateLimitHeaders} for a response (or anything with lower-cased `headers`), parsed on first use and
 * remembered, so reading it twice costs one lookup and a response nobody asks costs nothing.
 */
export function rateLimitOf(source: { readonly headers: HeaderBag }): RateLimitInfo | undefined {
  let info = parsed.get(source);
  if (info === undefined) {
    info = parseRateLimitHeaders(source.headers) ?? null;
    parsed.set(source, info);
  }
  return info ?? undefined;
}
