import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { runWithContext } from '../../src/core/ambient.js';
import { EventHub } from '../../src/core/events.js';
import type { ClientEvents } from '../../src/core/types.js';
import { createJsonLogger, logClientEvents } from '../../src/observability/logging.js';
import { createMetrics, outcomeOf } from '../../src/observability/metrics.js';
import { type SandboxUpstream, startSandboxUpstream } from '../../src/sandbox/upstream.js';

let sandbox: SandboxUpstream;
beforeAll(async () => {
  sandbox = await startSandboxUpstream();
});
afterAll(() => sandbox.close());

function lines() {
  const out: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) out.push(JSON.parse(line));
      done();
    },
  });
  return { out, stream };
}

describe('metrics', () => {
  it('records the client duration histogram, attempts and errors with bounded labels', async () => {
    const metrics = createMetrics();
    const client = createClient({
      baseUrl: `${sandbox.url}/api`,
      name: 'pets',
      timeout: { total: 2000, attempt: 500 },
    });
    metrics.instrument(client);
    await client.get('/pets/{id}', { params: { id: 1 } });
    await client.get('/pets/{id}', { params: { id: 2 } });
    await expect(client.get('/pets/12345')).rejects.toThrow();
    const text = await metrics.registry.metrics();
    const { hostname, port } = new URL(sandbox.url);
    const server = `server_address="${hostname}",server_port="${port}"`;
    expect(text).toContain(
      `http_client_request_duration_seconds_count{http_request_method="GET",${server},http_response_status_code="200",error_type="",upstream="pets"} 2`,
    );
    expect(text).toContain('http_response_status_code="404",error_type="404",upstream="pets"} 1');
    expect(text).toContain(
      `http_client_attempts_total{http_request_method="GET",${server},upstream="pets"} 3`,
    );
    // No label carries the path parameter (values such as a duration sum may contain any digits).
    expect(text).not.toMatch(/\{[^}]*12345[^}]*\}/);
    expect(text).not.toContain('/pets');
    await client.close();
  });

  it('counts retries, breaker transitions and limiter decisions from policy events', async () => {
    const registry = new Registry();
    const metrics = createMetrics({ registry, prefix: 'app_' });
    const events = new EventHub<ClientEvents>();
    metrics.instrument({ events }, { upstream: 'billing' });
    const client = createClient({ baseUrl: `${sandbox.url}/api` });
    const request = client.buildRequest('GET', '/pets');
    const ctx = { tags: { service: 's' } } as unknown as ClientEvents['retry']['ctx'];
    events.emit('retry', { request, ctx, attempt: 1, delay: 150, reason: 'status 503' });
    events.emit('breaker', { key: 'api.example.com', from: 'closed', to: 'open' });
    events.emit('rateLimit', { key: 'api.example.com', outcome: 'queued', wait: 40 });
    events.emit('rateLimit', { key: 'api.example.com', outcome: 'raised', wait: 0 });
    metrics.trackLimiter('shared', { snapshot: () => ({ queueLength: 4 }) });
    const text = await metrics.text('app_');
    expect(text).toContain(
      `app_http_client_retries_total{server_address="${request.host.split(':')[0]}",server_port="${request.host.split(':')[1]}",upstream="s",reason="status 503"} 1`,
    );
    expect(text).toContain('app_reqforge_circuit_breaker_state{upstream="billing",key="api.example.com"} 2');
    expect(text).toContain(
      'app_reqforge_circuit_breaker_transitions_total{upstream="billing",key="api.example.com",from="closed",to="open"} 1',
    );
    expect(text).toContain(
      'app_reqforge_rate_limiter_decisions_total{upstream="billing",key="api.example.com",outcome="queued"} 1',
    );
    expect(text).toContain('app_reqforge_rate_limiter_queue_length{upstream="shared",key="shared"} 4');
    expect(text).toContain(
      'app_reqforge_rate_limiter_wait_seconds_count{upstream="billing",key="api.example.com"} 1',
    );
    const only = await metrics.text('app_reqforge_circuit');
    expect(only).toContain('circuit_breaker_state');
    expect(only).not.toContain('http_client');
    await client.close();
  });

  it('bounds label values', async () => {
    const metrics = createMetrics({ maxLabelValues: 2 });
    const events = new EventHub<ClientEvents>();
    metrics.instrument({ events }, { upstream: 'billing' });
    for (const key of ['a', 'b', 'c', 'd']) events.emit('breaker', { key, from: 'closed', to: 'open' });
    const text = await metrics.text();
    expect(text).toContain('key="other"');
    expect(text).not.toContain('key="c"');
  });

  it('names outcomes from error codes', () => {
    expect(outcomeOf(undefined)).toBe('success');
    expect(outcomeOf({ code: 'ERR_TIMEOUT' } as never)).toBe('timeout');
    expect(outcomeOf({ code: 'ERR_CONNECTION_REFUSED' } as never)).toBe('network_error');
    expect(outcomeOf({ code: 'ERR_CIRCUIT_OPEN' } as never)).toBe('circuit_open');
  });
});

describe('logging', () => {
  it('logs failures as JSON lines with the request id and a redacted request', async () => {
    const { out, stream } = lines();
    const client = createClient({
      baseUrl: `${sandbox.url}/api`,
      headers: { authorization: 'Bearer top-secret-1' },
    });
    logClientEvents(client, createJsonLogger({ stream, level: 'debug', base: { app: 'test' } }));
    await runWithContext({ requestId: 'rid-9' }, async () => {
      await client.get('/pets', { query: { token: 'query-secret' } });
      await expect(client.get('/pets/999')).rejects.toThrow();
    });
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({
      level: 20,
      app: 'test',
      requestId: 'rid-9',
      status: 200,
      msg: 'request completed',
    });
    expect(out[1]).toMatchObject({ level: 40, requestId: 'rid-9', msg: 'request failed' });
    const text = JSON.stringify(out);
    expect(text).not.toContain('top-secret-1');
    expect(text).not.toContain('query-secret');
    expect(text).toContain('[REDACTED]');
    await client.close();
  });

  it('answers isLevelEnabled as pino does, so the gateway can decide its per-request lines once', () => {
    const logger = createJsonLogger({ level: 'info', stream: { write: () => true } });
    expect(['debug', 'info', 'warn', 'error'].map((l) => logger.isLevelEnabled?.(l))).toEqual([
      false,
      true,
      true,
      true,
    ]);
    expect(
      createJsonLogger({ level: 'debug', stream: { write: () => true } }).isLevelEnabled?.('debug'),
    ).toBe(true);
  });

  it('keeps only the operational lines with calls: false, with the given fields on each', async () => {
    const { out, stream } = lines();
    const client = createClient({ baseUrl: `${sandbox.url}/api` });
    logClientEvents(client, createJsonLogger({ stream, level: 'debug' }), {
      calls: false,
      fields: { upstream: 'pets' },
    });
    await client.get('/pets');
    await expect(client.get('/pets/999')).rejects.toThrow();
    expect(out).toEqual([]);
    await client.close();
  });

  it('works with a real pino logger', async () => {
    const { out, stream } = lines();
    const logger = pino({ level: 'info' }, stream);
    const client = createClient({ baseUrl: `${sandbox.url}/api` });
    logClientEvents(client, logger, { logResponses: true });
    await client.get('/pets');
    expect(out[0]).toMatchObject({ level: 30, msg: 'request completed', status: 200 });
    await client.close();
  });
});
