import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenAuth } from '../../src/auth/policy.js';
import { createClient } from '../../src/client/client.js';
import { HttpResponse } from '../../src/core/response.js';
import type { Transport } from '../../src/core/types.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { metricsHandler } from '../../src/observability/metrics-handler.js';
import { readCgroup } from '../../src/observability/system-metrics.js';
import { rateLimit } from '../../src/policies/rate-limit.js';
import { startServer, type TestServer } from '../helpers/server.js';

// Answers every request at once with 200 (or 503 for paths under /fail), without a network.
const transport: Transport = {
  handle: async (request, ctx) =>
    new HttpResponse({
      status: request.path.startsWith('/fail') ? 503 : 200,
      headers: { 'content-type': 'application/json' },
      request,
      elapsed: 0,
      body: { text: () => Promise.resolve('{}') } as never,
      maxBodySize: ctx.maxBodySize,
    }),
  close: async () => {},
};

/** Series lines (not comments) of a metric family in the exposition text. */
function seriesOf(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

let slow: TestServer;
beforeAll(async () => {
  slow = await startServer((_req, res) => {
    setTimeout(() => res.end('{}'), 30);
  });
});
afterAll(() => slow.close());

describe('metric series', () => {
  it('keeps label values bounded: 10 000 distinct paths make no new series', async () => {
    const metrics = createMetrics();
    const api = createClient({ baseUrl: 'http://api.example.com', name: 'billing', transport, retry: false });
    metrics.instrument(api);
    await api.get('/users/{id}', { params: { id: 0 } });
    const before = (await metrics.text()).split('\n').length;
    for (let i = 1; i <= 10_000; i++) await api.get(`/users/${i}?page=${i}`);
    const text = await metrics.text();
    expect(text.split('\n').length).toBe(before);
    expect(seriesOf(text, 'http_client_request_duration_seconds_count')).toEqual([
      'http_client_request_duration_seconds_count{http_request_method="GET",server_address="api.example.com",server_port="80",http_response_status_code="200",error_type="",upstream="billing"} 10001',
    ]);
    expect(text).not.toMatch(/users|page=/);
    await api.close();
  });

  it('reports the current rate limiter queue length, not every call ever queued', async () => {
    const metrics = createMetrics();
    const limiter = rateLimit({ limit: 1, window: 200, burst: 1, strategy: 'queue' });
    const api = createClient({ baseUrl: slow.url, name: 'slowapi', policies: [limiter] });
    metrics.instrument(api);
    metrics.trackLimiter('slowapi', limiter);
    const calls = [api.get('/a'), api.get('/b'), api.get('/c')];
    await new Promise((r) => setTimeout(r, 50));
    expect(seriesOf(await metrics.text(), 'reqforge_rate_limiter_queue_length')).toEqual([
      'reqforge_rate_limiter_queue_length{upstream="slowapi",key="slowapi"} 2',
    ]);
    await Promise.all(calls);
    const text = await metrics.text();
    expect(seriesOf(text, 'reqforge_rate_limiter_queue_length')).toEqual([
      'reqforge_rate_limiter_queue_length{upstream="slowapi",key="slowapi"} 0',
    ]);
    expect(limiter.stats().queued).toBe(2);
    await api.close();
  });

  it('counts token refresh runs, failures and durations per upstream, and bulkhead waits', async () => {
    const metrics = createMetrics();
    let fail = true;
    const auth = tokenAuth({
      id: 'svc',
      fetchToken: async () => {
        if (fail) throw new Error('idp down');
        return { accessToken: 'token-value-123', expiresIn: 3600 };
      },
    });
    const api = createClient({
      baseUrl: slow.url,
      name: 'payments',
      auth,
      retry: false,
      bulkhead: { maxConcurrent: 1, queueSize: 5 },
    });
    metrics.instrument(api);
    await expect(api.get('/x')).rejects.toThrow();
    fail = false;
    await Promise.all([api.get('/x'), api.get('/y')]);
    const text = await metrics.text();
    expect(seriesOf(text, 'reqforge_token_refresh_runs_total')).toEqual([
      'reqforge_token_refresh_runs_total{upstream="payments",trigger="call"} 2',
    ]);
    expect(seriesOf(text, 'reqforge_token_refresh_failures_total')).toEqual([
      'reqforge_token_refresh_failures_total{upstream="payments",trigger="call"} 1',
    ]);
    expect(seriesOf(text, 'reqforge_token_refresh_duration_seconds_count')).toEqual([
      'reqforge_token_refresh_duration_seconds_count{upstream="payments",trigger="call"} 2',
    ]);
    expect(text).toContain('reqforge_token_requests_total{upstream="payments",outcome="fetch"} 1');
    expect(text).toContain('reqforge_token_requests_total{upstream="payments",outcome="error"} 1');
    expect(seriesOf(text, 'reqforge_bulkhead_wait_seconds_count')).toEqual([
      'reqforge_bulkhead_wait_seconds_count{upstream="payments",outcome="queued"} 1',
    ]);
    expect(text).not.toContain('token-value-123');
    await api.close();
    await auth.manager.close();
  });

  it('exports host CPU and memory gauges and the cgroup v2 limits of a container', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cgroup-'));
    try {
      await writeFile(join(root, 'cgroup.controllers'), 'cpu memory');
      await writeFile(join(root, 'memory.max'), '536870912\n');
      await writeFile(join(root, 'memory.current'), '104857600\n');
      await writeFile(join(root, 'cpu.max'), '150000 100000\n');
      expect(readCgroup(root)).toEqual({ memoryLimit: 536870912, memoryUsage: 104857600, cpuLimit: 1.5 });
      const metrics = createMetrics({ system: { cgroupRoot: root } });
      const text = await metrics.text();
      expect(text).toContain('reqforge_cgroup_memory_limit_bytes 536870912');
      expect(text).toContain('reqforge_cgroup_memory_usage_bytes 104857600');
      expect(text).toContain('reqforge_cgroup_cpu_limit_cores 1.5');
      expect(text).toMatch(/system_memory_usage_bytes\{system_memory_state="used"\} \d+/);
      expect(text).toMatch(/system_memory_limit_bytes \d+/);
      expect(text).toMatch(/system_cpu_logical_count \d+/);
      // Unlimited: v2 says "max"; the gauge is then absent rather than a made-up number.
      await writeFile(join(root, 'memory.max'), 'max\n');
      await writeFile(join(root, 'cpu.max'), 'max 100000\n');
      expect(readCgroup(root)).toMatchObject({ memoryLimit: undefined, cpuLimit: undefined });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('serves the registry from your own HTTP server, whole and by prefix', async () => {
    const metrics = createMetrics();
    const api = createClient({ baseUrl: 'http://api.example.com', name: 'billing', transport, retry: false });
    metrics.instrument(api);
    await api.get('/x');
    const serve = metricsHandler(metrics);
    const server = createServer(async (req, res) => {
      if (await serve(req, res)) return;
      res.statusCode = 404;
      res.end('mine');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const base = `http://127.0.0.1:${port}`;
    const all = await fetch(`${base}/metrics`);
    expect(all.headers.get('content-type')).toContain('text/plain');
    expect(await all.text()).toContain('http_client_attempts_total{');
    const some = await (await fetch(`${base}/metrics/http_client_attempts`)).text();
    expect(some).toContain('http_client_attempts_total{');
    expect(some).not.toContain('http_client_request_duration');
    expect((await fetch(`${base}/other`)).status).toBe(404);
    server.close();
    await api.close();
  });
});
