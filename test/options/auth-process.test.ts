// A script written as a user would write it, run as its own Node process against the compiled build.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSrc } from '../helpers/compile.js';
import { startServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
const TOKEN = 'tok-7f3a9c1e5b2d4086';

const SCRIPT = `
const [, , entry, baseUrl, mode] = process.argv;
const { createClient, bearerAuth } = await import(entry);
// A ref'd timer while the call runs: a call waiting in a retry backoff does not keep the process alive yet
// (issue 10, defect 1, fixed separately).
const keepAlive = setInterval(() => {}, 1 << 30);
try {
  const auth = bearerAuth(process.env.API_TOKEN);
  const api =
    mode === 'auth'
      ? createClient({ baseUrl, auth, retry: { baseDelay: '5ms', maxDelay: '10ms' } })
      : createClient({ baseUrl, policies: [auth], retry: { retries: 3 } });
  const response = await api.get('/me');
  console.log(JSON.stringify({ status: response.status, attempts: response.attempts, body: await response.json() }));
  await api.close();
} catch (error) {
  console.error(error.code, error.message);
  process.exitCode = 2;
} finally {
  clearInterval(keepAlive);
}
`;

describe('createClient({ auth }) in a process of its own', () => {
  let entry: string;
  let dir: string;
  let server: TestServer;
  let statuses: number[];

  beforeAll(async () => {
    entry = await compileSrc();
    dir = mkdtempSync(join(tmpdir(), 'reqforge-auth-'));
    writeFileSync(join(dir, 'script.mjs'), SCRIPT);
    server = await startServer((_req, res) => {
      res.statusCode = statuses.shift() ?? 200;
      res.setHeader('content-type', 'application/json');
      res.end('{"name":"ada"}');
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const script = (mode: string) =>
    run(process.execPath, [join(dir, 'script.mjs'), entry, server.url, mode], {
      env: { ...process.env, API_TOKEN: TOKEN },
      timeout: 20_000,
    });

  it('is retried through 503s with the credential on each of the 4 attempts', async () => {
    statuses = [503, 503, 503];
    server.requests.length = 0;
    const { stdout, stderr } = await script('auth');
    expect(JSON.parse(stdout)).toEqual({ status: 200, attempts: 4, body: { name: 'ada' } });
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(Array(4).fill(`Bearer ${TOKEN}`));
    expect(stdout + stderr).not.toContain(TOKEN);
  });

  it('refuses retry next to policies (which would drop it), naming the policy to add, and sends nothing', async () => {
    server.requests.length = 0;
    const error = await script('policies').then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(error?.code).toBe(2);
    expect(error?.stderr.trim()).toBe(
      'ERR_INVALID_OPTION Invalid option "retry": cannot be combined with "policies"; put `retry(…)` into `policies`, or drop `policies` to use the preset',
    );
    expect(server.requests).toHaveLength(0);
    expect(`${error?.stdout}${error?.stderr}`).not.toContain(TOKEN);
  });
});
