// The shared child-process runner: exit code, both streams, the clean environment, the hang limit, the mark.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNodeProcess } from './node-process.js';

const dir = mkdtempSync(join(tmpdir(), 'reqforge-node-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function script(source: string): string {
  const file = join(dir, `s${n++}.mjs`);
  writeFileSync(file, source);
  return file;
}

describe('runNodeProcess', () => {
  it('collects stdout, stderr and the exit code, in a clean environment plus what the caller adds', async () => {
    process.env.REQFORGE_LEAK_CHECK = 'runner';
    try {
      const run = await runNodeProcess(
        [
          script(
            'console.log(process.env.REQFORGE_LEAK_CHECK ?? "-", process.env.NO_COLOR, process.env.EXTRA, process.argv[2]); console.error("warn"); process.exitCode = 3;',
          ),
          'arg',
        ],
        { cwd: dir, env: { EXTRA: 'x' }, killAfterMs: 60_000 },
      );
      expect(run).toMatchObject({
        code: 3,
        signal: null,
        stdout: '- 1 x arg\n',
        stderr: 'warn\n',
        timedOut: false,
      });
      expect(run.markedAt).toBeUndefined();
    } finally {
      delete process.env.REQFORGE_LEAK_CHECK;
    }
  });

  it('kills a child that does not exit within the limit and says so', async () => {
    const run = await runNodeProcess([script('console.log("up"); setInterval(() => {}, 1000);')], {
      cwd: dir,
      killAfterMs: 300,
    });
    expect(run).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: true });
  });

  it('records when a marked stdout line arrived, before the exit', async () => {
    const run = await runNodeProcess(
      [script('console.log("before"); console.log("MARK x"); setTimeout(() => {}, 200);')],
      { cwd: dir, killAfterMs: 60_000, mark: /^MARK .*$/m },
    );
    expect(run.stdout).toBe('before\nMARK x\n');
    // The mark is seen while the child still runs (its 200 ms timer keeps it alive after printing).
    expect(run.markedAt).toBeTypeOf('number');
    expect(run.markedAt as number).toBeLessThanOrEqual(run.exitedAt);
  });
});
