/**
 * Durations and sizes as people write them. The one parser every option (library and gateway) goes through.
 */

/** A duration: milliseconds as a number, or a string such as `'500ms'`, `'1.5s'`, `'60s'`, `'5m'` or `'1h'`. */
export type Duration = number | `${number}${DurationUnit}` | `${number}`;
/** Units a duration string may carry; no unit means milliseconds. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h';
/** A size: bytes as a number, or a string such as `'512kb'`, `'10mb'` or `'1gb'` (binary units). */
export type Size = number | `${number}${SizeUnit}` | `${number}`;
/** Units a size string may carry; no unit means bytes. */
export type SizeUnit = 'b' | 'kb' | 'mb' | 'gb';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const DURATION_TEXT = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i;
const SIZE_TEXT = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i;

/**
 * Parses a duration: a finite number of milliseconds ≥ 0, or a string such as `500ms`, `1.5s`, `2m` or `1h`.
 * Returns undefined when the value is not a duration (negative, NaN, Infinity, unknown unit, not a number
 * or string).
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  return parseText(value, DURATION_TEXT, UNITS, 'ms');
}

/** Parses a size: a whole number of bytes ≥ 0, or a string such as `512kb`, `10mb` or `1gb` (binary units). */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return parseText(value, SIZE_TEXT, SIZE_UNITS, 'b');
}

function parseText(
  value: unknown,
  pattern: RegExp,
  units: Readonly<Record<string, number>>,
  fallback: string,
): number | undefined {
  const match = typeof value === 'string' ? pattern.exec(value) : null;
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (units[(match[2] ?? fallback).toLowerCase()] ?? 1));
}
