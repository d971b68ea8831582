// The status page's live recorder on a fake clock: counts per class, the sliding window, the rate and the latency
// percentiles; and the page's number formatting, loaded from the script text the page serves.
import { describe, expect, it } from 'vitest';
import { LiveRecorder, Outcome, outcomeOfStatus } from '../../src/gateway/status-recorder.js';
import { STATUS_FORMAT_JS } from '../../src/gateway/status-script.js';

function recorder() {
  let now = 1_000_000;
  const live = new LiveRecorder({ now: () => now });
  return {
    live,
    advance: (ms: number) => {
      now += ms;
    },
    /** Records a request that took `ms`. */
    took: (kind: (typeof Outcome)[keyof typeof Outcome], ms: number) => live.record(kind, now - ms),
  };
}

describe('LiveRecorder', () => {
  it('counts every class exactly, with error shares and totals', () => {
    const { live, took } = recorder();
    for (let i = 0; i < 20; i++) took(Outcome.ok, 10);
    for (let i = 0; i < 53; i++) took(outcomeOfStatus(404), 10);
    for (let i = 0; i < 12; i++) took(outcomeOfStatus(500), 10);
    for (let i = 0; i < 5; i++) took(Outcome.network, 10);
    for (let i = 0; i < 8; i++) took(Outcome.refused, 0);
    took(Outcome.aborted, 0);
    took(outcomeOfStatus(302), 10);
    live.retry();
    live.retry();
    const s = live.summary();
    const counts = {
      requests: 100,
      ok: 21,
      clientError: 53,
      serverError: 12,
      network: 5,
      refused: 8,
      aborted: 1,
      retries: 2,
    };
    expect(s.window).toEqual(counts);
    expect(s.totals).toEqual(counts);
    expect(s.errorPercent).toEqual({ clientError: 53, serverError: 12, network: 5, refused: 8 });
  });

  it('forgets what left the 60 s window but keeps the totals', () => {
    const { live, took, advance } = recorder();
    for (let i = 0; i < 10; i++) took(Outcome.serverError, 5);
    advance(30_000);
    for (let i = 0; i < 4; i++) took(Outcome.ok, 5);
    expect(live.summary().window.requests).toBe(14);
    advance(31_000);
    const s = live.summary();
    expect(s.window).toMatchObject({ requests: 4, ok: 4, serverError: 0 });
    expect(s.totals).toMatchObject({ requests: 14, ok: 4, serverError: 10 });
    expect(s.errorPercent.serverError).toBe(0);
    advance(60_000);
    expect(live.summary().window.requests).toBe(0);
    expect(live.summary().latencyMs).toBeNull();
  });

  it('takes the rate over the last 10 s (over its age while younger)', () => {
    const { live, took, advance } = recorder();
    advance(2_000);
    for (let i = 0; i < 10; i++) took(Outcome.ok, 1);
    expect(live.summary().requestsPerSecond).toBe(5);
    // 100 requests a second for 20 s: the rate reads 100/s.
    for (let second = 0; second < 20; second++) {
      advance(1_000);
      for (let i = 0; i < 100; i++) took(Outcome.ok, 1);
    }
    expect(live.summary().requestsPerSecond).toBe(100);
    advance(10_000);
    expect(live.summary().requestsPerSecond).toBe(0);
  });

  it('reports p50, p95 and p99 within the bucket width, and never more than the maximum', () => {
    const { live, took } = recorder();
    // 1..1000 ms, once each: p50 = 500, p95 = 950, p99 = 990.
    for (let ms = 1; ms <= 1000; ms++) took(Outcome.ok, ms);
    // Refusals are not timed.
    for (let i = 0; i < 1000; i++) took(Outcome.refused, 0);
    const l = live.summary().latencyMs!;
    expect(l.max).toBe(1000);
    for (const [got, want] of [
      [l.p50, 500],
      [l.p95, 950],
      [l.p99, 990],
    ] as const) {
      expect(Math.abs(got - want) / want).toBeLessThan(0.05);
    }
    const { live: one, took: once } = recorder();
    once(Outcome.ok, 7);
    expect(one.summary().latencyMs).toEqual({ p50: 7, p95: 7, p99: 7, max: 7 });
  });

  it('allocates nothing per request (the arrays are made once)', () => {
    const { live, took } = recorder();
    took(Outcome.ok, 1);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200_000; i++) took(Outcome.ok, i % 300);
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(2_000_000);
    expect(live.summary().window.ok).toBe(200_001);
  });
});

describe('the page’s number formatting', () => {
  const fmt = new Function(`${STATUS_FORMAT_JS}; return fmt;`)() as Record<string, (n: number) => string>;

  it('shows rates with one decimal, latencies in ms, shares in percent, durations as "in 4m 12s"', () => {
    expect(fmt.rate!(12.345)).toBe('12.3/s');
    expect(fmt.rate!(0)).toBe('0.0/s');
    expect(fmt.ms!(3.07)).toBe('3.1 ms');
    expect(fmt.ms!(123.456)).toBe('123 ms');
    expect(fmt.ms!(12_345)).toBe('12.3 s');
    expect(fmt.pct!(0)).toBe('0 %');
    expect(fmt.pct!(0.04)).toBe('<0.1 %');
    expect(fmt.pct!(53.333333333333336)).toBe('53.3 %');
    expect(fmt.in!(252_000)).toBe('in 4m 12s');
    expect(fmt.in!(9_000)).toBe('in 9s');
    expect(fmt.duration!(3 * 3_600_000 + 5 * 60_000)).toBe('3h 5m');
    expect(fmt.count!(1234567)).toBe('1,234,567');
  });
});
