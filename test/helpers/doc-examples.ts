// Documentation examples as programs: find each ```ts example block in a Markdown file together with the
// ```text output block written right after it, turn the example into a plain ES module that imports the
// compiled build (test/helpers/compile.ts), run it as its own Node process and compare what it printed with
// what the docs say it prints. The convention is described in docs/testing.md and test/docs-examples.test.ts.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { COMPILE_CACHE_DIR } from './compile.js';
import { type NodeProcessResult, runNodeProcess } from './node-process.js';

/** Where example processes run, each in its own directory removed afterwards. */
const EXAMPLES_DIR = join(dirname(COMPILE_CACHE_DIR), 'reqforge-examples');

/** Stands for any text within one line of expected output (a port, a duration, a generated id). */
export const ANY = '…';
/** The whole body of an output block for an example that must print nothing. */
export const NO_OUTPUT = '(no output)';

/** One runnable example: its code, the stdout it must print, and where it sits (for test names and errors). */
export interface DocExample {
  readonly file: string;
  /** 1-based line of the opening ```ts example fence. */
  readonly line: number;
  readonly code: string;
  /** Expected stdout (trailing newline removed), `''` for NO_OUTPUT; undefined when the output block is missing. */
  readonly expected: string | undefined;
}

const FENCE = /^```ts example\n([\s\S]*?)^```\n(?:\n*```text output\n([\s\S]*?)^```$)?/gm;

/** Every ```ts example block of `markdown`, each with the ```text output block that follows it (if any). */
export function parseExamples(file: string, markdown: string): DocExample[] {
  return [...markdown.matchAll(FENCE)].map((m) => {
    const output = m[2]?.replace(/\n$/, '');
    return {
      file,
      line: markdown.slice(0, m.index).split('\n').length,
      code: m[1] ?? '',
      expected: output === NO_OUTPUT ? '' : output,
    };
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether one line of output matches one expected line, where ANY matches any text within the line. */
export function lineMatches(expected: string, actual: string): boolean {
  if (!expected.includes(ANY)) return expected === actual;
  return new RegExp(`^${expected.split(ANY).map(escapeRegExp).join('.*?')}$`).test(actual);
}

/**
 * `actual` with every line that matches its expected counterpart replaced by the expected line: equal to
 * `expected` exactly when the output is right, and otherwise a string whose diff against `expected` shows
 * only the lines that are wrong (placeholders do not show up as differences).
 */
export function normaliseOutput(expected: string, actual: string): string {
  const want = expected.split('\n');
  return actual
    .replace(/\n$/, '')
    .split('\n')
    .map((line, i) => (want[i] !== undefined && lineMatches(want[i], line) ? want[i] : line))
    .join('\n');
}

/** Package entry points (`reqforge`, `reqforge/testing`, …) mapped to the compiled file of each. */
export function entryPoints(exports: Record<string, unknown>, compiledIndexUrl: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const [key, target] of Object.entries(exports)) {
    const file = (target as { default?: string }).default;
    if (!file?.startsWith('./dist/')) continue;
    const specifier = key === '.' ? 'reqforge' : `reqforge/${key.slice(2)}`;
    map.set(specifier, new URL(file.slice('./dist/'.length), compiledIndexUrl).href);
  }
  return map;
}

/** The example as a plain ES module: types stripped, `reqforge` imports pointed at the compiled build. */
export function toModule(code: string, entries: ReadonlyMap<string, string>): string {
  const js = ts.transpileModule(code, {
    compilerOptions: {
      module: ts.ModuleKind.ES2022,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  }).outputText;
  return js.replace(
    /(from\s+|import\s*\(\s*)(['"])(reqforge(?:\/[a-z/-]+)?)\2/g,
    (_whole, lead, _q, name) => {
      const url = entries.get(name);
      if (!url) throw new Error(`example imports ${name}, which package.json does not export`);
      return `${lead}${JSON.stringify(url)}`;
    },
  );
}

/** What one example process did. */
export type ExampleRun = NodeProcessResult;

/**
 * Runs `module` (JavaScript) as its own Node process in a fresh directory under node_modules/.cache with only
 * `env` (plus PATH, NO_COLOR and HOME), killing it after `timeoutMs`.
 */
export async function runModule(
  module: string,
  env: Readonly<Record<string, string>>,
  timeoutMs: number,
): Promise<ExampleRun> {
  // Inside the repo (git-ignored), so an example's bare imports (`pg`, `ioredis` …) resolve from its node_modules.
  await mkdir(EXAMPLES_DIR, { recursive: true });
  const dir = await mkdtemp(join(EXAMPLES_DIR, 'run-'));
  try {
    const path = join(dir, 'example.mjs');
    await writeFile(path, module);
    return await runNodeProcess([path], { cwd: dir, env: { HOME: dir, ...env }, killAfterMs: timeoutMs });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Wraps tasks so that at most `limit` run at a time; the others wait their turn in call order. */
export function limiter(limit: number): <R>(task: () => Promise<R>) => Promise<R> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (task) => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), or free it.
      const next = queue.shift();
      if (next) next();
      else active--;
    }
  };
}
