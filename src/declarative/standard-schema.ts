/**
 * The Standard Schema contract (https://standardschema.dev, v1), which zod, valibot and arktype implement: the
 * interface is copied here as the spec recommends, so reqforge depends on no schema library. Plus the one place
 * that runs a schema and turns its issues into ones that carry no received value.
 */

/** A schema any Standard Schema library produces (zod ≥ 3.24, valibot ≥ 1, arktype ≥ 2 …). */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

/** The types and functions of the Standard Schema contract. */
export declare namespace StandardSchemaV1 {
  /** What a schema exposes under `~standard`. */
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
  }
  /** A validation result. */
  export type Result<Output> = SuccessResult<Output> | FailureResult;
  export interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  export interface FailureResult {
    readonly issues: ReadonlyArray<Issue>;
  }
  /** One problem, as the library reports it (it may carry the received value: see {@link ValidationIssue}). */
  export interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }
  export interface PathSegment {
    readonly key: PropertyKey;
  }
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
  /** The input type of a schema. */
  export type InferInput<Schema extends StandardSchemaV1> = NonNullable<
    Schema['~standard']['types']
  >['input'];
  /** The output type of a schema. */
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<
    Schema['~standard']['types']
  >['output'];
}

/** One validation problem as reqforge keeps it: where, and what is wrong; never the value that was received. */
export interface ValidationIssue {
  /** Path inside the validated value, such as `['items', 0, 'price']`; empty for the value itself. */
  readonly path: readonly (string | number)[];
  /** The library's message with any received value removed. */
  readonly message: string;
}

/** The vendor of {@link typed} schemas: types only, nothing checked at run time. */
export const TYPES_ONLY_VENDOR = 'reqforge/typed';

/**
 * A schema for the type `T`. Without an argument it only carries the type: nothing is checked at run time (the
 * generator's output uses it unless `--validate` is given). With a runtime schema, that schema validates and `T` is
 * the type it is given (for schemas built at run time, such as `z.fromJSONSchema(…)`, whose type is unknown).
 *
 * @example
 * const getPet = get('/pets/{id}', { response: typed<{ id: number; name: string }>() });
 */
export function typed<T>(schema?: StandardSchemaV1): StandardSchemaV1<T, T> {
  return (schema ?? TYPED) as StandardSchemaV1<T, T>;
}

const TYPED: StandardSchemaV1 = Object.freeze({
  '~standard': Object.freeze({
    version: 1,
    vendor: TYPES_ONLY_VENDOR,
    validate: (value: unknown) => ({ value }),
  }),
});

/** Whether `schema` checks anything at run time (a {@link typed} schema does not). */
export function checksAtRunTime(schema: StandardSchemaV1 | undefined): schema is StandardSchemaV1 {
  return schema !== undefined && schema['~standard'].vendor !== TYPES_ONLY_VENDOR;
}

/** Whether `value` looks like a Standard Schema (for the options layer). */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const props = (value as Partial<StandardSchemaV1>)['~standard'];
  return (
    typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function'
  );
}

// Libraries that quote the received value in their messages: valibot ("… but received 42", "… but received \"x\""),
// arktype ("must be … (was 42)"). Cut those parts; the value itself is replaced wherever else it appears.
// arktype's "(was a string)" names a type and stays.
const RECEIVED_PART = /(?:,\s*)?\s*but received\b[\s\S]*$|\s*\((?:was|received) (?!an? [a-z]+\))[^)]*\)/gi;

function segmentKey(segment: PropertyKey | StandardSchemaV1.PathSegment): string | number {
  const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
  return typeof key === 'number' ? key : String(key);
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let at = root;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string | number, unknown>)[key];
  }
  return at;
}

function scrub(message: string, received: unknown): string {
  let out = message.replace(RECEIVED_PART, '');
  const t = typeof received;
  if (t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean') {
    const text = String(received);
    // Quoted anywhere, or bare when long enough not to be a word of the message itself.
    out = out.split(JSON.stringify(text)).join('[value]');
    if (text.length >= 4) out = out.split(text).join('[value]');
  }
  return out;
}

/**
 * The issues of a failed validation, each reduced to its path and a message from which the received value is
 * removed (valibot and arktype quote it; zod names only types). Nothing else of the library's issue is kept.
 */
export function safeIssues(
  issues: ReadonlyArray<StandardSchemaV1.Issue>,
  validated: unknown,
): ValidationIssue[] {
  return issues.map((issue) => {
    const path = (issue.path ?? []).map(segmentKey);
    const message = typeof issue.message === 'string' ? issue.message : 'invalid';
    return { path, message: scrub(message, valueAt(validated, path)) };
  });
}

/** Runs `schema` on `value`: the output, or the issues (already made safe). */
export async function runSchema(
  schema: StandardSchemaV1,
  value: unknown,
): Promise<
  { readonly value: unknown; readonly issues?: undefined } | { readonly issues: ValidationIssue[] }
> {
  let result = schema['~standard'].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) return { issues: safeIssues(result.issues, value) };
  return { value: result.value };
}
