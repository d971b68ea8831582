import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type Gateway, startGateway } from '../../src/gateway/server.js';
import { MINIMAL_WIRING } from '../../src/gateway/wiring.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { parentId, registerSdk, spanTree, type TestSdk } from './otel-sdk.js';

let sdk: TestSdk;
let upstream: TestServer;
let gateway: Gateway;
let fail = 0;

beforeAll(async () => {
  sdk = registerSdk();
  upstream = await startServer((_req, res) => {
    if (fail > 0) {
      fail--;
      res.statusCode = 502;
      res.end('bad');
      return;
    }
    res.end('ok');
  });
  const config = parseGatewayConfig({
    metrics: { defaultMetrics: false },
    upstreams: { billing: { baseUrl: upstream.url, retry: { baseDelay: 1, maxDelay: 2 } } },
  });
  gateway = await startGateway({ config, port: 0, wiring: MINIMAL_WIRING });
});
afterAll(async () => {
  await gateway.close({ grace: 100 });
  await upstream.close();
  await sdk.shutdown();
});

describe('tracing through the gateway', () => {
  it("opens a SERVER span continuing the caller's trace; upstream call spans are its children", async () => {
    fail = 1;
    const tracer = trace.getTracer('caller');
    const caller = tracer.startSpan('caller', { kind: SpanKind.CLIENT });
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), caller), headers);
    const seen = upstream.requests.length;
    const res = await fetch(`${gateway.url}/billing/invoices/42?api_key=hidden`, { headers });
    expect(res.status).toBe(200);
    await res.text();
    caller.end();
    await new Promise((r) => setTimeout(r, 20)); // the server span ends on the response's 'close'

    const spans = sdk.spans();
    expect(spanTree(spans)).toBe(
      [
        'caller [CLIENT]',
        '  GET /billing/* [SERVER]',
        '    reqforge GET [INTERNAL]',
        '      GET [CLIENT]',
        '      GET [CLIENT]',
      ].join('\n'),
    );
    const traceId = caller.spanContext().traceId;
    expect(spans.every((s) => s.spanContext().traceId === traceId)).toBe(true);
    const server = spans.find((s) => s.kind === SpanKind.SERVER) as ReadableSpan;
    expect(parentId(server)).toBe(caller.spanContext().spanId);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/billing/*',
      'url.path': '/billing/invoices/42',
      'http.response.status_code': 200,
    });
    expect(JSON.stringify(server.attributes)).not.toContain('hidden');
    expect(server.attributes['reqforge.request_id']).toBeTypeOf('string');
    // The upstream saw the attempt spans' context, not the caller's.
    const attempts = spans
      .filter((s) => s.kind === SpanKind.CLIENT && s.name === 'GET')
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    const received = upstream.requests.slice(seen);
    expect(received.map((r) => r.headers.traceparent)).toEqual(
      attempts.map((s) => `00-${traceId}-${s.spanContext().spanId}-01`),
    );
  });
});
