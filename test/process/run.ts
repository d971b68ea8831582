// Runs a user's program as its own Node process against the compiled build (test/helpers/compile.ts, one
// build per run shared by every test file): a script written to a temp directory, or the `reqforge` CLI through
// a two-line bin like the published one. Collects stdout, stderr, the exit code and how long the process
// lingered after its last call settled. A script reports that moment with {@link SETTLED}: a line listing what
// still keeps its event loop alive (`process.getActiveResourcesInfo()`), which must be nothing at all.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { compileSrc } from '../helpers/compile.js';
import { runNodeProcess } from '../helpers/node-process.js';

/** What a finished child process left behind. */
export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from start to exit, in ms. */
  readonly elapsed: number;
  /** Time from the script's `SETTLED` line reaching us to the process exit, in ms (undefined without it). */
  readonly lingered: number | undefined;
  /** What kept the script's event loop alive once its last call had settled (undefined without the line). */
  readonly holding: string[] | undefined;
}

/**
 * A statement for a script, run when its last call settled (and after close() where it calls it): prints what
 * still keeps the event loop alive, once the current tick and a short timer have passed (the pipes of stdout and
 * stderr, flushing, aside).
 */
export const SETTLED =
  "setTimeout(() => setImmediate(() => console.log('SETTLED ' + JSON.stringify(process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap')))), 20);";

/** Longest a child may run before it is killed and the test fails: only a guard against a hang (a loaded CI machine
 * has taken over 25 s to start the CLI and make one call); lingering is checked exactly with `holding`. */
const KILL_AFTER = 60_000;

// One directory per test file for its scripts and configs, removed when the file's tests are done.
const dir = mkdtempSync(join(tmpdir(), 'reqforge-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const workDir = (): string => dir;

/**
 * Writes `source` as an ES module and runs it with `node`. `$REQFORGE` in the source is replaced with the
 * `file:` URL of the compiled `index.js`, `$BUILD` with the build directory's URL (ending in `/`).
 */
export async function runScript(
  source: string,
  options: { readonly env?: Record<string, string>; readonly args?: readonly string[] } = {},
): Promise<ProcessResult> {
  const index = await compileSrc();
  const build = new URL('./', index).href;
  const file = join(workDir(), `script-${process.pid}-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, source.replaceAll('$REQFORGE', index).replaceAll('$BUILD', build));
  return runNode([file, ...(options.args ?? [])], options.env);
}

/** Runs `reqforge <args>` as the published bin does (`process.exitCode = await run(process.argv)`). */
export async function runCli(
  args: readonly string[],
  options: { readonly env?: Record<string, string>; readonly cwd?: string } = {},
): Promise<ProcessResult> {
  const index = await compileSrc();
  return runNode([cliBin(index), ...args], options.env, options.cwd);
}

let bin: string | undefined;

/**
 * The bin, written once per test file. (Rewriting it for every run let a concurrent test's child read it while it
 * was truncated: an empty module that exits 0 at once, with no output.) Written under a temporary name and renamed,
 * so no reader ever sees a partial file.
 */
function cliBin(index: string): string {
  if (bin !== undefined) return bin;
  const dir = join(workDir(), 'bin');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'reqforge.mjs');
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(
    partial,
    `import { run } from ${JSON.stringify(new URL('./cli/index.js', index).href)};\nprocess.exitCode = await run(process.argv);\n`,
  );
  renameSync(partial, path);
  bin = path;
  return path;
}

/** Writes a file into the shared temp directory and returns its path. */
export function writeTemp(name: string, text: string): string {
  const path = join(workDir(), name);
  writeFileSync(path, text);
  return path;
}

async function runNode(
  args: readonly string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<ProcessResult> {
  const run = await runNodeProcess(args, {
    cwd: cwd ?? workDir(),
    env,
    killAfterMs: KILL_AFTER,
    mark: /^SETTLED .*$/m,
  });
  const line = /^SETTLED (.*)\n/m.exec(run.stdout);
  return {
    code: run.code,
    signal: run.signal,
    stdout: run.stdout.replace(/^SETTLED .*\n/m, ''),
    stderr: run.stderr,
    elapsed: run.elapsed,
    lingered: run.markedAt === undefined ? undefined : run.exitedAt - run.markedAt,
    holding: line ? (JSON.parse(line[1] as string) as string[]) : undefined,
  };
}

/**
 * Longest a process may take to exit after its last call settled: a sanity bound only. The exact check is
 * `holding` (nothing keeps the event loop alive); the exit itself takes under a second on an idle machine and
 * several seconds on one loaded by parallel test processes.
 */
export const PROMPT_EXIT_MS = 15_000;

/** Nothing kept the event loop alive once the last call settled, and the process exited soon after. */
export function expectPromptExit(result: ProcessResult): void {
  expect(result.holding).toEqual([]);
  expect(result.lingered, `exited ${result.lingered} ms after settling`).toBeLessThan(PROMPT_EXIT_MS);
}
