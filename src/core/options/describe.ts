/**
 * Turns zod issues into messages that name the option path, say what was expected, suggest a near key for an
 * unknown one, and never print the value.
 */
import type { z } from 'zod';

/** One problem with a set of options: the dotted path of the option and what is wrong with it. */
export interface OptionIssue {
  /** Dotted path such as `retry.baseDelay` or `upstreams.api.timeout.total`; empty for the whole value. */
  readonly path: string;
  /** What is wrong and, where possible, how to fix it. Never contains the value. */
  readonly message: string;
}

type ZodIssue = z.core.$ZodIssue;

interface Def {
  readonly type: string;
  readonly innerType?: Schema;
  readonly in?: Schema;
  readonly valueType?: Schema;
  readonly element?: Schema;
  readonly options?: readonly Schema[];
  readonly shape?: Record<string, Schema>;
}
/** @internal the part of a zod schema the walkers here read. */
export interface Schema {
  readonly _zod: { readonly def: Def };
}

/** @internal the concrete schemas behind wrappers (optional, default, pipe, union). */
export function unwrap(schema: Schema): Schema[] {
  const def = schema._zod.def;
  if (def.innerType) return unwrap(def.innerType);
  if (def.type === 'pipe' && def.in) return unwrap(def.in);
  if (def.options) return def.options.flatMap(unwrap);
  return [schema];
}

/** @internal the concrete schemas that describe the value at `path` inside `schema`. */
export function schemasAt(schema: Schema, path: readonly PropertyKey[]): Schema[] {
  let current = unwrap(schema);
  for (const segment of path) {
    const next: Schema[] = [];
    for (const s of current) {
      const def = s._zod.def;
      const key = String(segment);
      if (def.shape && Object.hasOwn(def.shape, key)) next.push(...unwrap(def.shape[key] as Schema));
      else if (def.valueType) next.push(...unwrap(def.valueType));
      else if (def.element) next.push(...unwrap(def.element));
    }
    current = next;
  }
  return current;
}

/** The keys an object schema (possibly wrapped, or a union of objects) allows at `path`. */
export function keysAt(schema: Schema, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(schema, path)) for (const k of Object.keys(s._zod.def.shape ?? {})) keys.add(k);
  return [...keys];
}

/**
 * The closest known key to `key`: a case-insensitive match, or one within a small edit distance
 * (2, or a third of the key's length for long keys). Undefined when nothing is close.
 */
export function suggest(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0 : distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Case-insensitive Levenshtein distance. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

/** The message for an unknown key: a did-you-mean, or the keys allowed there. */
export function unknownKeyMessage(key: string, known: Iterable<string>, what = 'option'): string {
  const list = [...known];
  const hint = suggest(key, list);
  if (hint) return `unknown ${what}; did you mean "${hint}"?`;
  return list.length > 0 ? `unknown ${what} (known: ${list.join(', ')})` : `unknown ${what}`;
}

/** Describes a value by its kind only: never the value itself. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value))
    return Number.isNaN(value) ? 'NaN' : 'an infinite number';
  const t = typeof value;
  return t === 'object' ? 'an object' : `a ${t}`;
}

const ARTICLE: Readonly<Record<string, string>> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  function: 'a function',
  bigint: 'a bigint',
};

/**
 * Every problem in a failed parse, as option paths and messages. `schema` is the schema that was parsed (for the
 * keys allowed where an unknown key was found); `prefix` is prepended to every path.
 */
export function describeIssues(
  issues: readonly ZodIssue[],
  schema: Schema,
  prefix: readonly PropertyKey[] = [],
  what = 'option',
): OptionIssue[] {
  // Unknown keys first: a misspelt key usually explains the "required" problem that comes with it.
  const ordered = [...issues].sort(
    (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
  );
  return ordered.flatMap((issue) => describeIssue(issue, schema, prefix, [], what));
}

function describeIssue(
  issue: ZodIssue,
  schema: Schema,
  prefix: readonly PropertyKey[],
  inner: readonly PropertyKey[],
  what: string,
): OptionIssue[] {
  const local = [...inner, ...issue.path];
  const path = [...prefix, ...local].map(String).join('.');
  switch (issue.code) {
    case 'invalid_union': {
      if (issue.errors.length === 0) return [{ path, message: issue.message }];
      // Explain the branch that got furthest: the one whose problems are not just "wrong type here".
      const rootMismatch = (i: ZodIssue) =>
        i.path.length === 0 &&
        (i.code === 'invalid_type' || i.code === 'invalid_value' || i.code === 'custom');
      const branch = issue.errors.find((list) => !list.some(rootMismatch));
      if (branch) return branch.flatMap((i) => describeIssue(i, schema, prefix, local, what));
      const expected = issue.errors.map((list) => {
        const i = list[0];
        if (i?.code === 'invalid_type') return ARTICLE[i.expected] ?? i.expected;
        if (i?.code === 'invalid_value') return oneOf(i.values);
        return i?.message.replace(/^expected /, '') ?? 'another value';
      });
      const options = [...new Set(expected)];
      const list = options.length > 1 ? `one of: ${options.join(' | ')}` : options.join('');
      return [{ path, message: `expected ${list}${got(issue)}` }];
    }
    case 'unrecognized_keys': {
      const known = keysAt(schema, local);
      return issue.keys.map((key) => ({
        path: [...prefix, ...local, key].map(String).join('.'),
        message: unknownKeyMessage(key, known, what),
      }));
    }
    case 'invalid_key':
      // A record key that fails its own schema (a header name that is not a token): name the key's path.
      if (issue.issues.length === 0) return [{ path, message: 'invalid key' }];
      return issue.issues
        .flatMap((i) => describeIssue({ ...i, path: [] } as ZodIssue, schema, prefix, local, what))
        .map((i) => ({ ...i, path }));
    case 'invalid_type':
      if (issue.input === undefined && /received undefined$/.test(issue.message))
        return [{ path, message: `required (${ARTICLE[issue.expected] ?? issue.expected})` }];
      return [{ path, message: `expected ${ARTICLE[issue.expected] ?? issue.expected}${got(issue)}` }];
    case 'too_small':
    case 'too_big': {
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const noun =
        issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint'
          ? 'a number'
          : issue.origin === 'array' || issue.origin === 'set'
            ? 'a list whose length is'
            : issue.origin === 'string'
              ? 'a text whose length is'
              : 'a value';
      return [{ path, message: `expected ${noun} ${op} ${String(bound)}` }];
    }
    case 'invalid_value':
      return [{ path, message: `expected ${oneOf(issue.values)}` }];
    case 'invalid_format':
    default:
      return [
        { path, message: withoutValue(issue.message.replace(/^Invalid input: /, ''), issueInput(issue)) },
      ];
  }
}

function got(issue: ZodIssue): string {
  if (!('input' in issue)) return '';
  // "expected a whole number, got a number" says nothing: name the kind only when it differs.
  if (issue.code === 'invalid_type' && typeof issue.input === 'number' && Number.isFinite(issue.input))
    return '';
  return ` (got ${kindOf(issue.input)})`;
}

function oneOf(values: readonly unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v));
  if (shown.length <= 1) return shown.join('');
  return `one of ${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`;
}

function issueInput(issue: ZodIssue): unknown {
  return 'input' in issue ? issue.input : undefined;
}

/**
 * A validation message with the offending value taken out: config errors give the key path and what was
 * expected, never what was found, which may be a secret interpolated from the environment.
 */
export function withoutValue(message: string, input: unknown): string {
  if (typeof input !== 'string' || input.length === 0) return message;
  const json = JSON.stringify(input);
  let out = message;
  for (const lead of [', got ', ' got ', ', received ', ' received ']) out = out.split(lead + json).join('');
  out = out.split(json).join('(value not shown)');
  if (input.length >= 4) out = out.split(input).join('(value not shown)');
  return out;
}
