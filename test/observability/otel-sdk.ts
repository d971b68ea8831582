/**
 * The real OpenTelemetry SDK for tests: a tracer provider with an in-memory exporter, the AsyncLocalStorage
 * context manager and the W3C trace-context propagator, registered globally as an application would.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface TestSdk {
  readonly exporter: InMemorySpanExporter;
  readonly provider: BasicTracerProvider;
  /** Finished spans. */
  spans(): ReadableSpan[];
  shutdown(): Promise<void>;
}

/** Registers the SDK globally; `shutdown()` unregisters it. */
export function registerSdk(): TestSdk {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const manager = new AsyncLocalStorageContextManager().enable();
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    exporter,
    provider,
    spans: () => exporter.getFinishedSpans(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** A span's parent span id (SDK 2.x: `parentSpanContext`). */
export function parentId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** Prints spans as an indented tree of `name [kind]`, children in start order. */
export function spanTree(spans: readonly ReadableSpan[]): string {
  const kinds = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
  const byParent = new Map<string | undefined, ReadableSpan[]>();
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  for (const s of spans) {
    const p = parentId(s);
    const key = p !== undefined && ids.has(p) ? p : undefined;
    byParent.set(key, [...(byParent.get(key) ?? []), s]);
  }
  const order = (list: ReadableSpan[]) =>
    [...list].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const s of order(byParent.get(parent) ?? [])) {
      lines.push(`${'  '.repeat(depth)}${s.name} [${kinds[s.kind]}]`);
      walk(s.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}
