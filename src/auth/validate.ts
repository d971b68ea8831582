import { InvalidOptionError } from '../core/errors.js';
import { checkKeys, kindOf } from '../core/options/index.js';

/** @internal a finite number ≥ `min` (default 0), or the fallback when undefined. */
export function numberOption(option: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(option, `expected a finite number ≥ ${min}, got ${describe(value)}`);
  }
  return value;
}

/** @internal a non-empty string. */
export function stringOption(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(option, `expected a non-empty string, got ${describe(value)}`);
  }
  return value;
}

/** @internal an absolute http(s) URL. */
export function urlOption(option: string, value: unknown): string {
  const text = stringOption(option, value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidOptionError(option, 'expected an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidOptionError(option, `expected an http(s) URL, got the scheme "${url.protocol}"`);
  }
  return text;
}

/**
 * @internal rejects keys that are not in `known`, suggesting a near match (edit distance, through the options layer).
 * New code: define a schema and call `parseOptions` from `core/options` instead.
 */
export function knownKeys(where: string, value: object, known: readonly string[]): void {
  checkKeys(value, new Set(known), where);
}

/** @internal describes a value by its kind, without printing it (it may be a credential). */
export const describe: (value: unknown) => string = kindOf;
