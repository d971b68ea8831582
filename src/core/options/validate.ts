/**
 * Validation entry points: parse an option set against its schema and throw one {@link InvalidOptionError}
 * naming the option path; check keys against a frozen set on the hot path.
 */
import type { z } from 'zod';
import { InvalidOptionError } from '../errors.js';
import { describeIssues, type OptionIssue, type Schema, unknownKeyMessage } from './describe.js';

/**
 * Parses `value` with `schema` and returns the parsed options (durations in ms, sizes in bytes, defaults
 * applied). Throws an {@link InvalidOptionError} for the first problem, its `option` being `where` plus the
 * path inside (`retry.baseDelay`), its message never containing the value.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, where = ''): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = optionIssues(schema, result.error, where);
  const first = issues[0] ?? { path: where, message: 'invalid' };
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw new InvalidOptionError(first.path || where || 'options', `${first.message}${more}`, {
    issues,
  });
}

/** Every problem of a failed parse as option paths and messages (for errors that list them all). */
export function optionIssues(schema: z.ZodType, error: z.ZodError, where = ''): OptionIssue[] {
  const prefix = where === '' ? [] : where.split('.');
  return describeIssues(error.issues, schema as unknown as Schema, prefix);
}

/**
 * Hot-path key check: throws when `value` has an own enumerable key that is not in `known`, with a
 * did-you-mean; a key in `notYet` gets that message instead (a feature a later version adds). Allocates nothing
 * when every key is known.
 */
export function checkKeys(
  value: object,
  known: ReadonlySet<string>,
  where = '',
  notYet?: ReadonlyMap<string, string>,
): void {
  for (const key in value) {
    if (!known.has(key) && Object.hasOwn(value, key)) throw unknownKey(key, known, where, notYet);
  }
}

function unknownKey(
  key: string,
  known: ReadonlySet<string>,
  where: string,
  notYet: ReadonlyMap<string, string> | undefined,
): InvalidOptionError {
  const path = where ? `${where}.${key}` : key;
  const later = notYet?.get(key);
  if (later !== undefined) return new InvalidOptionError(path, notSupportedYet(later));
  return new InvalidOptionError(path, unknownKeyMessage(key, known));
}

/** The message for an option a later version adds: "not supported yet", then what to do instead. */
export function notSupportedYet(instead: string): string {
  return `not supported yet; ${instead}`;
}

/**
 * Refuses options that cannot go together: throws for the first key of `conflicting` present in `value`
 * while `because` is present, with `fix(key)` telling what to do instead.
 */
export function refuseWith(
  value: Readonly<Record<string, unknown>>,
  because: string,
  conflicting: readonly string[],
  fix: (key: string) => string,
  where = '',
): void {
  if (value[because] === undefined) return;
  for (const key of conflicting) {
    if (value[key] !== undefined) {
      throw new InvalidOptionError(
        where ? `${where}.${key}` : key,
        `cannot be combined with "${because}"; ${fix(key)}`,
      );
    }
  }
}
