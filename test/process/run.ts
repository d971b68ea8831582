// Runs a user's program as its own Node process against the compiled build (test/helpers/compile.ts, one
// build per run shared by every test file): a script written to a temp directory, or the `reqforge` CLI through
// a two-line bin like the published one. Collects stdout, stderr, the exit code and how long the process
// lingered after its last call settled. A script reports that moment with {@link SETTLED}: a line listing what
// still keeps its event loop alive (`process.getActiveResourcesInfo()`), which must be nothing at all.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { compileSrc } from '../helpers/compile.js';

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

/** Longest a child may run before it is killed and the test fails (under the 30 s default total timeout). */
const KILL_AFTER = 25_000;

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
  const bin = join(workDir(), 'bin', 'reqforge.mjs');
  mkdirSync(join(workDir(), 'bin'), { recursive: true });
  writeFileSync(
    bin,
    `import { run } from ${JSON.stringify(new URL('./cli/index.js', index).href)};\nprocess.exitCode = await run(process.argv);\n`,
  );
  return runNode([bin, ...args], options.env, options.cwd);
}

/** Writes a file into the shared temp directory and returns its path. */
export function writeTemp(name: string, text: string): string {
  const path = join(workDir(), name);
  writeFileSync(path, text);
  return path;
}

function runNode(
  args: readonly string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<ProcessResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], {
      cwd: cwd ?? workDir(),
      // A clean environment: no NODE_OPTIONS from the runner, no CI-only behaviour leaking in.
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let settledAt: number | undefined;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      // Measured here rather than from the child's clock: both ends of the interval see the same delays.
      if (settledAt === undefined && /^SETTLED .*$/m.test(stdout)) settledAt = Date.now();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER);
    child.on('error', reject);
    let exited = 0;
    child.on('exit', () => {
      exited = Date.now();
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const line = /^SETTLED (.*)\n/m.exec(stdout);
      resolve({
        code,
        signal,
        stdout: stdout.replace(/^SETTLED .*\n/m, ''),
        stderr,
        elapsed: exited - started,
        lingered: settledAt === undefined ? undefined : exited - settledAt,
        holding: line ? (JSON.parse(line[1] as string) as string[]) : undefined,
      });
    });
  });
}

/**
 * Longest a process may take to exit after its last call settled. Nothing may hold it (checked exactly with
 * `holding`); the exit itself takes under a second, several on a machine loaded by parallel test processes.
 * A timer left holding it would show up as the 10 s attempt or the 30 s total timeout.
 */
export const PROMPT_EXIT_MS = 8_000;

/** Nothing kept the event loop alive once the last call settled, and the process exited soon after. */
export function expectPromptExit(result: ProcessResult): void {
  expect(result.holding).toEqual([]);
  expect(result.lingered, `exited ${result.lingered} ms after settling`).toBeLessThan(PROMPT_EXIT_MS);
}
