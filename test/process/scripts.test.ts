// Short-lived scripts and a cron-like program, each its own Node process on the compiled build, against a
// loopback server: they must finish every call through retries, Retry-After pauses and queues (a pending call
// keeps the process alive like a pending socket), print nothing unexpected on stderr, and exit promptly once
// the last call settles, with or without close().
import { describe, expect, it } from 'vitest';
import { expectPromptExit, runScript, SETTLED } from './run.js';
import { upstream } from './upstream.js';

const settled = SETTLED;

describe.concurrent('scripts run as processes', { timeout: 90_000 }, () => {
  it('a top-level await through a 503 retry prints its answer and exits 0 promptly, without close()', async ({
    onTestFinished,
  }) => {
    const server = await upstream(onTestFinished);
    const result = await runScript(
      `import { createClient } from '$REQFORGE';
// A fixed 1 s backoff: long enough that nothing else (undici's own timers) happens to keep the process alive.
const api = createClient({ baseUrl: process.env.BASE, retry: { backoff: 'constant', baseDelay: 1000 } });
const body = await api.get('/flaky').json();
console.log(JSON.stringify(body));
${settled}`,
      { env: { BASE: server.url } },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('{"ok":true,"path":"/flaky"}\n');
    expect(result.code, `signal ${result.signal}, ran ${result.elapsed} ms, stderr ${result.stderr}`).toBe(0);
    expect(server.requests.map((r) => r.url)).toEqual(['/flaky', '/flaky']);
    expectPromptExit(result);
  });

  it('a .then() chain through a retry without a timeout runs to its end', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await runScript(
      `import { createClient, retry } from '$REQFORGE';
const api = createClient({ baseUrl: process.env.BASE, policies: [retry({ backoff: 'constant', baseDelay: 1000 })] });
api.get('/flaky').json().then((body) => {
  console.log('got', body.ok);
  return api.get('/flaky-2').json();
}).then((body) => {
  console.log('then', body.ok);
  ${settled}
});`,
      { env: { BASE: server.url } },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('got true\nthen true\n');
    expect(result.code, `signal ${result.signal}, ran ${result.elapsed} ms, stderr ${result.stderr}`).toBe(0);
    expect(server.requests).toHaveLength(4);
    expectPromptExit(result);
  });

  it('waits out a 429 Retry-After pause', async ({ onTestFinished }) => {
    const server = await upstream(onTestFinished);
    const result = await runScript(
      `import { createClient } from '$REQFORGE';
const api = createClient({ baseUrl: process.env.BASE });
const started = Date.now();
const body = await api.get('/limited').json();
console.log(body.ok, Date.now() - started >= 950);
await api.close();
${settled}`,
      { env: { BASE: server.url } },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('true true\n');
    expect(result.code, `signal ${result.signal}, ran ${result.elapsed} ms, stderr ${result.stderr}`).toBe(0);
    expect(server.requests).toHaveLength(2);
    expectPromptExit(result);
  });

  it('30 calls queued in a rate limiter without a timeout all complete, with no warning', async ({
    onTestFinished,
  }) => {
    const server = await upstream(onTestFinished);
    const result = await runScript(
      `import { createClient, rateLimit } from '$REQFORGE';
const api = createClient({ baseUrl: process.env.BASE, policies: [rateLimit({ limit: 50, burst: 1 })] });
const bodies = await Promise.all(Array.from({ length: 30 }, (_, i) => api.get('/item/' + i).json()));
console.log(bodies.filter((b) => b.ok).length);
${settled}`,
      { env: { BASE: server.url } },
    );
    // Defect 4: no MaxListenersExceededWarning (nor anything else) on stderr.
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('30\n');
    expect(result.code, `signal ${result.signal}, ran ${result.elapsed} ms, stderr ${result.stderr}`).toBe(0);
    expect(server.requests).toHaveLength(30);
    expectPromptExit(result);
  });

  it('30 calls queued in a bulkhead behind a call waiting out a retry all complete, with no warning', async ({
    onTestFinished,
  }) => {
    const server = await upstream(onTestFinished);
    const result = await runScript(
      `import { bulkhead, createClient, retry } from '$REQFORGE';
const api = createClient({
  baseUrl: process.env.BASE,
  policies: [bulkhead({ maxConcurrent: 1, queueSize: 50 }), retry({ backoff: 'constant', baseDelay: 1000 })],
});
const first = api.get('/flaky').json();
const rest = Array.from({ length: 30 }, (_, i) => api.get('/item/' + i).json());
const bodies = await Promise.all([first, ...rest]);
console.log(bodies.filter((b) => b.ok).length);
${settled}`,
      { env: { BASE: server.url } },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('31\n');
    expect(result.code, `signal ${result.signal}, ran ${result.elapsed} ms, stderr ${result.stderr}`).toBe(0);
    expect(server.requests).toHaveLength(32);
    expectPromptExit(result);
  });

  it('a cron-like program runs its jobs in sequence through retries, pauses and queues, closes and exits', async ({
    onTestFinished,
  }) => {
    const server = await upstream(onTestFinished);
    const result = await runScript(
      `import { createClient } from '$REQFORGE';
const api = createClient({
  baseUrl: process.env.BASE,
  rateLimit: { limit: 4, window: 1000, burst: 1 },
  bulkhead: { maxConcurrent: 1, queueSize: 10 },
});
for (const job of ['/flaky/a', '/limited/b', '/plain/c']) {
  const pair = await Promise.all([api.get(job).json(), api.get(job + '/again').json()]);
  console.log(job, pair.map((b) => b.ok).join(','));
}
try {
  await api.get('/missing');
} catch (error) {
  console.log('missing', error.status);
}
await api.close();
${settled}`,
      { env: { BASE: server.url } },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('/flaky/a true,true\n/limited/b true,true\n/plain/c true,true\nmissing 404\n');
    expect(result.code, `signal ${result.signal}, ran ${result.elapsed} ms, stderr ${result.stderr}`).toBe(0);
    // 6 calls, each of the four /flaky and /limited ones answered 503 or 429 once, and the 404.
    expect(server.requests).toHaveLength(11);
    expectPromptExit(result);
  });

  it('a script using OAuth2 tokens (refresh-ahead scheduled) exits promptly, with and without close()', async ({
    onTestFinished,
  }) => {
    const server = await upstream(onTestFinished);
    const script = (
      close: boolean,
    ) => `import { clientCredentials, createClient, Secret, standardPolicies, TokenManager, tokenAuth } from '$REQFORGE';
import { startOAuthServer } from '$BUILDsandbox/oauth.js';
const idp = await startOAuthServer();
const tokens = new TokenManager({
  provider: clientCredentials({ tokenUrl: idp.tokenUrl, clientId: 'demo', clientSecret: new Secret('demo-secret') }),
});
const api = createClient({ baseUrl: process.env.BASE, policies: standardPolicies({ auth: tokenAuth(tokens) }) });
const response = await api.get('/flaky/${close}');
console.log(response.status, (await response.json()).ok);
await idp.close();
${close ? 'await tokens.close();\nawait api.close();' : ''}
${settled}`;
    const [closed, open] = await Promise.all([
      runScript(script(true), { env: { BASE: server.url } }),
      runScript(script(false), { env: { BASE: server.url } }),
    ]);
    for (const result of [closed, open]) {
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('200 true\n');
      expect(result.code, `signal ${result.signal}, ran ${result.elapsed} ms, stderr ${result.stderr}`).toBe(
        0,
      );
      expectPromptExit(result);
    }
    // Each script: a 503 retried once, with a token on both attempts.
    expect(server.requests.filter((r) => r.headers.authorization?.startsWith('Bearer '))).toHaveLength(4);
  });
});
