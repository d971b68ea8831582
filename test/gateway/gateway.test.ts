import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Rig, raw, startRig } from './helpers.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

async function call(url: string, options: Parameters<typeof request>[1] = {}) {
  const res = await request(url, options);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('gateway forwarding', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({}, { headers: { 'x-team': 'pets-team' } });
  });
  afterAll(() => rig.close());

  it('forwards path and query to the upstream and generates a request id', async () => {
    const res = await call(`${rig.gateway.url}/pets/pets?limit=1&tag=dog`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual([{ id: 1, name: 'Rex', tag: 'dog' }]);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('accepts, echoes and forwards a request id; sets X-Forwarded-*; drops hop-by-hop headers', async () => {
    const res = await call(`${rig.gateway.url}/pets/headers?x=1`, {
      headers: { 'x-request-id': 'req-123', 'x-keep': 'yes' },
    });
    expect(res.headers['x-request-id']).toBe('req-123');
    const seen = res.json();
    expect(seen.url).toBe('/api/headers?x=1');
    expect(seen.headers['x-request-id']).toBe('req-123');
    expect(seen.headers['x-keep']).toBe('yes');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(rig.gateway.url).host);
    expect(seen.headers['x-team']).toBe('pets-team');
    expect(seen.headers.host).toBe(new URL(rig.sandbox.url).host);
  });

  it('drops hop-by-hop headers, including those named in Connection', async () => {
    const answer = await raw(
      rig.gateway.url,
      'GET /pets/headers HTTP/1.1\r\nHost: x\r\nConnection: close, x-hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic abc\r\nX-Keep: 1\r\n\r\n',
    );
    const seen = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(seen.headers['x-keep']).toBe('1');
    for (const h of ['x-hop', 'keep-alive', 'te', 'proxy-authorization'])
      expect(seen.headers[h]).toBeUndefined();
  });

  it('a caller who leaves mid-call stops the upstream call at once', async () => {
    const upstream = rig.gateway.upstreams.get('pets');
    const socket = connect(Number(new URL(rig.gateway.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('GET /pets/pets?fault=hang HTTP/1.1\r\nHost: x\r\n\r\n');
    const waitFor = async (done: () => boolean) => {
      for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
      return done();
    };
    expect(await waitFor(() => upstream?.status().inFlight === 1)).toBe(true);
    socket.destroy();
    // The upstream call would otherwise hang until its 10 s attempt timeout.
    expect(await waitFor(() => upstream?.status().inFlight === 0)).toBe(true);
  });

  it('echoes the request id on problem answers and operations endpoints too', async () => {
    const missing = await call(`${rig.gateway.url}/nope/x`, { headers: { 'x-request-id': 'rid-404' } });
    expect(missing.status).toBe(404);
    expect(missing.headers['x-request-id']).toBe('rid-404');
    expect(missing.json().requestId ?? missing.json().request_id ?? missing.text).toContain('rid-404');
    const health = await call(`${rig.gateway.url}/health`, { headers: { 'x-request-id': 'rid-health' } });
    expect(health.headers['x-request-id']).toBe('rid-health');
  });

  it('replaces an unsafe request id', async () => {
    const res = await call(`${rig.gateway.url}/pets/pets`, {
      headers: { 'x-request-id': 'bad id <script>' },
    });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('passes upstream statuses and problem documents through', async () => {
    const res = await call(`${rig.gateway.url}/pets/pets/999`);
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json().title).toBe('Pet not found');
  });

  it('answers an unknown upstream with a 404 problem', async () => {
    const res = await call(`${rig.gateway.url}/nope/x?token=abc`, { headers: { 'x-request-id': 'r-1' } });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.json()).toEqual({
      type: 'urn:reqforge:problem:unknown-upstream',
      title: 'Unknown upstream',
      status: 404,
      detail: 'No upstream is configured under "/nope"',
      instance: '/nope/x',
      requestId: 'r-1',
    });
  });

  it('refuses to act as an open proxy', async () => {
    const sandbox = new URL(rig.sandbox.url).host;
    const attempts = [
      `GET http://${sandbox}/api/pets HTTP/1.1\r\nHost: ${sandbox}\r\nConnection: close\r\n\r\n`,
      `GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n`,
      `CONNECT ${sandbox} HTTP/1.1\r\nHost: ${sandbox}\r\nConnection: close\r\n\r\n`,
      'GET /pets/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /pets/%2e%2e/%2E%2E/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /pets/..%2Fadmin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /pets/a%2fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /pets/a%5cb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /pets/%252e%252e/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET //example.com/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ];
    const before = rig.sandbox.stats().requests;
    for (const text of attempts) {
      const answer = await raw(rig.gateway.url, text);
      expect(answer, text).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect(rig.sandbox.stats().requests).toBe(before);
  });

  it('routes by path only: a forged Host header cannot pick the target', async () => {
    const answer = await raw(
      rig.gateway.url,
      'GET /pets/headers HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain(`"host":"${new URL(rig.sandbox.url).host}"`);
    const other = await raw(
      rig.gateway.url,
      'GET /evil.example/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
    );
    expect(other).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('maps an unreachable upstream to 502 and a slow one to 504', async () => {
    const slow = await call(`${rig.gateway.url}/pets/slow?ms=150`);
    expect(slow.status).toBe(200);
    const r = await startRig({}, { timeout: { attempt: '100ms', total: '1s' }, retry: false });
    try {
      const timedOut = await call(`${r.gateway.url}/pets/slow?ms=1000`);
      expect(timedOut.status).toBe(504);
      expect(timedOut.json()).toMatchObject({ type: 'urn:reqforge:problem:upstream-timeout', status: 504 });
      await r.sandbox.close();
      const down = await call(`${r.gateway.url}/pets/pets`);
      expect(down.status).toBe(502);
      expect(down.json().type).toBe('urn:reqforge:problem:upstream-unreachable');
      expect(down.json().detail).not.toContain('127.0.0.1');
    } finally {
      await r.gateway.close({ grace: 0 });
    }
  }, 10_000);
});

describe('gateway streaming', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({ limits: { bodySize: '100mb' } });
  });
  afterAll(() => rig.close());

  it('streams a 50 MB upload and its echo both ways without buffering', async () => {
    const total = 50 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    let sentWhenFirstByteCameBack = -1;
    async function* body() {
      while (sent < total) {
        sent += chunk.length;
        yield chunk;
      }
    }
    const res = await request(`${rig.gateway.url}/pets/echo`, {
      method: 'POST',
      body: Readable.from(body()),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.statusCode).toBe(200);
    let received = 0;
    for await (const part of res.body) {
      if (sentWhenFirstByteCameBack === -1) sentWhenFirstByteCameBack = sent;
      received += (part as Buffer).length;
    }
    expect(received).toBe(total);
    expect(sentWhenFirstByteCameBack).toBeGreaterThan(0);
    expect(sentWhenFirstByteCameBack).toBeLessThan(total / 2);
  });

  it('streams a 50 MB download', async () => {
    const n = 50 * 1024 * 1024;
    const before = process.memoryUsage().rss;
    let peak = before;
    const res = await request(`${rig.gateway.url}/pets/bytes?n=${n}`);
    let received = 0;
    for await (const part of res.body) {
      received += (part as Buffer).length;
      if ((received & 0xfffff) < 65536) peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(received).toBe(n);
    // The body is never held whole: resident memory grows far less than the 50 MB that went through.
    expect(peak - before).toBeLessThan(n / 2);
  });
});

describe('gateway inbound protection', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(
      {
        limits: { bodySize: '1kb' },
        inbound: { apiKeys: [{ name: 'ci', sha256: sha('s3cret-key') }], protectOperations: true },
      },
      { methods: ['GET', 'POST'], paths: ['/pets', '/pets/*', '/headers', '/echo'] },
    );
  });
  afterAll(() => rig.close());
  const key = { 'x-api-key': 's3cret-key' };

  it('rejects missing and wrong API keys with 401 problems', async () => {
    const missing = await call(`${rig.gateway.url}/pets/pets`);
    expect(missing.status).toBe(401);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(missing.json()).toMatchObject({ status: 401, title: 'API key required' });
    expect((await call(`${rig.gateway.url}/pets/pets`, { headers: { 'x-api-key': 'nope' } })).status).toBe(
      401,
    );
    expect((await call(`${rig.gateway.url}/metrics`)).status).toBe(401);
    expect((await call(`${rig.gateway.url}/health`)).status).toBe(200);
  });

  it('accepts a valid key and does not forward it', async () => {
    const res = await call(`${rig.gateway.url}/pets/headers`, { headers: key });
    expect(res.status).toBe(200);
    expect(res.json().headers['x-api-key']).toBeUndefined();
    expect((await call(`${rig.gateway.url}/metrics`, { headers: key })).status).toBe(200);
  });

  it('limits methods and paths', async () => {
    const del = await call(`${rig.gateway.url}/pets/pets/1`, { method: 'DELETE', headers: key });
    expect(del.status).toBe(405);
    expect(del.headers.allow).toBe('GET, POST');
    expect((await call(`${rig.gateway.url}/pets/bytes?n=1`, { headers: key })).status).toBe(403);
  });

  it('refuses bodies over the limit with 413, declared or streamed', async () => {
    const declared = await call(`${rig.gateway.url}/pets/pets`, {
      method: 'POST',
      headers: { ...key, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(2000) }),
    });
    expect(declared.status).toBe(413);
    expect(declared.json().type).toBe('urn:reqforge:problem:body-too-large');
    async function* chunks() {
      for (let i = 0; i < 4; i++) yield Buffer.alloc(512, 'b');
    }
    const streamed = await call(`${rig.gateway.url}/pets/pets`, {
      method: 'POST',
      headers: key,
      body: Readable.from(chunks()),
    });
    expect(streamed.status).toBe(413);
  });
});

describe('gateway limits, auth injection and policies', () => {
  it('applies an inbound rate limit with Retry-After', async () => {
    const rig = await startRig({ inbound: { rateLimit: { limit: 2, window: '10s', by: 'global' } } });
    try {
      const statuses: number[] = [];
      let retryAfter: unknown;
      for (let i = 0; i < 3; i++) {
        const res = await call(`${rig.gateway.url}/pets/pets`);
        statuses.push(res.status);
        retryAfter ??= res.headers['retry-after'];
      }
      expect(statuses).toEqual([200, 200, 429]);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    } finally {
      await rig.close();
    }
  });

  it('injects a static bearer token and never shows it on /status', async () => {
    const rig = await startRig({}, { auth: { type: 'bearer', token: 'very-secret-token-123' } });
    try {
      const seen = (await call(`${rig.gateway.url}/pets/headers`)).json();
      expect(seen.headers.authorization).toBe('Bearer very-secret-token-123');
      const page = await call(`${rig.gateway.url}/status`);
      expect(page.text).not.toContain('very-secret-token-123');
      const json = await call(`${rig.gateway.url}/status.json`);
      expect(json.text).not.toContain('very-secret-token-123');
    } finally {
      await rig.close();
    }
  });

  it('retries idempotent calls through the standard policies', async () => {
    const rig = await startRig({}, { retry: { retries: 3, baseDelay: '1ms', maxDelay: '5ms' } });
    try {
      const res = await call(`${rig.gateway.url}/pets/pets?fault=503&failTimes=2&faultKey=retry-1`);
      expect(res.status).toBe(200);
      const metrics = await call(`${rig.gateway.url}/metrics/http_client_retries`);
      expect(metrics.text).toMatch(/http_client_retries_total\{[^}]*\} 2/);
    } finally {
      await rig.close();
    }
  });

  it('maps a rate-limited upstream call to 429 with Retry-After', async () => {
    const rig = await startRig({}, { rateLimit: { limit: 1, window: '10s', burst: 1, strategy: 'raise' } });
    try {
      expect((await call(`${rig.gateway.url}/pets/pets`)).status).toBe(200);
      const limited = await call(`${rig.gateway.url}/pets/pets`);
      expect(limited.status).toBe(429);
      expect(limited.json().type).toBe('urn:reqforge:problem:rate-limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await rig.close();
    }
  });

  it('maps an open circuit to 503', async () => {
    const rig = await startRig({}, { circuitBreaker: { consecutiveFailures: 2, openDuration: '30s' } });
    try {
      await call(`${rig.gateway.url}/pets/pets?fault=500`);
      await call(`${rig.gateway.url}/pets/pets?fault=500`);
      const open = await call(`${rig.gateway.url}/pets/pets`);
      expect(open.status).toBe(503);
      expect(open.json().type).toBe('urn:reqforge:problem:circuit-open');
      const status = (await call(`${rig.gateway.url}/status.json`)).json();
      expect(status.upstreams[0].state.circuitBreaker.state).toBe('open');
    } finally {
      await rig.close();
    }
  });
});

describe('gateway operations endpoints', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(
      { metrics: { defaultMetrics: true } },
      {},
      { status: () => ({ note: '<b>hi</b>' }) },
    );
    await call(`${rig.gateway.url}/pets/pets`);
    await call(`${rig.gateway.url}/pets/pets/999`);
  });
  afterAll(() => rig.close());

  it('serves /health and /ready', async () => {
    expect((await call(`${rig.gateway.url}/health`)).json()).toEqual({ status: 'ok' });
    expect((await call(`${rig.gateway.url}/ready`)).status).toBe(200);
  });

  it('serves Prometheus metrics, whole and by prefix', async () => {
    const all = await call(`${rig.gateway.url}/metrics`);
    expect(all.headers['content-type']).toContain('text/plain');
    const { hostname, port } = new URL(rig.sandbox.url);
    expect(all.text).toContain(
      `http_client_request_duration_seconds_count{http_request_method="GET",server_address="${hostname}",server_port="${port}",http_response_status_code="200",error_type="",upstream="pets"} 1`,
    );
    expect(all.text).toContain('http_response_status_code="404",error_type="404"');
    expect(all.text).toMatch(
      /http_server_request_duration_seconds_count\{http_request_method="GET",http_route="pets",http_response_status_code="200"\} \d/,
    );
    expect(all.text).toContain('process_resident_memory_bytes');
    expect(all.text).toContain('nodejs_eventloop_lag_seconds');
    expect(all.text).not.toContain('/pets/999');
    const some = await call(`${rig.gateway.url}/metrics/http_server`);
    expect(some.text).toContain('http_server_request_duration_seconds');
    expect(some.text).not.toContain('http_client_request_duration_seconds');
  });

  it('serves an escaped, live-updating status page', async () => {
    const page = await call(`${rig.gateway.url}/status`);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(page.text).toContain(`<script nonce="${nonce}">`);
    expect(page.text).toContain('data-refresh="5000"');
    expect(page.text).not.toContain('http-equiv="refresh"');
    // The document is embedded as JSON with `<` escaped: the provider's markup is text, never markup.
    expect(page.text).toContain('\\u003cb>hi\\u003c/b>');
    expect(page.text).not.toContain('<b>hi</b>');
    const json = (await call(`${rig.gateway.url}/status.json`)).json();
    expect(json.upstreams[0]).toMatchObject({ name: 'pets', requests: 2, errors: 1 });
    expect(json.upstreams[0].live.totals).toMatchObject({ requests: 2, ok: 1, clientError: 1 });
  });
});

describe('gateway readiness and shutdown', () => {
  it('reports not ready when the injected check fails', async () => {
    let ok = false;
    const rig = await startRig({}, {}, { ready: () => ok });
    try {
      expect((await call(`${rig.gateway.url}/ready`)).status).toBe(503);
      ok = true;
      expect((await call(`${rig.gateway.url}/ready`)).status).toBe(200);
    } finally {
      await rig.close();
    }
  });

  it('drains in-flight requests on close', async () => {
    const rig = await startRig();
    try {
      const pending = call(`${rig.gateway.url}/pets/slow?ms=300`);
      await new Promise((r) => setTimeout(r, 50));
      expect(rig.gateway.inFlight).toBe(1);
      const closed = rig.gateway.close({ grace: 5000 });
      const res = await pending;
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ waited: 300 });
      await closed;
      await expect(request(`${rig.gateway.url}/health`)).rejects.toThrow();
    } finally {
      await rig.close();
    }
  });
});

describe('gateway inbound timeouts', () => {
  it('closes a connection whose headers never finish (slowloris) with 408', async () => {
    const rig = await startRig({ limits: { headersTimeout: '200ms', requestTimeout: '300ms' } });
    try {
      const { hostname, port } = new URL(rig.gateway.url);
      const { connect } = await import('node:net');
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(Number(port), hostname, () =>
          socket.write('GET /pets/pets HTTP/1.1\r\nHost: x\r\n'),
        );
        let out = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => {
          out += d;
        });
        socket.on('close', () => resolve(out));
        socket.setTimeout(3000, () => socket.destroy());
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await rig.close();
    }
  });
});
