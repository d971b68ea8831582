// Runs Node on a file as a user would, in its own process: the one runner behind the process tests
// (test/process/run.ts: scripts and the CLI) and the documentation examples (test/helpers/doc-examples.ts).
// It starts `node` with a clean environment, collects stdout and stderr, and kills the child when it has not
// exited within the hang limit.
import { spawn } from 'node:child_process';

/** How to run one child process. */
export interface NodeProcessOptions {
  /** Working directory of the child. */
  readonly cwd: string;
  /** Added to the clean environment (PATH and NO_COLOR only: no NODE_OPTIONS or CI flags from the runner). */
  readonly env?: Readonly<Record<string, string>>;
  /** The child is killed (SIGKILL) and the result marked `timedOut` when it has not exited by then, in ms. */
  readonly killAfterMs: number;
  /** When set, `markedAt` records the moment a stdout line matching it first arrived (our clock, not the child's). */
  readonly mark?: RegExp;
}

/** What a finished child process left behind. */
export interface NodeProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Whether the child had to be killed because it did not exit within `killAfterMs`. */
  readonly timedOut: boolean;
  /** Wall time from start to exit, in ms. */
  readonly elapsed: number;
  /** `Date.now()` when the child exited. */
  readonly exitedAt: number;
  /** `Date.now()` when a stdout line matching `mark` first arrived (undefined without one). */
  readonly markedAt: number | undefined;
}

/** Runs `node <args>` as its own process and resolves once it has exited and its output is complete. */
export function runNodeProcess(
  args: readonly string[],
  options: NodeProcessOptions,
): Promise<NodeProcessResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let markedAt: number | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      // Measured here rather than by the child's clock: both ends of an interval then see the same delays.
      if (markedAt === undefined && options.mark?.test(stdout)) markedAt = Date.now();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    let timedOut = false;
    const killer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.killAfterMs);
    let exitedAt = 0;
    child.on('error', (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.on('exit', () => {
      exitedAt = Date.now();
    });
    // 'close' comes after 'exit' once both pipes are drained, so the output is complete.
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, timedOut, elapsed: exitedAt - started, exitedAt, markedAt });
    });
  });
}
