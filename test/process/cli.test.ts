// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configs under test use ${ENV} interpolation.
// `reqforge call` and `reqforge token` end to end, as a user runs them: their own Node process on the compiled
// build, against loopback servers. Each outcome has its documented exit code (docs/gateway.md) and, when it is
// not a success, exactly one line on stderr; the process exits once the call settled.
import { describe, expect, it } from 'vitest';
import { startOAuthServer } from '../../src/sandbox/oauth.js';
import { type ProcessResult, runCli, writeTemp } from './run.js';
import { upstream } from './upstream.js';

/** One upstream per setting under test, all on the loopback server in `$BASE`. */
const CONFIG = `listen:
  port: 0
metrics:
  defaultMetrics: false
upstreams:
  up:
    baseUrl: \${BASE}
    retry: { baseDelay: 50ms }
  queued:
    baseUrl: \${BASE}
    retry: { baseDelay: 50ms }
    rateLimit: { limit: 1, window: 1500ms }
  slow:
    baseUrl: \${BASE}
    retry: false
    timeout: { total: 400ms, attempt: 200ms }
  nowhere:
    baseUrl: http://127.0.0.1:1
    retry: { baseDelay: 50ms }
`;
const configFile = writeTemp('cli-process.yaml', CONFIG);

async function call(base: string, ...args: string[]) {
  return runCli(['call', ...args, '-c', configFile], { env: { BASE: base } });
}

/** Exactly one line, starting with `start`. */
function oneLine(result: ProcessResult, start: string | RegExp): void {
  const text = result.stderr;
  // On failure, say how the process ended: an empty stderr alone does not tell a hang from a silent exit.
  const how = `exit ${result.code}, signal ${result.signal}, ${result.elapsed} ms, stdout ${JSON.stringify(result.stdout.slice(0, 200))}`;
  expect(text.split('\n').filter(Boolean), `${how}\n${text}`).toHaveLength(1);
  expect(text.endsWith('\n')).toBe(true);
  if (typeof start === 'string') expect(text.startsWith(start), text).toBe(true);
  else expect(text).toMatch(start);
}

describe.concurrent('reqforge call and token as processes', { timeout: 90_000 }, () => {
  it('call: a 503 retried to a 200 prints the body and exits 0', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await call(server.url, 'up', 'GET', '/flaky');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('{"ok":true,"path":"/flaky"}');
    expect(result.code).toBe(0);
    expect(server.requests).toHaveLength(2);
  });

  it('call: a retry that waits in the rate limiter queue exits 0', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await call(server.url, 'queued', 'GET', '/flaky/queued');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('{"ok":true,"path":"/flaky/queued"}');
    expect(result.code).toBe(0);
    expect(server.requests).toHaveLength(2);
    // The second attempt waited for the limiter's next permit, 1.5 s after the first.
    expect(result.elapsed).toBeGreaterThan(1_400);
  });

  it('call: a 429 with Retry-After is waited out and exits 0', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await call(server.url, 'up', 'GET', '/limited');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('{"ok":true,"path":"/limited"}');
    expect(result.code).toBe(0);
    expect(server.requests).toHaveLength(2);
    expect(result.elapsed).toBeGreaterThan(950);
  });

  it('call: a 4xx prints the body and one line, exit 4', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await call(server.url, 'up', 'GET', '/missing');
    expect(result.stdout).toBe('{"error":"nope"}');
    oneLine(result, '✗ HTTP 404 from up');
    expect(result.code).toBe(4);
    expect(server.requests).toHaveLength(1);
  });

  it('call: a 5xx that stays after every retry prints one line, exit 5', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await call(server.url, 'up', 'GET', '/down');
    expect(result.stdout).toBe('down');
    oneLine(result, '✗ HTTP 503 from up');
    expect(result.code).toBe(5);
    expect(server.requests).toHaveLength(4);
  });

  it('call: an unreachable upstream prints one line, exit 3', async () => {
    const result = await call('http://127.0.0.1:1', 'nowhere', 'GET', '/x');
    expect(result.stdout).toBe('');
    oneLine(
      result,
      '✗ ERR_RETRIES_EXHAUSTED: All 4 attempts failed; last: Connection refused (127.0.0.1:1)\n',
    );
    expect(result.code).toBe(3);
  });

  it('call: a timeout prints one line, exit 3', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await call(server.url, 'slow', 'GET', '/hang');
    expect(result.stdout).toBe('');
    oneLine(result, /^✗ ERR_TIMEOUT: /);
    expect(result.code).toBe(3);
    expect(server.requests).toHaveLength(1);
  });

  it('check: a valid configuration exits 0, a broken one 2 with each problem and its path', async () => {
    const good = await runCli(['check', '-c', configFile], { env: { BASE: 'http://127.0.0.1:1' } });
    expect(good.stderr).toBe('');
    expect(good.stdout).toBe(
      `✓ ${configFile} is valid: 4 upstream(s) (up, queued, slow, nowhere), listening on 127.0.0.1:0\n`,
    );
    expect(good.code).toBe(0);
    const bad = await runCli(['check', '-c', configFile], { env: {} });
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('upstreams.up.baseUrl: environment variable BASE is not set');
    expect(bad.code).toBe(2);
  });

  it('token --refresh (memory store): fetches from the sandbox OAuth2 server and shows facts, never the token; exit 0', async ({
    onTestFinished,
  }) => {
    const idp = await startOAuthServer();
    onTestFinished(() => idp.close());
    const config = writeTemp(
      'cli-token.yaml',
      `upstreams:\n  secure:\n    baseUrl: http://127.0.0.1:1\n    auth:\n      type: oauth2\n      tokenUrl: ${idp.tokenUrl}\n      clientId: demo\n      clientSecret: \${SECRET}\n  dead:\n    baseUrl: http://127.0.0.1:1\n    auth:\n      type: oauth2\n      tokenUrl: http://127.0.0.1:1/token\n      clientId: demo\n      clientSecret: \${SECRET}\n`,
    );
    const env = { SECRET: 'demo-secret' };
    const ok = await runCli(['token', 'secure', '--refresh', '-c', config], { env });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const shown = JSON.parse(ok.stdout) as { upstream: string; fetched: { state: string }[] };
    expect(shown.upstream).toBe('secure');
    expect(shown.fetched.map((t) => t.state)).toEqual(['valid']);
    const issued = idp.issuedSecrets();
    expect(issued).toHaveLength(1);
    for (const token of issued) expect(ok.stdout).not.toContain(token);
    expect(ok.stdout).not.toContain('demo-secret');

    const dead = await runCli(['token', 'dead', '--refresh', '-c', config], { env });
    expect(dead.stdout).toBe('');
    oneLine(dead, /^✗ ERR_/);
    expect(dead.code).toBe(3);
    expect(dead.stderr).not.toContain('demo-secret');
  });
});
