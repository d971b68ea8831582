import { randomBytes } from 'node:crypto';
import { parseDocument } from 'yaml';

/**
 * Configuration text to data, with errors that never quote the text: a syntax error says where (line and
 * column) and what kind of mistake it is, never the line itself, since the line, or the one above it, may hold a
 * secret literal.
 */

/** A syntax problem: where it is and what kind it is, never the text. */
export interface SyntaxProblem {
  readonly message: string;
}

/** Thrown by {@link parseConfigText} when the text is not valid YAML or JSON. */
export class ConfigSyntaxError extends Error {
  readonly problems: readonly SyntaxProblem[];

  constructor(problems: readonly SyntaxProblem[]) {
    super(problems.map((p) => p.message).join('; '));
    this.problems = problems;
  }
}

// `${…}` (but not the `$${` escape) as written in the text.
const VARIABLE = /(?<!\$)\$\{[^}\n]*\}/g;

/**
 * Parses configuration text as YAML (`format: 'yaml'`) or JSON. In YAML, `${VAR}` references may stand anywhere
 * a value may, flow maps and sequences (`{ token: ${TOKEN} }`) included: each reference is swapped for a plain
 * placeholder before parsing (a bare `${` opens a flow map in YAML) and put back in every key and string after,
 * so interpolation sees exactly what was written. Throws a {@link ConfigSyntaxError}.
 */
export function parseConfigText(text: string, format: 'yaml' | 'json'): unknown {
  if (format === 'json') return parseJson(text);
  const nonce = randomBytes(6).toString('hex');
  const originals: string[] = [];
  // Where each placeholder starts in the parsed text, and how much longer than the original it is.
  const shifts: { at: number; delta: number }[] = [];
  let delta = 0;
  const prepared = text.replace(VARIABLE, (whole: string, offset: number) => {
    const placeholder = `rqfvar${nonce}n${originals.length}z`;
    shifts.push({ at: offset + delta, delta: placeholder.length - whole.length });
    delta += placeholder.length - whole.length;
    originals.push(whole);
    return placeholder;
  });
  const doc = parseDocument(prepared, { prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const problems = [...doc.errors, ...doc.warnings].map((e) => ({
    message: `not valid YAML${where(text, originalOffset(e.pos?.[0], shifts))}: ${kind(e.message)}`,
  }));
  if (problems.length > 0) throw new ConfigSyntaxError(problems);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigSyntaxError([{ message: `not valid YAML: ${kind((error as Error).message)}` }]);
  }
  if (originals.length === 0) return data;
  const back = new RegExp(`rqfvar${nonce}n(\\d+)z`, 'g');
  return restore(data, (s) => s.replace(back, (_m, i: string) => originals[Number(i)] ?? ''));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around the mistake; keep only its position.
    const at = /at position (\d+)/.exec((error as Error).message);
    throw new ConfigSyntaxError([
      { message: `not valid JSON${where(text, at ? Number(at[1]) : undefined)}` },
    ]);
  }
}

/** The kind of mistake from a parser message: the part before any quoted source (`…: text`). */
function kind(message: string): string {
  const head = message.split(/:\s|\n| at line \d/)[0] ?? '';
  return head.replace(/"[^"]*"|'[^']*'/g, '…').trim() || 'syntax error';
}

function originalOffset(
  offset: number | undefined,
  shifts: readonly { at: number; delta: number }[],
): number | undefined {
  if (offset === undefined) return undefined;
  let out = offset;
  for (const s of shifts) if (s.at < offset) out -= s.delta;
  return Math.max(0, out);
}

function where(text: string, offset: number | undefined): string {
  if (offset === undefined) return '';
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return ` at line ${line}, column ${Math.min(offset, text.length) - start + 1}`;
}

function restore(value: unknown, fix: (s: string) => string): unknown {
  if (typeof value === 'string') return fix(value);
  if (Array.isArray(value)) return value.map((v) => restore(v, fix));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[fix(key)] = restore(v, fix);
    return out;
  }
  return value;
}
