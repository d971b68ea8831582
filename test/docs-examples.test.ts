// Every example in README.md and docs/*.md runs here as its own Node process, as a user would run it.
//
// Convention (also in docs/testing.md):
// - A ```ts example block is a complete program. It imports `reqforge` or `reqforge/<entry>` (rewritten to
//   the compiled build of src/, test/helpers/compile.ts). API_URL is the base URL of a fresh sandbox API
//   per example (src/sandbox/upstream.ts: `/pets` with Rex, Tom and Nemo, `/pets/{id}`, `?fault=503` …),
//   the API `npm start` puts behind its gateway at http://127.0.0.1:8787/pets, so the output written in
//   the docs is what a reader sees. Examples that need an identity provider start the sandbox one
//   themselves (`startOAuthServer` from `reqforge/sandbox`).
// - It is followed (blank lines allowed, nothing else) by a ```text output block holding the exact stdout.
//   `…` stands for any text within one line (ports, durations, generated ids); use it only for values that
//   legitimately vary. An example that must print nothing has an output block reading `(no output)`.
// - The example fails when the output block is missing, when the process exits non-zero, writes anything
//   to stderr, prints anything else, or has not exited on its own within EXIT_LIMIT_MS.
// - Blocks fenced ```ts (without `example`) are illustrations and are not run.
// Each example is its own test; the tests run concurrently, at most CONCURRENCY processes at a time.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startSandboxUpstream } from '../src/sandbox/upstream.js';
import { compileSrc } from './helpers/compile.js';
import {
  type DocExample,
  type ExampleRun,
  entryPoints,
  limiter,
  lineMatches,
  normaliseOutput,
  parseExamples,
  runModule,
  toModule,
} from './helpers/doc-examples.js';

/**
 * A process that has not exited on its own by then fails. Examples take about a second on an idle machine; the
 * margin is for a loaded one (eight worktrees on two CPUs took up to 8 s), not for examples that linger.
 */
const EXIT_LIMIT_MS = 15_000;
const CONCURRENCY = Math.min(4, Math.max(2, availableParallelism()));

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const files = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
const examples = files.flatMap((file) => parseExamples(file, readFileSync(join(root, file), 'utf8')));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};
const slot = limiter(CONCURRENCY);
/** A test may first wait for a slot behind every other example: only a backstop, EXIT_LIMIT_MS is the limit. */
const TEST_TIMEOUT_MS = 30_000 + EXIT_LIMIT_MS * Math.ceil(examples.length / CONCURRENCY);

/** Runs one example against its own sandbox API, so examples that create or delete pets do not meet. */
async function runExample(example: DocExample): Promise<ExampleRun> {
  const entries = entryPoints(pkg.exports, await compileSrc());
  const api = await startSandboxUpstream({ seed: 1 });
  try {
    return await runModule(toModule(example.code, entries), { API_URL: `${api.url}/api` }, EXIT_LIMIT_MS);
  } finally {
    await api.close();
  }
}

/** Fails with a readable message unless the run exited 0 on time, silent on stderr, printing what the docs say. */
function check(example: DocExample, run: ExampleRun): void {
  const where = `${example.file}:${example.line}`;
  const printed = run.stdout ? `\nstdout:\n${run.stdout}` : '';
  if (run.timedOut) throw new Error(`${where} did not exit within ${EXIT_LIMIT_MS} ms${printed}`);
  if (run.stderr) throw new Error(`${where} wrote to stderr:\n${run.stderr}${printed}`);
  if (run.code !== 0) {
    // Node's exit code 13: the event loop ran dry while the top-level await was still pending.
    const hint = run.code === 13 ? ' (a top-level await never settled: nothing kept the process alive)' : '';
    throw new Error(`${where} exited with ${run.signal ?? run.code}${hint}${printed}`);
  }
  if (example.expected === undefined)
    throw new Error(`${where}: add a \`\`\`text output block after the example; it printed:\n${run.stdout}`);
  expect(normaliseOutput(example.expected, run.stdout), `${where} printed something else`).toBe(
    example.expected,
  );
}

describe('documentation examples run as processes and print what the docs say', () => {
  for (const example of examples) {
    it.concurrent(`${example.file}:${example.line}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      check(example, await slot(() => runExample(example)));
    });
  }

  it('found the examples of README.md and every guide that has them', () => {
    const perFile = Object.fromEntries(files.map((f) => [f, examples.filter((e) => e.file === f).length]));
    expect(perFile['README.md']).toBe(1);
    expect(perFile['docs/testing.md']).toBeGreaterThanOrEqual(2);
  });
});

describe('the example runner', () => {
  it('pairs each example with the output block right after it, and only that one', () => {
    const md = [
      '```ts example',
      'console.log(1);',
      '```',
      '',
      '```text output',
      '1',
      '```',
      '```ts example',
      'console.log(2);',
      '```',
      'Prose in between: not an output block.',
      '```text output',
      '2',
      '```',
      '```ts example',
      '```',
      '```text output',
      '(no output)',
      '```',
      '```ts',
      'notRun();',
      '```',
    ].join('\n');
    expect(parseExamples('x.md', `${md}\n`)).toEqual([
      { file: 'x.md', line: 1, code: 'console.log(1);\n', expected: '1' },
      { file: 'x.md', line: 8, code: 'console.log(2);\n', expected: undefined },
      { file: 'x.md', line: 15, code: '', expected: '' },
    ]);
  });

  it('lets … stand for text within one line, never across lines', () => {
    expect(lineMatches('listening on http://127.0.0.1:…/', 'listening on http://127.0.0.1:41234/')).toBe(
      true,
    );
    expect(lineMatches('took … ms', 'took  ms')).toBe(true);
    expect(lineMatches('took … ms', 'took 3 s')).toBe(false);
    expect(lineMatches('a.b', 'axb')).toBe(false);
    expect(normaliseOutput('a …\nb', 'a 1\nc\nb\n')).toBe('a …\nc\nb');
    expect(normaliseOutput('a …\nb', 'a 1\nb\n')).toBe('a …\nb');
  });

  it('points reqforge imports at the compiled build and strips types', async () => {
    const entries = entryPoints(pkg.exports, 'file:///build/index.js');
    expect(entries.get('reqforge/metrics')).toBe('file:///build/observability/index.js');
    const js = toModule(
      "import { a } from 'reqforge';\nimport { b } from 'reqforge/testing';\nconst x: number = 1;",
      entries,
    );
    expect(js).toBe(
      'import { a } from "file:///build/index.js";\nimport { b } from "file:///build/testing.js";\nconst x = 1;\n',
    );
    expect(() => toModule("import { c } from 'reqforge/nope';", entries)).toThrow(/reqforge\/nope/);
  });

  it("resolves an example's bare imports from the repository's node_modules", async () => {
    const run = await runModule(
      "import { request } from 'undici';\nconsole.log(typeof request);",
      {},
      EXIT_LIMIT_MS,
    );
    expect([run.code, run.stdout, run.stderr]).toEqual([0, 'function\n', '']);
  });

  it('reports a process that fails, writes to stderr or does not exit', async () => {
    const [fails, unsettled, warns, hangs] = await Promise.all([
      runModule('console.log("partial"); process.exitCode = 3;', {}, EXIT_LIMIT_MS),
      runModule('await new Promise((r) => setTimeout(r, 50).unref());', {}, EXIT_LIMIT_MS),
      runModule('console.warn("careful");', {}, EXIT_LIMIT_MS),
      runModule('setInterval(() => {}, 1000);', {}, 300),
    ]);
    const example: DocExample = { file: 'x.md', line: 1, code: '', expected: 'partial' };
    expect(() => check(example, fails!)).toThrow('x.md:1 exited with 3\nstdout:\npartial\n');
    expect(() => check(example, unsettled!)).toThrow(
      'x.md:1 exited with 13 (a top-level await never settled',
    );
    expect(() => check(example, warns!)).toThrow('x.md:1 wrote to stderr:\ncareful\n');
    expect(() => check(example, hangs!)).toThrow(`x.md:1 did not exit within ${EXIT_LIMIT_MS} ms`);
    expect(() => check(example, { ...warns!, stderr: '', stdout: 'other\n' })).toThrow(
      /printed something else/,
    );
  });
});
