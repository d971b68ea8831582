/**
 * zod building blocks shared by the library's option schemas and the gateway's configuration schema.
 * Messages never contain the value (it may be a credential).
 */
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

const DURATION_HINT = 'a duration such as 500ms, 1.5s, 5m or 1h (or a number of milliseconds)';

/** Options of {@link duration}. */
export interface DurationSchemaOptions {
  /** Refuse 0. @default false */
  readonly positive?: boolean;
  /** Accept `Infinity` as a number (timeouts use it for "off"). @default false */
  readonly infinite?: boolean;
}

/**
 * A duration option: milliseconds as a number, or a string with a unit; the output is milliseconds.
 * Numbers and strings are the only accepted inputs (a string that is a plain number means milliseconds).
 */
export function duration(options: DurationSchemaOptions = {}) {
  const expected = `${options.positive ? 'a duration > 0' : DURATION_HINT}`;
  return z
    .custom<number | string>((v) => typeof v === 'number' || typeof v === 'string', {
      error: `expected ${DURATION_HINT}`,
    })
    .transform((value, ctx) => {
      const ms = options.infinite && value === Number.POSITIVE_INFINITY ? value : parseDuration(value);
      if (ms === undefined || (options.positive && ms === 0)) {
        ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
        return z.NEVER;
      }
      return ms;
    });
}

/** A size option: bytes as a number, or a string such as `'512kb'` or `'10mb'`; the output is bytes. */
export function size(options: { readonly positive?: boolean } = {}) {
  const hint = 'a size such as 512kb, 10mb or 1gb (or a whole number of bytes)';
  return z
    .custom<number | string>((v) => typeof v === 'number' || typeof v === 'string', {
      error: `expected ${hint}`,
    })
    .transform((value, ctx) => {
      const bytes = parseSize(value);
      if (bytes === undefined || (options.positive && bytes === 0)) {
        ctx.addIssue({ code: 'custom', message: `expected ${options.positive ? 'a size > 0' : hint}` });
        return z.NEVER;
      }
      return bytes;
    });
}

/** A function option (a predicate, a key function, a hook). */
export function fn<T extends (...args: never[]) => unknown = (...args: never[]) => unknown>() {
  return z.custom<T>((v) => typeof v === 'function', { error: 'expected a function' });
}

/** An object option checked by shape only (a clock, a limiter, a store): `methods` must be functions on it. */
export function objectWith<T>(what: string, methods: readonly string[] = []) {
  return z.custom<T>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    { error: `expected ${what}` },
  );
}

/** A whole number ≥ `min`. */
export const int = (min = 0) => z.number().int().min(min);

/** A number in (0, 1]: a share or ratio. */
export const ratio = () => z.number().gt(0).max(1);

/**
 * An option a later version adds: accepted as a key (so no did-you-mean points elsewhere) but refused whenever it is
 * given, with "not supported yet" and what to do instead.
 */
export function notYet(instead: string) {
  return z.custom<never>(() => false, { error: `not supported yet; ${instead}` }).optional();
}
