/**
 * The options layer: every public constructor, every per-call option set and the gateway's configuration go
 * through it, so options behave the same everywhere.
 *
 * - **Unknown keys** are refused with a did-you-mean (edit distance, not only case): `Invalid option
 *   "retry.retires": unknown option; did you mean "retries"?`.
 * - **Wrong types and ranges** are refused naming the option path and what was expected; messages never print
 *   the value (it may be a secret), only its kind (`got a string`).
 * - **Durations** are a number of milliseconds or a string (`'500ms'`, `'1.5s'`, `'60s'`, `'5m'`, `'1h'`), parsed by
 *   one parser ({@link parseDuration}); sizes likewise ({@link parseSize}: `'512kb'`, `'10mb'`).
 * - **Options a later version adds** are refused with "not supported yet" and what to do instead ({@link notYet},
 *   {@link notSupportedYet}); nothing is accepted and ignored.
 *
 * How to use it:
 * - Define an option set once as a zod schema with the blocks in `schema.ts` (`duration()`, `size()`, `fn()`,
 *   `objectWith()`, `int()`, `ratio()`, `notYet()`) and `z.strictObject` (strict: unknown keys are errors).
 *   Keep what can be written as data in a plain `…Fields` object so the gateway's YAML schema can spread it
 *   (`z.strictObject({ ...retryFields })`); add functions and instances on top for the library.
 * - At construction: `const o = parseOptions(schema, options, 'retry')` returns the parsed values (durations in ms)
 *   or throws one {@link InvalidOptionError} (`option` = dotted path, `issues` = every problem).
 * - On a hot path (per call): `checkKeys(options, FROZEN_KEY_SET, '', NOT_YET)` walks the keys once and allocates
 *   nothing when they are all known.
 * - For a list of every problem (the gateway's `ConfigError`): {@link optionIssues} / {@link describeIssues}.
 * - Impossible combinations: {@link refuseWith}, or throw `new InvalidOptionError(path, 'what to do instead')`.
 * - The gateway converts `${ENV}` text to numbers and booleans in its own interpolation step, guided by the
 *   schema ({@link schemasAt}); the shared schemas never accept a string where a number is expected.
 */
export {
  describeIssues,
  keysAt,
  kindOf,
  type OptionIssue,
  type Schema,
  schemasAt,
  suggest,
  unknownKeyMessage,
  unwrap,
} from './describe.js';
export {
  bulkheadFields,
  bulkheadOptionsSchema,
  callRetryOptionsSchema,
  circuitBreakerFields,
  circuitBreakerOptionsSchema,
  hooksObjectSchema,
  hooksSchema,
  httpFields,
  httpOptionsSchema,
  limitStoreSchema,
  limitWindowSchema,
  policySchema,
  presetFields,
  rateLimitFields,
  rateLimitOptionsSchema,
  redirectFields,
  redirectOptionsSchema,
  retryBudgetFields,
  retryBudgetOptionsSchema,
  retryFields,
  retryOptionsSchema,
  sharedLimitFields,
  standardPolicyOptionsSchema,
  timeoutFields,
  timeoutObjectSchema,
  timeoutOptionSchema,
  tokenBucketOptionsSchema,
  usageLimitsSchema,
  usageOptionSchema,
} from './policies.js';
export { type DurationSchemaOptions, duration, fn, int, notYet, objectWith, ratio, size } from './schema.js';
export {
  type Duration,
  type DurationUnit,
  parseDuration,
  parseSize,
  type Size,
  type SizeUnit,
} from './units.js';
export { checkKeys, notSupportedYet, optionIssues, parseOptions, refuseWith } from './validate.js';
