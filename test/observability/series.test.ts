import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LocalCounter, LocalHistogram } from '../../src/observability/series.js';

const LABELS = ['method', 'route', 'status_code'] as const;
const BUCKETS = [0.005, 0.01, 0.1, 1, 10];

/** The same observations through prom-client and through the local series give the same exposition text. */
describe('local metric series', () => {
  it('a histogram exports exactly what prom-client exports for the same observations', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('GET', 'POST'),
            fc.constantFrom('pets', 'users'),
            fc.constantFrom('200', '503'),
            fc.oneof(fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom(0.005, 0.1, 10)),
          ),
          { maxLength: 60 },
        ),
        async (observations) => {
          const theirs = new Registry();
          const ours = new Registry();
          const reference = new Histogram({
            name: 'd_seconds',
            help: 'h',
            labelNames: [...LABELS],
            buckets: BUCKETS,
            registers: [theirs],
          });
          const local = new LocalHistogram({
            name: 'd_seconds',
            help: 'h',
            labelNames: LABELS,
            buckets: BUCKETS,
            registers: [ours],
          });
          for (const [method, route, status, value] of observations) {
            reference.observe({ method, route, status_code: status }, value);
            local.series3(method, route, status).observe(value);
          }
          expect(await ours.metrics()).toBe(await theirs.metrics());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a counter exports exactly what prom-client exports, and reset() empties it', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const reference = new Counter({
      name: 'c_total',
      help: 'h',
      labelNames: ['outcome'],
      registers: [theirs],
    });
    const local = new LocalCounter({
      name: 'c_total',
      help: 'h',
      labelNames: ['outcome'],
      registers: [ours],
    });
    for (const outcome of ['hit', 'hit', 'fetch', 'hit', 'error']) {
      reference.inc({ outcome });
      local.series1(outcome).value++;
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    local.series1('hit').value++;
    expect(await ours.metrics()).toContain('c_total{outcome="hit"} 1');
  });

  it('keeps one series per label combination, found again without allocating a new one', () => {
    const local = new LocalCounter({ name: 'x_total', help: 'h', labelNames: ['a', 'b'], registers: [] });
    const first = local.series2('1', '2');
    expect(local.series2('1', '2')).toBe(first);
    expect(local.series2('1', '3')).not.toBe(first);
    expect(local.series2('2', '1')).not.toBe(first);
  });
});
