// Runs `reqforge gateway` as its own Node process against the compiled build (test/helpers/compile.ts), as an
// operator does: a config file, flags, stdout and stderr collected apart. `start` resolves once the gateway prints
// where it listens (on stderr); `stop` sends SIGTERM and resolves with the exit code and everything it wrote.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { compileSrc } from './compile.js';

/** A running gateway process. */
export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** The stdout lines so far, each parsed as JSON (throws on a line that is not). */
  lines(): Record<string, unknown>[];
  /** Polls until `check(lines())` is true; fails after `limit` ms. */
  until(check: (lines: Record<string, unknown>[]) => boolean, limit?: number): Promise<void>;
  /** SIGTERM, then the exit code and the whole output. */
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts `reqforge gateway -c <config> --port 0 <args>`; the config is YAML text written to a temp file. */
export async function startGatewayProcess(
  config: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  const index = await compileSrc();
  const dir = mkdtempSync(join(tmpdir(), 'reqforge-gw-'));
  const bin = join(dir, 'reqforge.mjs');
  writeFileSync(
    bin,
    `import { run } from ${JSON.stringify(new URL('./cli/index.js', index).href)};\nprocess.exitCode = await run(process.argv);\n`,
  );
  writeFileSync(join(dir, 'gateway.yaml'), config);
  const child = spawn(
    process.execPath,
    [bin, 'gateway', '-c', join(dir, 'gateway.yaml'), '--port', '0', ...args],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let url: string | undefined;
  const deadline = Date.now() + 60_000;
  while (!url) {
    url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
    if (url) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`gateway did not start:\n${stderr}\n${stdout}`);
    }
    await sleep(20);
  }
  const lines = () =>
    stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    url,
    child,
    stdout: () => stdout,
    lines,
    async until(check, limit = 10_000) {
      const end = Date.now() + limit;
      while (!check(lines())) {
        if (Date.now() > end) throw new Error(`log condition not met within ${limit} ms:\n${stdout}`);
        await sleep(50);
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return { code, stdout, stderr };
    },
  };
}
