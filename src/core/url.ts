import { InvalidRequestError } from './errors.js';

/** A value allowed in a path parameter. */
export type PathParamValue = string | number | bigint | boolean;

/** Path parameters for templates such as `/users/{id}`. */
export type PathParams = Readonly<Record<string, PathParamValue>>;

/** A single query value; `null` and `undefined` entries are skipped. */
export type QueryValue = string | number | bigint | boolean | null | undefined;

/** Query parameters: a record (arrays repeat the key), `URLSearchParams`, or a list of pairs. */
export type QueryInit =
  | Readonly<Record<string, QueryValue | readonly QueryValue[]>>
  | URLSearchParams
  | readonly (readonly [string, QueryValue])[];

/** How array values are written: `a=1&a=2` (`repeat`), `a[]=1&a[]=2` (`brackets`) or `a=1,2` (`comma`). */
export type ArrayFormat = 'repeat' | 'brackets' | 'comma';

const TEMPLATE = /\{([^{}]+)\}/g;

/**
 * Fills a path template. Every value is percent-encoded as one segment, so `/`, `?`, `#` and `%`
 * in a value can never change the path, and the values `.` and `..` are refused.
 */
export function expandPath(template: string, params: PathParams | undefined): string {
  if (template.indexOf('{') === -1) {
    if (params) {
      const extra = Object.keys(params)[0];
      if (extra !== undefined)
        throw new InvalidRequestError(`Path parameter "${extra}" does not appear in "${template}"`);
    }
    return template;
  }
  const used = new Set<string>();
  const out = template.replace(TEMPLATE, (_m, name: string) => {
    if (!params || !Object.hasOwn(params, name)) {
      throw new InvalidRequestError(`Missing path parameter "${name}" for "${template}"`);
    }
    used.add(name);
    const value = params[name];
    const t = typeof value;
    if (t !== 'string' && t !== 'number' && t !== 'bigint' && t !== 'boolean') {
      throw new InvalidRequestError(`Path parameter "${name}" must be a string, number, bigint or boolean`);
    }
    const text = String(value);
    if (text === '' || text === '.' || text === '..') {
      throw new InvalidRequestError(`Path parameter "${name}" must not be empty, "." or ".."`);
    }
    return encodeURIComponent(text);
  });
  if (params) {
    for (const name of Object.keys(params)) {
      if (!used.has(name)) {
        throw new InvalidRequestError(`Path parameter "${name}" does not appear in "${template}"`);
      }
    }
  }
  return out;
}

/** Encodes one query component the way RFC 3986 wants it (`%20` for space, not `+`). */
export function encodeQueryComponent(value: string): string {
  return encodeURIComponent(value);
}

/** Serialises query parameters to a string without the leading `?`. */
export function serializeQuery(query: QueryInit | undefined, arrayFormat: ArrayFormat = 'repeat'): string {
  if (query === undefined) return '';
  if (query instanceof URLSearchParams) return query.toString();
  const parts: string[] = [];
  const add = (key: string, value: QueryValue) => {
    if (value === undefined || value === null) return;
    parts.push(`${encodeQueryComponent(key)}=${encodeQueryComponent(String(value))}`);
  };
  const entries: Iterable<readonly [string, QueryValue | readonly QueryValue[]]> = Array.isArray(query)
    ? (query as readonly (readonly [string, QueryValue])[])
    : Object.entries(query as Record<string, QueryValue | readonly QueryValue[]>);
  for (const [key, value] of entries) {
    if (Array.isArray(value)) {
      const values = (value as readonly QueryValue[]).filter((v) => v !== undefined && v !== null);
      if (arrayFormat === 'comma') {
        if (values.length > 0) add(key, values.map(String).join(','));
      } else {
        const name = arrayFormat === 'brackets' ? `${key}[]` : key;
        for (const v of values) add(name, v);
      }
    } else {
      add(key, value as QueryValue);
    }
  }
  return parts.join('&');
}

/** The origin and path (with query) of an absolute URL, parsed once. */
export interface SplitUrl {
  readonly origin: string;
  readonly path: string;
}

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** True when `input` starts with a scheme such as `https://`. */
export function isAbsoluteUrl(input: string): boolean {
  return ABSOLUTE.test(input);
}

/** Splits an absolute http(s) URL into origin and path, refusing other schemes and user-info. */
export function splitUrl(input: string, what = 'URL'): SplitUrl {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new InvalidRequestError(`${what} is not a valid absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidRequestError(`${what} must use http: or https:, got "${url.protocol}"`);
  }
  if (url.username || url.password) {
    throw new InvalidRequestError(`${what} must not contain credentials; use the auth option instead`);
  }
  return { origin: url.origin, path: `${url.pathname}${url.search}` };
}

/**
 * Joins a base path and a request path the way a prefix works (not URL resolution):
 * `/api` + `/users` → `/api/users`, `/api/` + `users` → `/api/users`.
 */
export function joinPath(base: string, path: string): string {
  if (path === '') return base === '' ? '/' : base;
  const b = base.endsWith('/') ? base.slice(0, -1) : base;
  return path.startsWith('/') ? b + path : `${b}/${path}`;
}

/** Appends a serialised query to a path that may already carry one. */
export function appendQuery(path: string, query: string): string {
  if (query === '') return path;
  return path.includes('?') ? `${path}&${query}` : `${path}?${query}`;
}
