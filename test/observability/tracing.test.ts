import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Writable } from 'node:stream';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials } from '../../src/auth/oauth2.js';
import { tokenAuth } from '../../src/auth/policy.js';
import { TokenManager } from '../../src/auth/token-manager.js';
import { createClient } from '../../src/client/client.js';
import { runWithContext } from '../../src/core/ambient.js';
import { createJsonLogger, logClientEvents } from '../../src/observability/logging.js';
import { type OAuthServer, SANDBOX_DEMO_CLIENT, startOAuthServer } from '../../src/sandbox/oauth.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { parentId, registerSdk, spanTree, type TestSdk } from './otel-sdk.js';

let sdk: TestSdk;
let upstream: TestServer;
let idp: OAuthServer;
let failuresLeft = 0;

beforeAll(async () => {
  sdk = registerSdk();
  idp = await startOAuthServer();
  upstream = await startServer((req, res) => {
    if (req.url?.startsWith('/flaky') && failuresLeft > 0) {
      failuresLeft--;
      res.statusCode = 503;
      res.setHeader('retry-after', '0');
      res.end('busy');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
});
afterAll(async () => {
  await upstream.close();
  await idp.close();
  await sdk.shutdown();
});
afterEach(() => sdk.exporter.reset());

const byName = (spans: readonly ReadableSpan[], name: string) => spans.filter((s) => s.name === name);

describe('tracing: the span tree of a call', () => {
  it('records a call span, a token fetch span and one CLIENT span per attempt, with two retries', async () => {
    failuresLeft = 2;
    const seen = upstream.requests.length;
    const tokenClient = createClient({ name: 'oauth2', throwHttpErrors: false, tracing: true });
    const tokens = new TokenManager({
      provider: clientCredentials({ tokenUrl: idp.tokenUrl, ...SANDBOX_DEMO_CLIENT, client: tokenClient }),
    });
    const api = createClient({
      baseUrl: upstream.url,
      name: 'billing',
      retry: { baseDelay: 1, maxDelay: 5 },
      auth: tokenAuth(tokens),
      tracing: true,
    });
    const body = await api.get('/flaky/{id}', { params: { id: 7 } }).json();
    expect(body).toEqual({ ok: true });

    const spans = sdk.spans();
    expect(spanTree(spans)).toBe(
      [
        'reqforge GET /flaky/{id} [INTERNAL]',
        '  reqforge token fetch [INTERNAL]',
        '    reqforge POST [INTERNAL]',
        '      POST [CLIENT]',
        '  GET /flaky/{id} [CLIENT]',
        '  GET /flaky/{id} [CLIENT]',
        '  GET /flaky/{id} [CLIENT]',
      ].join('\n'),
    );
    const [call] = byName(spans, 'reqforge GET /flaky/{id}') as [ReadableSpan];
    expect(call.kind).toBe(SpanKind.INTERNAL);
    expect(call.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(upstream.url).port),
      'url.full': `${upstream.url}/flaky/7`,
      'url.template': '/flaky/{id}',
      'http.response.status_code': 200,
      'reqforge.attempts': 3,
      'reqforge.service': 'billing',
    });
    const retries = call.events.filter((e) => e.name === 'reqforge.retry');
    expect(retries.map((e) => e.attributes?.['reqforge.retry.attempt'])).toEqual([1, 2]);
    for (const r of retries) {
      expect(r.attributes).toMatchObject({
        'reqforge.retry.reason': 'status 503',
        'reqforge.retry.asked_wait_ms': 0,
        'reqforge.retry.asked_wait_honoured': true,
      });
      expect(r.attributes?.['reqforge.retry.delay_ms']).toBeTypeOf('number');
    }

    const attempts = byName(spans, 'GET /flaky/{id}').sort(
      (a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    expect(attempts.map((s) => s.kind)).toEqual([SpanKind.CLIENT, SpanKind.CLIENT, SpanKind.CLIENT]);
    expect(attempts.map((s) => s.attributes['http.request.resend_count'])).toEqual([undefined, 1, 2]);
    expect(attempts.map((s) => s.attributes['http.response.status_code'])).toEqual([503, 503, 200]);
    expect(attempts.map((s) => s.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    expect(attempts[0]?.attributes['error.type']).toBe('503');
    expect(attempts[0]?.attributes['http.response.header.retry-after']).toEqual(['0']);

    // Every attempt carried its own span's trace context; all spans share one trace.
    const received = upstream.requests.slice(seen);
    expect(received).toHaveLength(3);
    received.forEach((r, i) => {
      const span = attempts[i] as ReadableSpan;
      expect(r.headers.traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    });
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);

    // The token fetch: a child of the call, with the token events on it and never the token.
    const [fetch] = byName(spans, 'reqforge token fetch') as [ReadableSpan];
    expect(parentId(fetch)).toBe(call.spanContext().spanId);
    expect(fetch.attributes['reqforge.token.provider']).toBe(SANDBOX_DEMO_CLIENT.clientId);
    expect(fetch.events.map((e) => e.name)).toContain('reqforge.token.fetched');
    expect(idp.stats().tokensIssued[SANDBOX_DEMO_CLIENT.clientId]).toBe(1);
    const everything = JSON.stringify(spans.map((s) => [s.attributes, s.events]));
    expect(everything).not.toMatch(/demo-secret|Bearer|access_token/i);
    expect(call.events.map((e) => e.name)).toContain('reqforge.token.cache_hit');

    await api.close();
    await tokens.close();
    await tokenClient.close();
  });

  it('parents the call span on the active span and records failures with error.type', async () => {
    const api = createClient({ baseUrl: 'http://127.0.0.1:1', retry: false, tracing: true });
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('handler', async (parent) => {
      await expect(api.get('/x')).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_/) });
      parent.end();
    });
    const spans = sdk.spans();
    expect(spanTree(spans)).toBe(
      ['handler [INTERNAL]', '  reqforge GET [INTERNAL]', '    GET [CLIENT]'].join('\n'),
    );
    const [call] = byName(spans, 'reqforge GET') as [ReadableSpan];
    expect(call.status.code).toBe(SpanStatusCode.ERROR);
    expect(call.attributes['error.type']).toMatch(/^ERR_CONNECT/);
    await api.close();
  });

  it('records no second CLIENT span for an instrumentation of undici: it runs with tracing suppressed', async () => {
    // What @opentelemetry/instrumentation-undici does on this channel: start a span in the active context.
    const tracer = trace.getTracer('fake-undici-instrumentation');
    const recording: boolean[] = [];
    const onCreate = () => {
      const span = tracer.startSpan('undici', { kind: SpanKind.CLIENT }, context.active());
      recording.push(span.isRecording());
      span.end();
    };
    subscribe('undici:request:create', onCreate);
    try {
      const api = createClient({ baseUrl: upstream.url, tracing: true });
      await api.get('/ok');
      const unsuppressed = createClient({
        baseUrl: upstream.url,
        tracing: { suppressInstrumentation: false },
      });
      await unsuppressed.get('/ok');
      expect(recording).toEqual([false, true]);
      const clientSpans = sdk.spans().filter((s) => s.kind === SpanKind.CLIENT);
      expect(clientSpans.map((s) => s.name)).toEqual(['GET', 'undici', 'GET']);
      await api.close();
      await unsuppressed.close();
    } finally {
      unsubscribe('undici:request:create', onCreate);
    }
  });

  it('records nothing and sends no traceparent when tracing is off', async () => {
    const seen = upstream.requests.length;
    const api = createClient({ baseUrl: upstream.url });
    await api.get('/ok');
    expect(sdk.spans()).toHaveLength(0);
    expect(upstream.requests[seen]?.headers.traceparent).toBeUndefined();
    await api.close();
  });

  it('records breaker transitions, refusals and limiter waits as span events', async () => {
    failuresLeft = 100;
    const api = createClient({
      baseUrl: upstream.url,
      retry: false,
      circuitBreaker: { consecutiveFailures: 2, minimumCalls: 100 },
      rateLimit: { limit: 1, window: 300, strategy: 'queue' },
      tracing: true,
    });
    for (let i = 0; i < 3; i++) await api.get('/flaky').catch(() => undefined);
    failuresLeft = 0;
    const calls = sdk.spans().filter((s) => s.name === 'reqforge GET');
    expect(calls).toHaveLength(3);
    const names = calls.map((c) => c.events.map((e) => e.name));
    expect(names[1]).toContain('reqforge.circuit_breaker.transition');
    expect(names[1]).toContain('reqforge.rate_limiter.queued');
    const transition = calls[1]?.events.find((e) => e.name === 'reqforge.circuit_breaker.transition');
    expect(transition?.attributes).toMatchObject({
      'reqforge.circuit_breaker.from': 'closed',
      'reqforge.circuit_breaker.to': 'open',
    });
    expect(names[2]).toContain('reqforge.circuit_breaker.refused');
    expect(calls[2]?.attributes['error.type']).toBe('ERR_CIRCUIT_OPEN');
    await api.close();
  });

  it('puts the trace id and every ambient context field on log lines, and samples refusals', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const api = createClient({
      baseUrl: upstream.url,
      retry: false,
      rateLimit: { limit: 1, window: 60_000, strategy: 'raise' },
      tracing: true,
    });
    logClientEvents(api, createJsonLogger({ stream, level: 'info' }));
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('handler', async (parent) => {
      await runWithContext({ requestId: 'req-1', userId: 'u-7' }, async () => {
        await api.get('/ok');
        for (let i = 0; i < 5; i++) await api.get('/ok').catch(() => undefined);
      });
      parent.end();
    });
    const refused = lines.filter((l) => String(l.msg).startsWith('rate limit reached'));
    expect(refused).toHaveLength(1);
    const failed = lines.filter((l) => l.msg === 'request failed');
    expect(failed).toHaveLength(5);
    const traceId = sdk
      .spans()
      .find((s) => s.name === 'handler')
      ?.spanContext().traceId;
    for (const line of [...refused, ...failed]) {
      expect(line).toMatchObject({ requestId: 'req-1', userId: 'u-7', traceId });
    }
    await api.close();
  });
});
