// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configs under test use ${ENV} interpolation.
// Issue 15, "Logs worth reading": `reqforge gateway` as its own process, logging through pino. Its stdout holds JSON
// lines only; the `--log-level` flag wins over `logging.level`; one line per breaker transition (not one per
// refused request); the access log's fields; debug lines that show headers and a buffered body with every secret
// (header, query parameter, JSON field) redacted; one line per token refresh failure.

import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess } from '../helpers/gateway-process.js';
import { freePort, haveRedisServer, killed, startRedis } from '../helpers/redis-server.js';
import { sendJson, startServer, type TestServer } from '../helpers/server.js';
import { IN_CI, runId } from '../stores/services.js';

const SECRET_HEADER = 'hdr-secret-7f3a9c';
const SECRET_QUERY = 'qry-secret-2b8e41';
const SECRET_BODY = 'body-secret-c05d6e';
const SECRET_COOKIE = 'cookie-secret-91aa0f';
const SECRET_SET_COOKIE = 'setcookie-secret-44d2b7';

let upstream: TestServer;
let tokenServer: TestServer;
beforeAll(async () => {
  let flaky = 0;
  upstream = await startServer((req, res) => {
    if (req.url?.startsWith('/api/fail')) return sendJson(res, 500, { error: 'boom' });
    if (req.url?.startsWith('/api/flaky') && flaky++ === 0) return sendJson(res, 503, { error: 'once' });
    sendJson(res, 200, { ok: true }, { 'x-upstream': 'yes', 'set-cookie': `sid=${SECRET_SET_COOKIE}` });
  });
  tokenServer = await startServer((_req, res) => sendJson(res, 500, { error: 'server_error' }));
});
afterAll(async () => {
  await upstream.close();
  await tokenServer.close();
});

const msgs = (lines: Record<string, unknown>[], msg: string) => lines.filter((l) => l.msg === msg);

describe('reqforge gateway logs (a real process)', () => {
  it('writes JSON only, one line per breaker transition, the access log and redacted debug lines', async () => {
    const gateway = await startGatewayProcess(
      [
        'metrics:',
        '  defaultMetrics: false',
        'logging:',
        '  level: warn',
        '  access: true',
        'upstreams:',
        '  pets:',
        `    baseUrl: ${upstream.url}/api`,
        '    retry: false',
        '    circuitBreaker:',
        '      consecutiveFailures: 2',
        '      openDuration: 300ms',
        '      halfOpenProbes: 1',
        // Retries on: its bodies are buffered (so a retry can send them again), and those are what debug shows.
        '  echo:',
        `    baseUrl: ${upstream.url}/api`,
        '    retry:',
        '      retries: 1',
        '      baseDelay: 1ms',
        '    circuitBreaker: false',
        '',
      ].join('\n'),
      ['--log-level', 'debug'],
    );
    const send = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${gateway.url}${path}`, init);
      await res.arrayBuffer();
      return res.status;
    };
    expect(
      await send(`/pets/ok?api_key=${SECRET_QUERY}&page=2`, {
        headers: {
          authorization: `Bearer ${SECRET_HEADER}`,
          cookie: `session=${SECRET_COOKIE}`,
          'x-shown': 'visible-value',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
      }),
    ).toBe(200);
    expect(
      await send('/echo/ok', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'rex', password: SECRET_BODY }),
      }),
    ).toBe(200);
    // Two failures open the breaker; the third is refused without reaching the upstream.
    expect(await send('/pets/fail')).toBe(500);
    expect(await send('/pets/fail')).toBe(500);
    expect(await send('/pets/fail')).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 400));
    // After openDuration, one successful probe closes it again.
    expect(await send('/pets/ok')).toBe(200);
    expect(await send('/echo/flaky')).toBe(200);
    expect(await send('/metrics')).toBe(200);
    const { code, stdout, stderr } = await gateway.stop();
    expect(code).toBe(0);
    expect(stderr).toContain('listening on');

    // JSON only: every stdout line parses, and each is a pino line.
    const raw = stdout.split('\n').filter((l) => l.length > 0);
    const lines = raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of lines) {
      expect(line).toMatchObject({
        level: expect.any(Number),
        time: expect.any(Number),
        pid: gateway.child.pid,
      });
      expect(line.service).toBe('reqforge-gateway');
    }
    // No secret anywhere, at debug level.
    for (const secret of [SECRET_HEADER, SECRET_QUERY, SECRET_BODY, SECRET_COOKIE, SECRET_SET_COOKIE]) {
      expect(stdout).not.toContain(secret);
    }

    // One line per breaker transition, in order; the refused request is no warning.
    const transitions = msgs(lines, 'circuit breaker changed state');
    expect(transitions.map((l) => [l.level, l.upstream, l.from, l.to])).toEqual([
      [40, 'pets', 'closed', 'open'],
      [40, 'pets', 'open', 'half-open'],
      [40, 'pets', 'half-open', 'closed'],
    ]);
    const failed = msgs(lines, 'upstream call failed');
    expect(failed.map((l) => [l.level, (l.err as { code?: string }).code])).toEqual([
      [20, 'ERR_CIRCUIT_OPEN'],
    ]);
    expect(lines.filter((l) => (l.level as number) >= 40)).toHaveLength(3);

    // The access log: one line per proxied request (not /metrics), with the redacted path.
    const access = msgs(lines, 'request');
    expect(access.map((l) => [l.method, l.upstream, l.status, l.retries])).toEqual([
      ['GET', 'pets', 200, 0],
      ['PUT', 'echo', 200, 0],
      ['GET', 'pets', 500, 0],
      ['GET', 'pets', 500, 0],
      ['GET', 'pets', 503, 0],
      ['GET', 'pets', 200, 0],
      ['GET', 'echo', 200, 1],
    ]);
    const first = access[0] as Record<string, unknown>;
    expect(first.path).toBe('/pets/ok?api_key=[REDACTED]&page=2');
    expect(first.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(first.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.level).toBe(30);
    expect(first.durationMs).toBeGreaterThan(0);
    expect(first.bytes).toBeGreaterThan(11);

    // Debug: the headers sent upstream and received back, the buffered body, secrets redacted.
    // Seven went into the upstreams' clients; the breaker refused one of them, so six answers came back.
    const requests = msgs(lines, 'upstream request');
    expect(requests).toHaveLength(7);
    const get = requests[0] as Record<string, Record<string, string>>;
    expect(get.path).toBe('/ok?api_key=[REDACTED]&page=2');
    expect(get.requestHeaders).toMatchObject({
      authorization: '[REDACTED]',
      cookie: '[REDACTED]',
      'x-shown': 'visible-value',
    });
    const put = requests[1] as Record<string, unknown>;
    expect(put.body).toBe('{"name":"rex","password":"[REDACTED]"}');
    expect(put.bodyBytes).toBe(JSON.stringify({ name: 'rex', password: SECRET_BODY }).length);
    const responses = msgs(lines, 'upstream response');
    expect(responses).toHaveLength(6);
    expect(requests[2]).toMatchObject({ method: 'GET', path: '/fail' });
    expect(Object.keys(requests[2] as object).filter((k) => k.startsWith('body'))).toEqual([]);
    expect((responses[0] as { responseHeaders: Record<string, string> }).responseHeaders).toMatchObject({
      'x-upstream': 'yes',
      'set-cookie': '[REDACTED]',
      'content-type': 'application/json',
    });
  }, 90_000);

  it('stays quiet at the configured level: no debug or access line, flag absent', async () => {
    const gateway = await startGatewayProcess(
      [
        'metrics:',
        '  enabled: false',
        'logging:',
        '  level: warn',
        'upstreams:',
        '  pets:',
        `    baseUrl: ${upstream.url}/api`,
        '',
      ].join('\n'),
    );
    const res = await fetch(`${gateway.url}/pets/ok?api_key=${SECRET_QUERY}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const { code, stdout } = await gateway.stop();
    expect(code).toBe(0);
    expect(stdout).toBe('');
  }, 60_000);

  it('writes one line per token refresh failure', async () => {
    const gateway = await startGatewayProcess(
      [
        'metrics:',
        '  defaultMetrics: false',
        'upstreams:',
        '  billing:',
        `    baseUrl: ${upstream.url}/api`,
        '    retry: false',
        '    circuitBreaker: false',
        '    auth:',
        '      type: oauth2',
        `      tokenUrl: ${tokenServer.url}/token`,
        '      clientId: gw',
        '      clientSecret: ${CLIENT_SECRET}',
        '',
      ].join('\n'),
      [],
      { CLIENT_SECRET: 'client-secret-5e1f00' },
    );
    const before = tokenServer.requests.length;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gateway.url}/billing/ok`);
      await res.arrayBuffer();
      expect(res.status).toBe(502);
    }
    const hits = tokenServer.requests.length - before;
    const { stdout } = await gateway.stop();
    expect(stdout).not.toContain('client-secret-5e1f00');
    const lines = stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failures = msgs(lines, 'token refresh failed');
    expect(failures).toHaveLength(3);
    expect(hits).toBe(3);
    expect(failures.map((l) => [l.level, l.upstream, l.failures])).toEqual([
      [50, 'billing', 1],
      [50, 'billing', 2],
      [50, 'billing', 3],
    ]);
  }, 60_000);
});

describe.skipIf(!haveRedisServer && !IN_CI)(
  `reqforge gateway logs a token store outage${haveRedisServer ? '' : ' [skipped: redis-server is not installed; CI=true fails instead]'}`,
  () => {
    const children: ChildProcess[] = [];
    afterAll(async () => {
      await Promise.all(children.map(killed));
    });

    it('writes one line when the store goes down and one when it is back, whatever the traffic', async () => {
      const port = await freePort();
      children.push(await startRedis(port));
      const gateway = await startGatewayProcess(
        [
          'metrics:',
          '  defaultMetrics: false',
          'store:',
          '  type: redis',
          `  url: redis://127.0.0.1:${port}`,
          `  keyPrefix: "${runId('logs')}:"`,
          'upstreams:',
          '  pets:',
          `    baseUrl: ${upstream.url}/api`,
          '',
        ].join('\n'),
        [],
        { REQFORGE_TOKEN_KEY: Buffer.alloc(32, 7).toString('base64') },
      );
      try {
        await killed(children[0] as ChildProcess);
        await gateway.until((lines) => msgs(lines, 'token store down').length === 1);
        // Traffic and further probes during the outage add no line.
        for (let i = 0; i < 5; i++) await (await fetch(`${gateway.url}/pets/ok`)).arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        children.push(await startRedis(port));
        await gateway.until((lines) => msgs(lines, 'token store up').length === 1, 15_000);
        // The health probes are counted as store operations: failed ones during the outage, good ones around it.
        const ops = await (await fetch(`${gateway.url}/metrics/reqforge_store_operations_total`)).text();
        expect(ops).toMatch(
          /^reqforge_store_operations_total\{store="redis",operation="probe",outcome="ok"\} [1-9]/m,
        );
        expect(ops).toMatch(
          /^reqforge_store_operations_total\{store="redis",operation="probe",outcome="error"\} [1-9]/m,
        );
      } finally {
        const { stdout } = await gateway.stop();
        const lines = stdout
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const store = lines.filter((l) => String(l.msg).startsWith('token store'));
        expect(store.map((l) => [l.level, l.msg, l.store])).toEqual([
          [40, 'token store down', 'redis'],
          [30, 'token store up', 'redis'],
        ]);
        expect((store[1] as { downMs: number }).downMs).toBeGreaterThan(2_000);
      }
    }, 90_000);
  },
);
